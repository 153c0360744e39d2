"""A partner agency's webhook receiver: verify each delivery's Standard Webhooks
signature, and answer every referral routed to the agency — accept it, or, when the
service is full (`--full`), decline it with `no_capacity` so it goes back to the hub at
once.

Against `make run` (embedded Signpost on http://127.0.0.1:8000; it prints the demo
keys). Signpost refuses webhooks to this machine unless told it is a local stack:

    WEBHOOK_ALLOW_PRIVATE=true make run
    export SIGNPOST_URL=http://127.0.0.1:8000
    export SIGNPOST_KEY=<the "demo agency key" make run printed>   # Supporting Families
    .venv/bin/python examples/integrators/partner_agency.py --subscribe
    export SIGNPOST_WEBHOOK_SECRET=<the whsec_ secret it printed>
    .venv/bin/python examples/integrators/partner_agency.py [--full]

It listens on http://127.0.0.1:8100/webhooks (`--port` to change). Post
examples/school-report.json with the demo school key: triage and routing send it to
Supporting Families (`demoshire-families`, `--organisation` to change), whose receiver
accepts it. A delivery whose signature does not verify is answered 401 and ignored.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request, Response
from signpost_client import (
    ROUTED,
    AsyncSignpostClient,
    Conflict,
    NotFound,
    SignpostClient,
    SignpostError,
    WebhookRejected,
    verify_webhook,
)

DEMO_AGENCY = "demoshire-families"
PORT = 8100
FULL_NOTE = "Our caseload is full this month; please offer the family another service."

Say = Callable[[str], None]


def addressed_to(event: dict[str, Any], organisation: str) -> str | None:
    """The referral id of a `referral.routed` event sent to `organisation`, else None."""
    if event.get("type") != ROUTED:
        return None
    data = event.get("data") or {}
    destination = data.get("destination") or {}
    if destination.get("organisation") != organisation:
        return None
    referral_id = data.get("referral_id")
    return referral_id if isinstance(referral_id, str) else None


def receiver(
    signpost: AsyncSignpostClient,
    *,
    secret: str,
    organisation: str = DEMO_AGENCY,
    full: bool = False,
    say: Say = print,
) -> FastAPI:
    """The receiver app: `POST /webhooks` verifies the delivery, then accepts (or, when
    `full`, declines with `no_capacity`) a referral routed to `organisation`. 204 when
    handled, 401 when the signature does not verify, 503 when Signpost could not be
    told (Signpost then delivers again, with the same webhook-id)."""
    app = FastAPI(title="Partner agency webhook receiver")

    @app.post("/webhooks", status_code=204)
    async def webhook(request: Request) -> Response:
        body = await request.body()
        try:
            event = verify_webhook(secret, body, request.headers)
        except WebhookRejected as exc:
            say(f"rejected a delivery: {exc}")
            return Response(status_code=401)
        referral_id = addressed_to(event, organisation)
        if referral_id is None:
            return Response(status_code=204)
        try:
            if full:
                # The answer is the referral as the decline left it: with the hub.
                record = await signpost.decline(referral_id, "no_capacity", FULL_NOTE)
                answered = f"declined (no_capacity), now with {record.destination.name}"
            else:
                answered = (await signpost.accept(referral_id)).status
        except (Conflict, NotFound) as exc:
            # A repeated delivery, or the referral has moved on (a declined one is the
            # hub's now): already answered.
            say(f"{referral_id}: nothing to do ({exc.detail or exc.title})")
            return Response(status_code=204)
        except SignpostError as exc:  # Unavailable (429, 503) among them
            say(f"{referral_id}: could not answer it yet ({exc})")
            return Response(status_code=503)
        say(f"{referral_id}: {answered}")
        return Response(status_code=204)

    return app


def subscribe(signpost: SignpostClient, url: str, *, say: Say = print) -> str:
    """Subscribe the agency to `referral.routed` at `url`; its signing secret."""
    subscription = signpost.subscribe(url, [ROUTED])
    say(f"subscribed {subscription.id} at {subscription.url}")
    say(f"SIGNPOST_WEBHOOK_SECRET={subscription.secret}")
    assert subscription.secret is not None  # subscribe always answers the secret
    return subscription.secret


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--full", action="store_true", help="decline with no_capacity")
    parser.add_argument("--port", type=int, default=PORT)
    parser.add_argument("--organisation", default=DEMO_AGENCY)
    parser.add_argument(
        "--subscribe", action="store_true", help="subscribe this receiver, print its secret"
    )
    args = parser.parse_args(argv[1:])
    url, key = os.environ["SIGNPOST_URL"], os.environ["SIGNPOST_KEY"]
    if args.subscribe:
        with SignpostClient(url, key) as signpost:
            try:
                subscribe(signpost, f"http://127.0.0.1:{args.port}/webhooks")
            except SignpostError as exc:
                print(exc, file=sys.stderr)
                return 1
        return 0

    import uvicorn

    secret = os.environ["SIGNPOST_WEBHOOK_SECRET"]
    agency = AsyncSignpostClient(url, key)
    app = receiver(agency, secret=secret, organisation=args.organisation, full=args.full)
    uvicorn.run(app, host="127.0.0.1", port=args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
