"""The placeholder threshold rules: statutory indicators, cumulative concern, levels."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.triage.rules import STATUTORY, age_on, decide
from shared.report import concern_codes

CODES = sorted(concern_codes())


@pytest.mark.parametrize(
    ("codes", "immediate", "recent", "level", "priority"),
    [
        ([], False, 0, 1, "blue"),
        (["bullying"], False, 0, 2, "green"),
        (["bullying", "bullying"], False, 0, 2, "green"),
        (["bullying", "young_carer", "low_income"], False, 0, 3, "amber"),
        (["bullying"], False, 2, 3, "amber"),  # third report in the window
        (["bullying"], False, 1, 2, "green"),
        (["bullying"], True, 0, 4, "red"),
        (["fgm"], False, 0, 4, "red"),
        (["child_sexual_exploitation", "bullying"], False, 0, 4, "red"),
    ],
)
def test_decide_gives_the_level_and_priority_of_the_table(
    codes: list[str], immediate: bool, recent: int, level: int, priority: str
) -> None:
    decision = decide(concern_codes=codes, immediate_risk=immediate, recent_concerns=recent)
    assert (decision.level, decision.priority) == (level, priority)
    assert decision.reasons or level == 1


def test_every_statutory_indicator_is_in_the_published_vocabulary() -> None:
    assert STATUTORY <= concern_codes()


@given(
    st.lists(st.sampled_from(CODES), max_size=6),
    st.sampled_from(CODES),
    st.booleans(),
    st.integers(0, 10),
)
def test_adding_a_concern_never_lowers_the_level(
    codes: list[str], extra: str, immediate: bool, recent: int
) -> None:
    before = decide(concern_codes=codes, immediate_risk=immediate, recent_concerns=recent)
    after = decide(concern_codes=[*codes, extra], immediate_risk=immediate, recent_concerns=recent)
    assert after.level >= before.level


@given(st.lists(st.sampled_from(CODES), max_size=6), st.sampled_from(sorted(STATUTORY)))
def test_any_statutory_indicator_gives_the_top_level(codes: list[str], statutory: str) -> None:
    decision = decide(concern_codes=[*codes, statutory], immediate_risk=False, recent_concerns=0)
    assert decision.level == 4 and decision.priority == "red"
    assert f"statutory_indicator: {statutory}" in decision.reasons


def test_age_on_counts_whole_years_including_the_birthday() -> None:
    assert age_on(date(2015, 6, 30), date(2026, 6, 29)) == 10
    assert age_on(date(2015, 6, 30), date(2026, 6, 30)) == 11
    assert age_on(date(2016, 2, 29), date(2026, 2, 28)) == 9
