"""The referrer's list of their organisation's reports: a page at a time, the newest
first, with a link to the older ones; a link the list never gave is refused plainly."""

from __future__ import annotations

import importlib
import re

import pytest

from tests.services.conftest import Signpost
from tests.services.console.conftest import person, signed_in_client
from tests.services.console.test_pages import statutory_report

# The module (the package exports its router under the same name).
reports_page_module = importlib.import_module("services.console.api.reports")


def listed(page: str) -> list[str]:
    return re.findall(r'href="/console/reports/(ref_[0-9a-f]+)"', page)


async def test_the_reports_page_pages_back_through_older_reports(
    sp: Signpost, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reports_page_module, "REPORTS_PAGE", 2)
    await person(sp, "pc@demo.example", "demo-police", "referrer", name="PC Lee Morgan")
    raised = [await statutory_report(sp, reference=f"ST-{n}") for n in range(3)]
    sp.clock.advance(seconds=1)
    newest = await statutory_report(sp, reference="ST-new")
    police = await signed_in_client(sp, "pc@demo.example")
    try:
        first = await police.get("/console/reports")
        older = re.search(
            r'<a href="(/console/reports\?cursor=[^"]+)">Older reports</a>', first.text
        )
        assert first.status_code == 200 and older is not None
        second = await police.get(older.group(1).replace("&amp;", "&"))
        assert second.status_code == 200
        assert "Older reports" not in second.text and "Newest reports" in second.text
    finally:
        await police.aclose()
    assert listed(first.text)[0] == newest
    assert sorted(listed(first.text) + listed(second.text)) == sorted([*raised, newest])


async def test_a_link_the_list_never_gave_is_refused_not_shown_as_no_reports(
    sp: Signpost,
) -> None:
    await person(sp, "pc@demo.example", "demo-police", "referrer", name="PC Lee Morgan")
    police = await signed_in_client(sp, "pc@demo.example")
    try:
        answer = await police.get("/console/reports", params={"cursor": "made-up"})
    finally:
        await police.aclose()
    assert answer.status_code == 400
    assert "That page of reports does not exist" in answer.text
    assert "raised no reports" not in answer.text
