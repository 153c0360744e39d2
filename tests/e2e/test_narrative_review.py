"""Narrative review in the embedded demo, from the POST to the referrer's journey: a
report whose narrative names a concern its codes do not is decided at its own level,
sent to the hub's review queue, and its referrer is told it is under review."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.e2e.harness import ROOT
from tests.services.conftest import Signpost, bearer
from tests.services.routing.conftest import eventually, running, stopped_clock


def school_report(narrative: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads((ROOT / "examples" / "school-report.json").read_text())
    body["narrative"] = narrative
    return body


async def journey(sp: Signpost, key: dict[str, str], referral_id: str) -> dict[str, Any] | None:
    view: dict[str, Any] = (await sp.client.get(f"/v1/reports/{referral_id}", headers=key)).json()
    return view if view["status"] == "routed" else None


async def test_a_narrative_naming_an_uncoded_concern_reaches_the_hubs_review_queue(
    tmp_path: Path,
) -> None:
    async with running(tmp_path / "var", stopped_clock()) as sp:
        school = bearer(await sp.key("school", "100001", "reports:write", "reports:read"))
        hub = bearer(await sp.key("hub", "demoshire-hub", "referrals:read", "triage:override"))
        plain = await sp.client.post(
            "/v1/reports",
            headers=school,
            json=school_report("Leo is often late and tired; he cares for his mother."),
        )
        telling = await sp.client.post(
            "/v1/reports",
            headers=school,
            json={
                **school_report(
                    "Leo is often late and tired. A friend told the DSL that Leo has been "
                    "carrying a knife on the way home."
                ),
                "source": {"kind": "school", "organisation": "100001", "reference": "CP-2"},
            },
        )
        assert plain.status_code == telling.status_code == 202
        plain_id, review_id = plain.json()["referral_id"], telling.json()["referral_id"]
        plain_view = await eventually(lambda: journey(sp, school, plain_id))
        view = await eventually(lambda: journey(sp, school, review_id))

        # Same level as the same report without the words; to the hub to review.
        assert view["level"] == plain_view["level"]
        assert view["destination"]["kind"] == "hub"
        triaged = next(s for s in view["journey"] if s["status"] == "triaged")
        assert "Under review: your description mentions serious violence" in triaged["summary"]
        assert view["outcome"].startswith("Passed to the early intervention hub to review first")
        assert "Under review" not in json.dumps(plain_view)

        decision = (await sp.client.get(f"/v1/referrals/{review_id}/triage", headers=hub)).json()
        assert decision["needs_review"] is True
        assert decision["suspected_concerns"] == [
            {"code": "serious_violence", "terms": ["carrying a knife"]}
        ]
        queue = (await sp.client.get("/v1/referrals?reason_code=needs_review", headers=hub)).json()
        assert [r["referral_id"] for r in queue] == [review_id]
