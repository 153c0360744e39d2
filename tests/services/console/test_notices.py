"""Operation Encompass notices in the console: a police report about two children
reaches each child's school; the DSL of one school sees their pupil's notice, opens it
(notify records the read as theirs) and acknowledges it in their name; a police officer
follows whether each school was told, without the child or a button; nobody else sees
the page."""

from __future__ import annotations

import importlib

import httpx
import pytest
from sqlmodel import select

from services.notify.models import EncompassNoticeRecord
from shared.privacy import ReadAudit
from tests.services.conftest import Signpost, bearer
from tests.services.console.conftest import csrf_of, person, signed_in_client
from tests.services.intake.conftest import example
from tests.services.routing.conftest import eventually

# The module (the package exports its router under the same name).
notices_page_module = importlib.import_module("services.console.api.notices")


async def notices_of(sp: Signpost, referral_id: str) -> dict[str, EncompassNoticeRecord]:
    """Notify's notices of a report, by the school they are addressed to."""
    async with sp.app.state.runtimes["notify"].ctx.db.session() as session:
        rows = (
            await session.exec(
                select(EncompassNoticeRecord).where(
                    EncompassNoticeRecord.referral_id == referral_id
                )
            )
        ).all()
    return {r.recipient_organisation: r for r in rows}


async def encompass_report(
    sp: Signpost, reference: str | None = None
) -> dict[str, EncompassNoticeRecord]:
    """The example police domestic abuse report (under the force's `reference` when
    given: another report): Maya at Demo Primary (100001) and Noah at school 100002, each
    a notice once notify has recorded them."""
    key = await sp.key("police", "demo-police", "reports:write")
    body = example("police-domestic-abuse-report.json")
    if reference is not None:
        body["source"]["reference"] = reference
    answer = await sp.client.post("/v1/reports", json=body, headers=bearer(key))
    assert answer.status_code == 202, answer.text
    referral_id: str = answer.json()["referral_id"]

    async def both() -> dict[str, EncompassNoticeRecord] | None:
        found = await notices_of(sp, referral_id)
        return found if len(found) == 2 else None

    return await eventually(both)


async def reads_of(sp: Signpost, notice_id: str) -> list[ReadAudit]:
    async with sp.app.state.runtimes["notify"].ctx.db.session() as session:
        query = select(ReadAudit).where(ReadAudit.resource_id == notice_id)
        return list((await session.exec(query)).all())


async def test_a_dsl_opens_and_acknowledges_their_schools_notice_in_their_own_name(
    sp: Signpost,
) -> None:
    dsl_id = await person(sp, "dsl@school.example", "100002", "school_dsl", name="Alex Reed")
    notices = await encompass_report(sp)
    noah, maya = notices["100002"], notices["100001"]
    dsl = await signed_in_client(sp, "dsl@school.example")
    try:
        page = await dsl.get("/console/notices")
        assert page.status_code == 200
        assert noah.id in page.text and maya.id not in page.text  # only their school's
        # Reported on Monday after the bell for Friday night's incident: already late.
        assert "Not acknowledged by the start of the school day" in page.text
        assert f'action="/console/notices/{noah.id}/acknowledge"' in page.text
        assert "Noah" not in page.text  # the list says nothing about the child

        opened = await dsl.get(f"/console/notices/{noah.id}")
        assert opened.status_code == 200
        assert "Noah" in opened.text and "narrative" not in opened.text
        [read] = await reads_of(sp, noah.id)
        assert (read.client_kind, read.client_id) == ("school", dsl_id)

        forged = await dsl.post(f"/console/notices/{noah.id}/acknowledge", data={"csrf": "x"})
        assert forged.status_code == 403
        assert (await notices_of(sp, noah.referral_id))["100002"].notified_at is None

        done = await dsl.post(
            f"/console/notices/{noah.id}/acknowledge", data={"csrf": csrf_of(page.text)}
        )
        assert done.status_code == 303
        after = await dsl.get("/console/notices")
        assert "Received after the start of the school day" in after.text
        assert "Acknowledged" in after.text
        assert f'action="/console/notices/{noah.id}/acknowledge"' not in after.text
    finally:
        await dsl.aclose()
    recorded = (await notices_of(sp, noah.referral_id))["100002"]
    assert recorded.notified_via == "acknowledged"
    assert recorded.acknowledged_by == f"100002/{dsl_id}"


async def test_a_police_officer_follows_each_schools_notice_without_the_child_or_a_button(
    sp: Signpost,
) -> None:
    await person(sp, "pc@demo.example", "demo-police", "referrer", name="PC Lee Morgan")
    notices = await encompass_report(sp)
    officer = await signed_in_client(sp, "pc@demo.example")
    try:
        page = await officer.get("/console/notices")
        assert page.status_code == 200
        for notice in notices.values():
            assert notice.id in page.text
            assert f'href="/console/notices/{notice.id}"' not in page.text
        assert "/acknowledge" not in page.text
        assert "Noah" not in page.text and "Maya" not in page.text
        noah = notices["100002"]
        assert (await officer.get(f"/console/notices/{noah.id}")).status_code == 403
        refused = await officer.post(
            f"/console/notices/{noah.id}/acknowledge", data={"csrf": csrf_of(page.text)}
        )
        assert refused.status_code == 403
    finally:
        await officer.aclose()
    assert (await notices_of(sp, noah.referral_id))["100002"].notified_at is None
    assert await reads_of(sp, noah.id) == []


async def test_an_agency_worker_is_shown_no_notices(sp: Signpost) -> None:
    await person(sp, "worker@safe-homes.example", "safe-homes", "agency_worker")
    notices = await encompass_report(sp)
    worker: httpx.AsyncClient = await signed_in_client(sp, "worker@safe-homes.example")
    try:
        listed = await worker.get("/console/notices")
        assert listed.status_code == 403
        assert "No Encompass notices for your role" in listed.text
        opened = await worker.get(f"/console/notices/{notices['100002'].id}")
        assert opened.status_code == 403 and "Noah" not in opened.text
    finally:
        await worker.aclose()


async def test_every_waiting_notice_is_listed_however_many_pages_notify_gives(
    sp: Signpost, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Notify lists a page at a time, newest first: a DSL must still see every notice
    # waiting for them, not only the newest few.
    monkeypatch.setattr(notices_page_module, "WAITING_PAGE", 1)
    monkeypatch.setattr(notices_page_module, "RECENT", 1)
    await person(sp, "dsl@school.example", "100002", "school_dsl", name="Alex Reed")
    waiting = [(await encompass_report(sp, f"DA-{n}"))["100002"].id for n in range(3)]
    dsl = await signed_in_client(sp, "dsl@school.example")
    try:
        page = await dsl.get("/console/notices")
    finally:
        await dsl.aclose()
    assert page.status_code == 200
    for notice_id in waiting:
        assert f'action="/console/notices/{notice_id}/acknowledge"' in page.text, notice_id
