"""The partnership dashboard: for the hub manager and the partnership analyst, charts
drawn on the server (no script, no CDN) with the same figures in a table beneath each,
every measure in a table, and the CSV and XLSX exports with small numbers suppressed;
nobody else sees it."""

from __future__ import annotations

import io
import re

from openpyxl import load_workbook

from tests.services.conftest import Signpost
from tests.services.console.conftest import person, signed_in_client
from tests.services.console.test_pages import statutory_report

PERIOD = {"from": "2026-11-30", "to": "2026-12-01"}


def table_of(page: str, caption: str) -> dict[str, str]:
    """The rows of the table with this caption, as {row heading: figure}."""
    found = re.search(rf"<caption>{re.escape(caption)}</caption>(.*?)</table>", page, re.S)
    assert found, caption
    return dict(re.findall(r'<th scope="row">([^<]*)</th><td>([^<]*)</td>', found.group(1)))


async def test_the_analyst_sees_charts_with_their_tables_counted_from_the_services(
    sp: Signpost,
) -> None:
    await person(sp, "analyst@demo.example", "demoshire-partnership", "partnership_analyst")
    for n in range(6):  # by hand: six statutory police reports, all to the MASH
        await statutory_report(sp, reference=f"ST-{n}")
    analyst = await signed_in_client(sp, "analyst@demo.example")
    try:
        home = await analyst.get("/console/")
        page = await analyst.get("/console/dashboard", params=PERIOD)
    finally:
        await analyst.aclose()

    assert home.headers["location"] == "/console/dashboard"
    assert page.status_code == 200, page.text
    text = page.text
    assert text.count('<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img"') == 6
    main = text.split("<main", 1)[1]
    assert "<script" not in main and "https://" not in main  # drawn here, nothing fetched
    assert table_of(text, "Contacts by source: the figures in the chart") == {
        "Police": "6",
        "School": "0",
        "Other": "0",
    }
    assert table_of(text, "Where contacts went: the figures in the chart")["MASH"] == "6 (100%)"
    assert table_of(text, "Threshold decisions by RAG: the figures in the chart")["Red"] == "6"
    trend = table_of(text, "Contacts month by month: the figures in the chart")
    assert list(trend)[-1] == "Nov 26" and trend["Nov 26"] == "6" and len(trend) == 12
    assert "Re-referrals within 12 months" in text  # every measure, in a table


async def test_the_exports_suppress_small_numbers_and_carry_their_definitions(
    sp: Signpost,
) -> None:
    await person(sp, "manager@demo.example", "demoshire-hub", "hub_manager")
    for n in range(3):
        await statutory_report(sp, reference=f"ST-{n}")
    manager = await signed_in_client(sp, "manager@demo.example")
    try:
        csv = await manager.get("/console/dashboard/measures.csv", params=PERIOD)
        xlsx = await manager.get("/console/dashboard/measures.xlsx", params=PERIOD)
    finally:
        await manager.aclose()

    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    assert (
        'filename="signpost-measures-2026-11-30-to-2026-12-01.csv"'
        in (csv.headers["content-disposition"])
    )
    assert "intake,contacts_by_source,Contacts by source,source: police,count,<5,referrals" in (
        csv.text
    )
    book = load_workbook(io.BytesIO(xlsx.content))
    assert book.sheetnames == ["Measures", "Definitions", "About"]
    figures = {
        (r[1], r[3], r[4]): r[5] for r in book["Measures"].iter_rows(min_row=2, values_only=True)
    }
    assert figures[("contacts_by_source", "all", "count")] == "<5"  # three
    assert figures[("contacts_by_source", "source: school", "count")] == 0


async def test_nobody_else_sees_the_dashboard_and_a_bad_period_is_refused(sp: Signpost) -> None:
    await person(sp, "hub@demo.example", "demoshire-hub", "hub_practitioner")
    await person(sp, "analyst@demo.example", "demoshire-partnership", "partnership_analyst")
    hub = await signed_in_client(sp, "hub@demo.example")
    analyst = await signed_in_client(sp, "analyst@demo.example")
    try:
        refused = await hub.get("/console/dashboard")
        download = await hub.get("/console/dashboard/measures.csv")
        backwards = await analyst.get(
            "/console/dashboard", params={"from": "2026-12-01", "to": "2026-11-01"}
        )
    finally:
        await hub.aclose()
        await analyst.aclose()

    assert refused.status_code == 403 and "No measures for your role" in refused.text
    assert download.status_code == 403
    assert backwards.status_code == 400 and "to: must be after from" in backwards.text


async def test_the_filters_narrow_the_charts_and_the_exports_and_name_what_they_cannot(
    sp: Signpost,
) -> None:
    await person(sp, "analyst@demo.example", "demoshire-partnership", "partnership_analyst")
    for n in range(2):  # by hand: two statutory police reports
        await statutory_report(sp, reference=f"ST-{n}")
    analyst = await signed_in_client(sp, "analyst@demo.example")
    try:
        schools = await analyst.get("/console/dashboard", params={**PERIOD, "source": "school"})
        area = await analyst.get("/console/dashboard", params={**PERIOD, "area": "E06099002"})
        xlsx = await analyst.get(
            "/console/dashboard/measures.xlsx", params={**PERIOD, "source": "police"}
        )
        nowhere = await analyst.get("/console/dashboard", params={**PERIOD, "area": "Demoshire"})
    finally:
        await analyst.aclose()

    assert schools.status_code == 200, schools.text
    assert table_of(schools.text, "Contacts by source: the figures in the chart")["Police"] == "0"
    assert '<option value="school" selected>School</option>' in schools.text
    # Both of the demo directory's local authorities are offered.
    assert '<option value="E06099001">' in schools.text
    assert '<option value="E06099002" selected>' in area.text
    # Intake does not know the child's local authority: its counts are every area's,
    # and the page says so.
    assert "Not narrowed by the area or source chosen" in area.text
    assert "Contacts by source" in area.text.split("Not narrowed by", 1)[1].split("</p>", 1)[0]
    # Agency load is a count now of every open referral: no source narrows it.
    school_note = schools.text.split("Not narrowed by", 1)[1].split("</p>", 1)[0]
    assert "Agency load against capacity" in school_note
    assert "Contacts by source" not in school_note
    assert (
        'filename="signpost-measures-police-2026-11-30-to-2026-12-01.xlsx"'
        in (xlsx.headers["content-disposition"])
    )
    about = {
        r[0]: r[1]
        for r in load_workbook(io.BytesIO(xlsx.content))["About"].iter_rows(values_only=True)
    }
    assert (about["Area (local authority)"], about["Source"]) == ("all", "police")
    assert nowhere.status_code == 400 and "area: must be a GSS local authority code" in nowhere.text
