"""Notify's commands: `signpost calendar check FILE` (Operation Encompass school days)."""

from __future__ import annotations

import sys

from services.notify.school_days import SchoolCalendar, calendar_warnings, parse_calendar
from shared.cli import DataFileCheck
from shared.clock import Clock


def _describe(calendar: SchoolCalendar) -> str:
    # Operators hear a year ahead that the term dates will run out (stderr, still OK).
    for warning in calendar_warnings(calendar, Clock().now()):
        print(f"warning: {warning}", file=sys.stderr)
    return (
        f"OK {calendar.id} version {calendar.version}: {len(calendar.terms)} terms from "
        f"{calendar.covers.first} to {calendar.covers.last}, school day starts "
        f"{calendar.day_starts_at:%H:%M}, {calendar.division} bank holidays; term dates "
        f"cover every school until {calendar.data_ends}: extend it before then"
    )


register = DataFileCheck(
    name="calendar",
    help="school calendars (Operation Encompass)",
    check="validate an area's school calendar file: OK, or each reason",
    parse=parse_calendar,
    describe=_describe,
).register
