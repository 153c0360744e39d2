"""Report-access policies: what each kind of partner may read of a report, checked
against the v1 report's fields."""

from __future__ import annotations

import json

import pytest

from services.intake.access import ReportAccessError, load_access_policy, parse_access_policy
from tests.services.intake.conftest import example


@pytest.mark.parametrize("path", ["child.shoe_size", "narative", "police.officer.badge"])
def test_a_policy_naming_a_field_the_report_does_not_have_is_refused(path: str) -> None:
    text = json.dumps({"id": "x", "version": "1", "area": "x", "kinds": {"agency": [path]}})
    with pytest.raises(ReportAccessError, match="not a field of the v1 report"):
        parse_access_policy(text, source="access.json")


def test_the_shipped_policy_gives_referrers_and_administrators_nothing() -> None:
    policy = load_access_policy(None)
    report = example("police-domestic-abuse-report.json")
    for kind in ("police", "school", "admin"):
        assert policy.shown(kind, report) == {}
    agency = policy.shown("agency", report)
    assert "reference" not in agency["source"]  # the referrer's own case number
    assert "upn" not in agency.get("school", {})
