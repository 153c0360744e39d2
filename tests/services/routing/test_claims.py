"""Who has a referral: a named person of the addressed organisation claims it, gives it
to a colleague or releases it to the queue, each a step in their name; a system's key,
another organisation and a closed referral are refused; the referrals list says who
has each and filters by it."""

from __future__ import annotations

from typing import Any

from sqlmodel import col, select

from services.routing.models import RoutingStep
from tests.services.conftest import Signpost, bearer
from tests.services.routing.conftest import START, agency_key, routing, triage

# Safe Homes, where a level 2 domestic abuse concern goes.
SAFE_HOMES = "safe-homes"


def worker(
    sp: Signpost, person_id: str = "per_ana", name: str = "Ana Cole", organisation: str = SAFE_HOMES
) -> dict[str, str]:
    """A person of an agency, as the console calls routing for them."""
    return bearer(sp.person(organisation, "agency_worker", person_id=person_id, name=name))


async def post(
    sp: Signpost, referral_id: str, action: str, who: dict[str, str], **body: Any
) -> Any:
    return await sp.client.post(
        f"/v1/referrals/{referral_id}/{action}", headers=who, json=body or None
    )


async def steps_by(sp: Signpost, referral_id: str) -> list[tuple[str, str]]:
    """(by, summary) of each step after the first (the routing itself)."""
    async with routing(sp).db.session() as session:
        rows = (
            await session.exec(
                select(RoutingStep)
                .where(RoutingStep.referral_id == referral_id)
                .order_by(col(RoutingStep.id))
            )
        ).all()
    return [(s.by, s.summary) for s in rows[1:]]


async def test_a_person_claims_gives_to_a_colleague_and_releases_each_in_their_name(
    sp: Signpost,
) -> None:
    referral_id = await triage(sp)
    ana = worker(sp)

    claimed = await post(sp, referral_id, "claim", ana)
    assert claimed.status_code == 200, claimed.text
    assert claimed.json()["assigned_to"] == {
        "person_id": "per_ana",
        "name": "Ana Cole",
        "at": START.isoformat().replace("+00:00", "Z"),
    }
    assert claimed.json()["status"] == "requested"  # who has it is not the lifecycle
    # Claiming it again changes nothing, and records nothing.
    again = await post(sp, referral_id, "claim", ana)
    assert again.status_code == 200 and len(again.json()["history"]) == 2

    given = await post(sp, referral_id, "assign", ana, person_id="per_ben", person_name="Ben Ray")
    assert given.status_code == 200, given.text
    assert given.json()["assigned_to"]["name"] == "Ben Ray"
    released = await post(sp, referral_id, "release", worker(sp, "per_ben", "Ben Ray"))
    assert released.status_code == 200 and released.json()["assigned_to"] is None
    assert (await post(sp, referral_id, "release", ana)).status_code == 200

    assert await steps_by(sp, referral_id) == [
        (
            "safe-homes/per_ana",
            "Claimed by Ana Cole (Safe Homes Domestic Abuse Support) from the queue.",
        ),
        (
            "safe-homes/per_ana",
            "Assigned to Ben Ray by Ana Cole (Safe Homes Domestic Abuse Support).",
        ),
        (
            "safe-homes/per_ben",
            "Released to the queue of Safe Homes Domestic Abuse Support by Ben Ray "
            "(it was with Ben Ray).",
        ),
    ]


async def test_a_person_takes_a_referral_a_colleague_has(sp: Signpost) -> None:
    referral_id = await triage(sp)
    await post(sp, referral_id, "claim", worker(sp))
    taken = await post(sp, referral_id, "claim", worker(sp, "per_ben", "Ben Ray"))
    assert taken.json()["assigned_to"]["person_id"] == "per_ben"
    assert (await steps_by(sp, referral_id))[-1][1].endswith("from Ana Cole.")


async def test_a_systems_key_cannot_claim_assign_or_release(sp: Signpost) -> None:
    referral_id = await triage(sp)
    key = await agency_key(sp)
    for action, body in (
        ("claim", {}),
        ("release", {}),
        ("assign", {"person_id": "per_ben", "person_name": "Ben Ray"}),
    ):
        refused = await post(sp, referral_id, action, key, **body)
        assert refused.status_code == 403, action
        assert refused.json()["type"].endswith("person-only")
        assert "Only a named person" in refused.json()["detail"]
    assert await steps_by(sp, referral_id) == []


