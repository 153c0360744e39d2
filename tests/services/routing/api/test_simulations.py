"""`POST /v1/simulations/reroute`: routing's half of a policy simulation through the
API. Triage's re-decided referrals go in as NDJSON; each referral of the period comes
back routed again under the draft beside where it really went, by the directory it was
routed by or a draft directory. For the hub and administrators with `policy:simulate`;
every line it cannot read is a 422 naming the line and the field; nothing is written."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import inspect, select, table, text

from services.routing.api import simulations
from shared.simulation import NDJSON, Outcome, Redecided, compared_from_dict, redecided_to_dict
from tests.services.conftest import Signpost, bearer
from tests.services.routing.conftest import START, routing, triage

PATH = "/v1/simulations/reroute"
SEEDED = "demo-2026-12-1"  # the demo directory's version, as seeded
SAFE_HOMES = "agency:da-support"  # where level 2 domestic abuse goes (Safe Homes)
PERIOD_START = START - timedelta(days=1)


def redecided(
    referral_id: str,
    *,
    level: int = 2,
    draft_level: int | None = None,
    in_period: bool = True,
    decided_at: datetime = START,
) -> Redecided:
    """A referral as triage decided it (`level`) and as the draft does (`draft_level`,
    the same unless given): a child of 8 in EX1 with a domestic abuse concern."""
    priority = {1: "blue", 2: "green", 3: "amber"}
    stored = Outcome(level=level, priority=priority.get(level, "red"), destination="")
    again = level if draft_level is None else draft_level
    return Redecided(
        referral_id=referral_id,
        received_at=decided_at - timedelta(minutes=5),
        decided_at=decided_at,
        stored=stored,
        draft=replace(stored, level=again, priority=priority.get(again, "red"), score=again),
        concern_codes=("domestic_abuse",),
        age_years=8,
        postcode_district="EX1",
        suspected_codes=(),
        in_period=in_period,
    )


def ndjson(
    rows: list[Redecided],
    *,
    directory: dict[str, Any] | None = None,
    start: datetime = PERIOD_START,
    top_level: int = 4,
) -> bytes:
    about = {"start": start.isoformat(), "top_level": top_level, "directory": directory}
    lines = [{"about": about}, *(redecided_to_dict(one) for one in rows)]
    return b"".join(json.dumps(line).encode() + b"\n" for line in lines)


async def simulator(sp: Signpost, kind: str = "hub") -> dict[str, str]:
    organisation = {"hub": "demoshire-hub", "admin": "demoshire-partnership"}[kind]
    return bearer(await sp.key(kind, organisation, "policy:simulate"))


async def simulate(
    sp: Signpost, content: bytes, headers: dict[str, str] | None = None
) -> httpx.Response:
    return await sp.client.post(
        PATH,
        content=content,
        headers={"Content-Type": NDJSON, **(headers or await simulator(sp))},
    )


def answered(response: httpx.Response) -> tuple[dict[str, Any], dict[str, Any]]:
    """The answer's `about`, and each referral's line by its id."""
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith(NDJSON)
    head, *rest = [json.loads(line) for line in response.text.splitlines()]
    by_id = {line["referral_id"]: line for line in rest}
    assert len(by_id) == len(rest)
    for line in rest:
        compared_from_dict(line)  # each line reads back as the console reads it
    return head["about"], by_id


def problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    return body


async def test_a_referral_routed_live_comes_back_where_it_went_and_where_the_draft_sends_it(
    sp: Signpost,
) -> None:
    referral_id = await triage(sp)  # level 2, domestic abuse: Safe Homes
    earlier = redecided("ref_lookback", in_period=False, decided_at=START - timedelta(days=3))
    never_routed = redecided("ref_never_routed", decided_at=START + timedelta(minutes=1))

    same = await simulate(sp, ndjson([earlier, redecided(referral_id), never_routed]))
    about, lines = answered(same)

    assert about == {
        "directory_version": SEEDED,
        "capacity": about["capacity"],
    }
    assert about["capacity"][SAFE_HOMES] == 80
    assert "agency:hub" not in about["capacity"]  # only agencies have a capacity
    assert set(lines) == {referral_id, "ref_never_routed"}  # not the look-back one
    line = lines[referral_id]
    assert (line["stored"]["destination"], line["draft"]["destination"]) == (SAFE_HOMES, SAFE_HOMES)
    assert (line["stored"]["level"], line["draft"]["level"]) == (2, 2)
    never = lines["ref_never_routed"]
    assert never["stored"]["destination"] == never["draft"]["destination"] == "not routed"

    raised = await simulate(sp, ndjson([redecided(referral_id, draft_level=4)]))
    _, lines = answered(raised)

    line = lines[referral_id]
    assert line["stored"]["destination"] == SAFE_HOMES
    assert line["draft"]["destination"] == "mash"
    assert (line["stored"]["level"], line["draft"]["level"]) == (2, 4)
    assert line["draft"]["priority"] == "red"
    assert line["received_at"] == redecided(referral_id).received_at.isoformat()


async def test_a_higher_top_level_keeps_a_level_4_referral_from_the_mash(sp: Signpost) -> None:
    referral_id = await triage(sp)
    body = ndjson([redecided(referral_id, draft_level=4)], top_level=5)

    _, lines = answered(await simulate(sp, body))

    assert lines[referral_id]["draft"]["destination"] == "hub"


async def test_a_draft_directory_is_routed_by_and_named_draft(sp: Signpost) -> None:
    referral_id = await triage(sp)
    admin = await simulator(sp, "admin")
    current = (await sp.client.get("/v1/directory", headers=admin)).json()
    draft = {
        "version": "ignored: a draft is a draft",
        "area": current["area"],
        "agencies": [a for a in current["agencies"] if a["id"] != "da-support"],
        "authority_districts": current["authority_districts"],
        "taxonomy_concerns": current["taxonomy_concerns"],
    }

    about, lines = answered(await simulate(sp, ndjson([redecided(referral_id)], directory=draft)))

    assert about["directory_version"] == "draft"
    assert SAFE_HOMES not in about["capacity"]
    assert about["capacity"]["agency:family-support"] == 120
    line = lines[referral_id]
    assert line["stored"]["destination"] == SAFE_HOMES  # where it really went
    assert line["draft"]["destination"] == "hub"  # no agency meets domestic abuse


async def test_every_line_it_cannot_read_is_a_422_naming_the_line_and_the_field(
    sp: Signpost,
) -> None:
    good = redecided_to_dict(redecided("ref_good"))
    bad_level = redecided_to_dict(redecided("ref_bad"))
    bad_level["stored"]["level"] = "high"
    no_period = redecided_to_dict(redecided("ref_no_period"))
    del no_period["in_period"]
    naive = redecided_to_dict(redecided("ref_naive"))
    naive["decided_at"] = "2026-11-30T09:00:00"
    body = ndjson([]) + b"\n".join(
        [
            json.dumps(good).encode(),
            b"{not json",
            json.dumps(bad_level).encode(),
            b"",  # an empty line is no referral
            json.dumps(no_period).encode(),
            b"[1, 2]",
            json.dumps(naive).encode(),
        ]
    )

    refused = problem(await simulate(sp, body), 422)

    found = {(e["line"], e["field"]) for e in refused["errors"]}
    assert found == {
        (3, ""),
        (4, "stored.level"),
        (6, "in_period"),
        (7, ""),
        (8, "decided_at"),
    }
    not_json = next(e for e in refused["errors"] if e["line"] == 3)
    assert not_json["message"].startswith("not JSON")
    assert "line 3" in refused["detail"] and "line 4 stored.level" in refused["detail"]
    assert next(e for e in refused["errors"] if e["line"] == 4)["pointer"] == "/stored/level"


async def test_a_bad_first_line_or_draft_directory_is_a_422_naming_line_1(sp: Signpost) -> None:
    row = json.dumps(redecided_to_dict(redecided("ref_1"))).encode() + b"\n"

    def about(**given: Any) -> bytes:
        fields = {"start": PERIOD_START.isoformat(), "top_level": 4, "directory": None, **given}
        return json.dumps({"about": fields}).encode() + b"\n" + row

    def fields(response: httpx.Response) -> set[tuple[int, str]]:
        return {(e["line"], e["field"]) for e in problem(response, 422)["errors"]}

    assert fields(await simulate(sp, about(start="2026-11-29T00:00:00"))) == {(1, "about.start")}
    assert fields(await simulate(sp, about(top_level=9))) == {(1, "about.top_level")}
    assert fields(await simulate(sp, row)) >= {(1, "about")}  # no `about` line at all
    assert fields(await simulate(sp, b"")) == {(1, "about")}

    admin = await simulator(sp, "admin")
    current = (await sp.client.get("/v1/directory", headers=admin)).json()
    agencies = current["agencies"]
    no_mash = {"area": current["area"], "agencies": [a for a in agencies if a["kind"] != "mash"]}
    where = next(i for i, a in enumerate(agencies) if a["kind"] == "agency")
    unknown_need = {"area": current["area"], "agencies": list(agencies)}
    unknown_need["agencies"][where] = {**agencies[where], "concern_codes": ["not_a_concern"]}

    assert fields(await simulate(sp, about(directory=no_mash))) == {(1, "about.directory")}
    assert fields(await simulate(sp, about(directory=unknown_need))) == {
        (1, f"about.directory.agencies.{where}.concern_codes")
    }


async def test_only_an_overseer_with_policy_simulate_may_simulate(sp: Signpost) -> None:
    referral_id = await triage(sp)
    body = ndjson([redecided(referral_id)])
    hub_without_scope = bearer(await sp.key("hub", "demoshire-hub", "referrals:read"))
    agency_with_scope = bearer(
        await sp.key("agency", "safe-homes", "referrals:read", "policy:simulate")
    )

    problem(await simulate(sp, body, hub_without_scope), 403)
    refused = problem(await simulate(sp, body, agency_with_scope), 403)
    assert refused["type"].endswith("/hub-only")
    assert (
        await sp.client.post(PATH, content=body, headers={"Content-Type": NDJSON})
    ).status_code == 401
    answered(await simulate(sp, body, await simulator(sp, "hub")))
    answered(await simulate(sp, body, await simulator(sp, "admin")))


async def test_a_body_that_is_not_ndjson_is_a_415(sp: Signpost) -> None:
    answer = await sp.client.post(
        PATH,
        content=ndjson([]),
        headers={"Content-Type": "application/json", **await simulator(sp)},
    )
    problem(answer, 415)


async def test_a_directory_version_no_longer_stored_is_a_409_naming_it(sp: Signpost) -> None:
    referral_id = await triage(sp)
    async with routing(sp).db.engine.begin() as conn:
        await conn.execute(text("UPDATE routing_step SET directory_version = 'demo-gone'"))

    refused = problem(await simulate(sp, ndjson([redecided(referral_id)])), 409)
    assert "demo-gone" in refused["detail"]
    # A draft directory needs no stored version.
    admin = await simulator(sp, "admin")
    current = (await sp.client.get("/v1/directory", headers=admin)).json()
    draft = {"area": current["area"], "agencies": current["agencies"]}
    _, lines = answered(await simulate(sp, ndjson([redecided(referral_id)], directory=draft)))
    assert lines[referral_id]["draft"]["destination"] == SAFE_HOMES


async def test_a_simulation_writes_nothing(sp: Signpost) -> None:
    referral_id = await triage(sp)

    async def everything() -> dict[str, list[Any]]:
        """Every row of every routing table (the outbox by id: the relay marks rows sent)."""
        async with routing(sp).db.engine.connect() as conn:
            names = await conn.run_sync(lambda sync: inspect(sync).get_table_names())
            found = {}
            for name in sorted(names):
                columns = ["id"] if name == "outbox" else ["*"]
                query = select(*(text(c) for c in columns)).select_from(table(name))
                found[name] = sorted(map(repr, (await conn.execute(query)).all()))
            return found

    before = await everything()
    assert before["routing_decision"] and before["routing_step"] and before["outbox"]

    draft = redecided(referral_id, draft_level=4)
    answered(await simulate(sp, ndjson([draft, redecided("ref_never_routed")])))

    assert await everything() == before


async def test_a_body_sent_in_pieces_reads_as_the_whole(sp: Signpost) -> None:
    referral_id = await triage(sp)
    body = ndjson([redecided("ref_lookback", in_period=False), redecided(referral_id)])

    async def pieces() -> AsyncIterator[bytes]:
        for at in range(0, len(body), 7):  # lines cut anywhere, line feeds included
            yield body[at : at + 7]

    answer = await sp.client.post(
        PATH, content=pieces(), headers={"Content-Type": NDJSON, **await simulator(sp)}
    )

    assert answered(answer) == answered(await simulate(sp, body))


async def test_a_body_over_the_limit_is_a_413(
    sp: Signpost, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = ndjson([redecided(f"ref_{n}") for n in range(5)])
    monkeypatch.setattr(simulations, "MAX_BODY_BYTES", len(body) - 1)

    async def unsized() -> AsyncIterator[bytes]:
        yield body  # no Content-Length: refused as it arrives

    declared = problem(await simulate(sp, body), 413)
    streamed = await sp.client.post(
        PATH, content=unsized(), headers={"Content-Type": NDJSON, **await simulator(sp)}
    )

    assert declared["type"].endswith("/body-too-large")
    assert problem(streamed, 413)["max_bytes"] == len(body) - 1
