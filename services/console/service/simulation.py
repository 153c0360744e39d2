"""A draft threshold policy simulated from the console, through the services' APIs as
the signed-in person (no service reads another's database, and neither does the
console): triage decides every referral of the period again with the draft and
streams the decisions (`POST /v1/policy-versions/{id}/redecide`); routing routes each
again and streams both destinations back (`POST /v1/simulations/reroute`); the console
sums them with `shared.simulation.Difference`, exactly as `signpost simulate` does, and
records the summary with the version at triage, where the approver will see it.

Nothing is written but that record: both services answer read-only."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from services.console.gateway import Services
from shared.problems import Problem
from shared.simulation import NDJSON, Difference, compared_from_dict

# How long one service may take over a whole period's referrals: a year of a county's
# referrals is seconds; the bound only stops a page waiting for ever.
BATCH_TIMEOUT_SECONDS = 600.0


class Refused(Exception):
    """A service refused a step (its answer, for the page to explain)."""

    def __init__(self, response: httpx.Response) -> None:
        super().__init__(f"{response.request.url.path}: {response.status_code}")
        self.response = response


@dataclass(frozen=True)
class Recorded:
    """A simulation as triage recorded it with its version."""

    id: str
    summary: dict[str, Any]


@contextmanager
def _readable(service: str) -> Iterator[None]:
    """An answer the console cannot read (cut short, or not the lines agreed) is the
    service's fault, not the person's: a 503 with Retry-After, never a 500."""
    try:
        yield
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        raise Problem(
            503,
            "A service could not answer",
            f"The {service} service's answer could not be read ({type(exc).__name__}); "
            "try again shortly.",
            type="dependency-unavailable",
            headers={"Retry-After": "5"},
        ) from None


def _lines(response: httpx.Response) -> list[dict[str, Any]]:
    return [json.loads(line) for line in response.content.splitlines() if line.strip()]


async def simulate(
    services: Services,
    *,
    version_id: str,
    first: str,
    end: str,
    directory: dict[str, Any] | None,
) -> Recorded:
    """Simulate the draft `version_id` over the referrals received from `first` to `end`
    (UK dates, `end` exclusive), routed by the draft `directory` if one is given (else
    by the directory each referral was really routed by), and record the result."""
    redecided = await services.post(
        "triage",
        f"/v1/policy-versions/{version_id}/redecide",
        {"from": first, "to": end},
        timeout=BATCH_TIMEOUT_SECONDS,
    )
    if redecided.status_code != 200:
        raise Refused(redecided)
    head, _, rows = redecided.content.partition(b"\n")
    with _readable("triage"):
        about = json.loads(head)["about"]
    # Routed by the draft's own top level (as `signpost simulate` routes); the safety
    # review is judged against the live policy's.
    asked = {
        "start": about["start"],
        "top_level": about["draft_top_level"],
        "directory": directory,
    }
    rerouted = await services.post_content(
        "routing",
        "/v1/simulations/reroute",
        json.dumps({"about": asked}).encode() + b"\n" + rows,
        media_type=NDJSON,
        timeout=BATCH_TIMEOUT_SECONDS,
    )
    if rerouted.status_code != 200:
        raise Refused(rerouted)
    with _readable("routing"):
        routed, *compared = _lines(rerouted)
        routed_by = routed["about"]
        difference = Difference(
            top_level=int(about["top_level"]),
            capacity=routed_by.get("capacity") or {},
            weight_changes={code: tuple(pair) for code, pair in about["weight_changes"].items()},
        )
        for line in compared:
            difference.add(compared_from_dict(line))
    summary = {
        "about": {
            "draft_policy": about["draft_policy"],
            "live_policy": about["live_policy"],
            "from": first,
            "to": end,
            "directory_version": routed_by.get("directory_version"),
        },
        **difference.summary(),
    }
    recorded = await services.post(
        "triage",
        f"/v1/policy-versions/{version_id}/simulations",
        {
            "from": first,
            "to": end,
            "directory_version": routed_by.get("directory_version"),
            "summary": summary,
        },
        timeout=BATCH_TIMEOUT_SECONDS,
    )
    if recorded.status_code != 201:
        raise Refused(recorded)
    return Recorded(id=str(recorded.json()["id"]), summary=summary)
