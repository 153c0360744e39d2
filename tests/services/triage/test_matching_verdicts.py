"""Matching with practitioners' verdicts, and the doubts a match is shown with: pure
functions, case by case."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from services.triage.matching import (
    Identity,
    Outcome,
    Verdict,
    Verdicts,
    compare,
    judge,
    resolve,
)

WILLIAM = Identity("William", "Smith", date(2017, 3, 9), "EX1 1AA")
BILLY = replace(WILLIAM, given_name="Smyth", family_name="Billy")
LOUIS = Identity("Louis", "Stone", date(2017, 3, 9), "EX4 6PX")
LOUISE = replace(LOUIS, given_name="Louise")


def test_a_match_names_its_doubts_in_words() -> None:
    assert compare(LOUIS, LOUISE).doubts == ("given name only alike",)
    assert compare(WILLIAM, replace(WILLIAM, family_name="Smyth")).doubts == (
        "family name only alike",
    )
    assert compare(WILLIAM, replace(WILLIAM, date_of_birth=date(2017, 9, 3))).doubts == (
        "day and month transposed",
    )
    assert compare(WILLIAM, replace(WILLIAM, postcode=None)).doubts == (
        "no postcode on one report",
    )
    assert compare(WILLIAM, WILLIAM).doubts == ()


def test_a_split_pair_is_different_whatever_the_names_say() -> None:
    assert compare(WILLIAM, BILLY).outcome is Outcome.SAME
    split = Verdicts.given([(BILLY, WILLIAM, Verdict.SPLIT)])
    match = judge(WILLIAM, BILLY, split)
    assert match.outcome is Outcome.DIFFERENT and "split by a practitioner" in match.reason


def test_a_confirmed_pair_is_the_same_child_whatever_the_names_say() -> None:
    assert compare(LOUIS, LOUISE).outcome is Outcome.POSSIBLE
    confirmed = Verdicts.given([(LOUISE, LOUIS, Verdict.CONFIRM)])
    assert judge(LOUIS, LOUISE, confirmed).outcome is Outcome.SAME


def test_the_latest_verdict_on_a_pair_is_the_one_that_holds() -> None:
    changed = Verdicts.given([(LOUIS, LOUISE, Verdict.SPLIT), (LOUISE, LOUIS, Verdict.CONFIRM)])
    assert changed.on(LOUIS, LOUISE) is Verdict.CONFIRM
    assert changed.on(LOUIS, WILLIAM) is None


def test_a_report_named_as_a_split_identity_is_never_merged_again() -> None:
    candidates = [("sub_william", WILLIAM), ("sub_billy", BILLY)]
    # Without the verdict both are SAME, and matching takes the two for one child.
    assert resolve(BILLY, candidates).same == "sub_billy"
    assert resolve(WILLIAM, candidates).same is not None
    split = Verdicts.given([(BILLY, WILLIAM, Verdict.SPLIT)])

    billy = resolve(BILLY, candidates, split)
    william = resolve(WILLIAM, candidates, split)

    assert (billy.same, billy.possible) == ("sub_billy", {})
    assert (william.same, william.possible) == ("sub_william", {})


def test_a_report_named_as_a_confirmed_identity_is_counted_as_that_child() -> None:
    candidates = [("sub_louis", LOUIS)]
    assert resolve(LOUISE, candidates).same is None  # only POSSIBLE: never counted
    confirmed = Verdicts.given([(LOUISE, LOUIS, Verdict.CONFIRM)])

    resolution = resolve(LOUISE, candidates, confirmed)

    assert (resolution.same, resolution.possible) == ("sub_louis", {})
    # Louise's own record elsewhere: the practitioner's confirm outranks the likeness.
    both = resolve(LOUISE, [*candidates, ("sub_louise", LOUISE)], confirmed)
    assert both.same == "sub_louis"
