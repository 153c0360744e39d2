"""A police records system (RMS) raising a concern: post the report with an
Idempotency-Key, then follow its journey until Signpost has routed it, printing each
step as it appears.

Against `make run` (embedded Signpost on http://127.0.0.1:8000; it prints the demo keys):

    export SIGNPOST_URL=http://127.0.0.1:8000
    export SIGNPOST_KEY=<the "demo police key" make run printed>
    .venv/bin/python examples/integrators/police_rms.py [REPORT.json]

REPORT.json defaults to examples/statutory-report.json (child criminal exploitation:
routed to the MASH). The Idempotency-Key is derived from the report's reference and
body, so running it again replays the first answer instead of raising a second report.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from signpost_client import Journey, SignpostClient, SignpostError

STATUTORY_REPORT = Path(__file__).resolve().parents[1] / "statutory-report.json"
# Where a report stands before routing has decided; every other status is routed or after.
BEFORE_ROUTING = frozenset({"received", "triaged"})

Say = Callable[[str], None]


def idempotency_key(report: Mapping[str, Any]) -> str:
    """The same key for the same report (a retry replays), another for a changed one
    (a resubmission under the same reference)."""
    body = json.dumps(report, sort_keys=True, separators=(",", ":")).encode()
    return f"{report['source']['reference']}-{hashlib.sha256(body).hexdigest()[:16]}"


def follow(
    client: SignpostClient,
    referral_id: str,
    *,
    interval: float = 1.0,
    timeout: float = 120.0,
    say: Say = print,
    sleep: Callable[[float], None] = time.sleep,
) -> Journey:
    """Poll the report's journey, saying each new step, until it is routed (or further
    on); TimeoutError if it is not within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    seen = 0
    while True:
        journey = client.report(referral_id)
        for step in journey.journey[seen:]:
            say(f"  {step.at:%Y-%m-%d %H:%M} {step.status}: {step.summary}")
        seen = len(journey.journey)
        if journey.status not in BEFORE_ROUTING:
            return journey
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{referral_id} is still {journey.status} after {timeout}s")
        sleep(interval)


def post_and_follow(
    client: SignpostClient,
    report: Mapping[str, Any],
    *,
    interval: float = 1.0,
    timeout: float = 120.0,
    say: Say = print,
) -> Journey:
    """Post the report (with its Idempotency-Key) and follow it until routed."""
    receipt = client.submit_report(report, idempotency_key=idempotency_key(report))
    if receipt.duplicate_of:
        say(f"{receipt.referral_id}: the same as the report already sent under this reference")
    elif receipt.replayed:
        say(f"{receipt.referral_id}: already posted (the first answer, replayed)")
    else:
        say(f"{receipt.referral_id}: {receipt.status}")
    journey = follow(client, receipt.referral_id, interval=interval, timeout=timeout, say=say)
    where = journey.destination.name if journey.destination else "nowhere yet"
    say(f"{journey.referral_id}: {journey.status} to {where}. {journey.outcome}")
    return journey


def main(argv: list[str]) -> int:
    path = Path(argv[1]) if len(argv) > 1 else STATUTORY_REPORT
    report = json.loads(path.read_text(encoding="utf-8"))
    with SignpostClient(os.environ["SIGNPOST_URL"], os.environ["SIGNPOST_KEY"]) as signpost:
        try:
            post_and_follow(signpost, report)
        except SignpostError as exc:
            print(exc, file=sys.stderr)
            for error in exc.errors:
                print(f"  {error.field}: {error.message}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