async def test_another_organisation_cannot_claim_and_the_hub_only_its_own(sp: Signpost) -> None:
    referral_id = await triage(sp)
    housing = worker(sp, "per_hal", "Hal Moss", organisation="demoshire-housing")
    assert (await post(sp, referral_id, "claim", housing)).status_code == 404
    hub = bearer(sp.person("demoshire-hub", "hub_practitioner", person_id="per_hub", name="Hu B"))
    refused = await post(sp, referral_id, "claim", hub)
    assert refused.status_code == 403
    assert "only a person of that organisation" in refused.json()["detail"]
    assert await steps_by(sp, referral_id) == []


async def test_a_closed_referral_is_not_claimed_assigned_or_released(sp: Signpost) -> None:
    referral_id = await triage(sp)
    ana = worker(sp)
    await post(sp, referral_id, "accept", ana)
    closed = await post(sp, referral_id, "close", ana, outcome="completed", outcome_code="got_help")
    assert closed.status_code == 200, closed.text
    for action, body in (
        ("claim", {}),
        ("release", {}),
        ("assign", {"person_id": "per_ben", "person_name": "Ben Ray"}),
    ):
        refused = await post(sp, referral_id, action, ana, **body)
        assert refused.status_code == 409, action
        assert refused.json()["status_now"] == "completed"


async def test_a_referral_sent_elsewhere_is_nobodys_at_its_new_destination(sp: Signpost) -> None:
    referral_id = await triage(sp)
    ana = worker(sp)
    await post(sp, referral_id, "claim", ana)
    declined = await post(sp, referral_id, "decline", ana, reason_code="no_capacity")
    assert declined.json()["destination"]["organisation"] == "demoshire-hub"
    assert declined.json()["assigned_to"] is None


async def test_an_assignment_names_a_person_and_nothing_else(sp: Signpost) -> None:
    referral_id = await triage(sp)
    ana = worker(sp)
    extra = await post(
        sp, referral_id, "assign", ana, person_id="per_ben", person_name="Ben", by="someone"
    )
    assert extra.status_code == 422
    bad_id = await post(sp, referral_id, "assign", ana, person_id="ben ray", person_name="Ben")
    assert bad_id.status_code == 422
    assert [e["field"] for e in bad_id.json()["errors"]] == ["person_id"]
    assert await steps_by(sp, referral_id) == []


async def test_referrals_are_listed_with_who_has_them_and_filtered_by_it(sp: Signpost) -> None:
    mine, theirs, nobodys = await triage(sp), await triage(sp), await triage(sp)
    ana, ben = worker(sp), worker(sp, "per_ben", "Ben Ray")
    await post(sp, mine, "claim", ana)
    await post(sp, theirs, "claim", ben)
    await post(sp, theirs, "accept", ben)

    async def listed(**params: Any) -> dict[str, Any]:
        answer = await sp.client.get("/v1/referrals", headers=ana, params=params)
        assert answer.status_code == 200, answer.text
        return {r["referral_id"]: r["assigned_to"] for r in answer.json()}

    everyone = await listed()
    assert set(everyone) == {mine, theirs, nobodys}
    assert everyone[mine] is not None and everyone[mine]["name"] == "Ana Cole"
    assert everyone[nobodys] is None
    assert set(await listed(assigned_to="per_ana")) == {mine}
    assert set(await listed(assigned_to="none")) == {nobodys}
    assert set(await listed(status="accepted")) == {theirs}
    assert set(await listed(status=["requested", "in-progress"])) == {mine, nobodys}
    record = await sp.client.get(f"/v1/referrals/{theirs}/routing", headers=ana)
    assert record.json()["assigned_to"]["person_id"] == "per_ben"


async def test_an_unknown_status_filter_is_a_422_naming_it(sp: Signpost) -> None:
    answer = await sp.client.get("/v1/referrals", headers=worker(sp), params={"status": "waiting"})
    assert answer.status_code == 422
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert [e["field"] for e in answer.json()["errors"]] == ["status.0"]
