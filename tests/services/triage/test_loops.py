"""Triage has no scheduled work: it decides each referral as its event arrives."""

from __future__ import annotations

from services.triage import definition
from services.triage.loops import LOOPS


def test_triage_runs_no_loops() -> None:
    assert LOOPS == ()
    assert definition.loops is LOOPS
