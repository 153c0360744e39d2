"""The threshold decision under the two example policies: every rule, table-driven,
and the properties that make it safe (monotone, statutory means top, reproducible)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.triage.policy import ThresholdPolicy
from services.triage.scoring import PriorReport, ReportFacts, decide
from shared.report import concern_codes
from tests.services.triage.helpers import CWM, DEMOSHIRE, EXAMPLES, NOW, facts, prior

CODES = sorted(concern_codes())

# (case, facts, history, level, priority): each row exercises one rule of Demoshire.
DEMOSHIRE_TABLE = [
    ("nothing reported meets a threshold", facts(), [], 1, "blue"),
    ("one low weight gives early help", facts("bullying"), [], 2, "green"),
    ("the same code twice counts once", facts("bullying", "bullying"), [], 2, "green"),
    ("score 5 stays early help", facts("domestic_abuse", "bullying"), [], 2, "green"),
    ("score 6 meets level 3", facts("domestic_abuse", "absence_truancy"), [], 3, "amber"),
    ("under 10 adds 1", facts("domestic_abuse", "bullying", age=9), [], 3, "amber"),
    ("at 10 no age weight", facts("domestic_abuse", "bullying", age=10), [], 2, "green"),
    ("under 5 adds 2 more", facts("domestic_abuse", age=4), [], 3, "amber"),
    ("age alone weighs nothing", facts(age=1), [], 1, "blue"),
    ("statutory: fgm", facts("fgm"), [], 4, "red"),
    ("statutory: gang involvement", facts("gang_involvement", age=15), [], 4, "red"),
    ("immediate risk is statutory", facts(immediate=True), [], 4, "red"),
    # Education and early-help matters by themselves (DOMAIN.md, corrected 2026.11): level
    # 3 alone, statutory only with an indicator of harm. Statutory until 2026.11-1.
    ("permanent exclusion alone is level 3", facts("permanent_exclusion"), [], 3, "amber"),
    ("chronic non-attendance alone is level 3", facts("chronic_non_attendance"), [], 3, "amber"),
    (
        "permanent exclusion with an indicator of harm is statutory",
        facts("permanent_exclusion", "physical_neglect"),
        [],
        4,
        "red",
    ),
    (
        "Devon PPN: third concern within 90 days",
        facts("bullying"),
        [prior(10, "bullying"), prior(80, "low_income")],
        3,
        "amber",
    ),
    (
        "Devon PPN: a concern 91 days ago is outside the window",
        facts("bullying"),
        [prior(10, "bullying"), prior(91, "low_income")],
        2,
        "green",
    ),
    (
        "known to the hub within 180 days",
        facts("bullying"),
        [prior(150, "domestic_abuse", level=3)],
        3,
        "amber",
    ),
    (
        "known to the hub 181 days ago no longer counts",
        facts("bullying"),
        [prior(181, "domestic_abuse", level=3)],
        2,
        "green",
    ),
    (
        "an earlier override counts as the level that stands",
        facts("bullying"),
        [prior(20, "bullying", level=4)],
        3,
        "amber",
    ),
    (
        "household: a sibling's domestic abuse counts for this child",
        facts("bullying", "missing_once"),
        [prior(30, "domestic_abuse", sibling=True)],
        3,
        "amber",
    ),
    (
        "household: a sibling's own need (bullying) does not",
        facts("domestic_abuse", "bullying"),
        [prior(30, "self_harm", sibling=True)],
        2,
        "green",
    ),
    (
        "household: outside 90 days a sibling's factor no longer counts",
        facts("bullying", "missing_once"),
        [prior(91, "domestic_abuse", sibling=True)],
        2,
        "green",
    ),
    (
        "household: a sibling's reports do not count towards this child's repeats",
        facts("bullying"),
        [prior(5, "bullying", sibling=True), prior(6, "bullying", sibling=True)],
        2,
        "green",
    ),
    (
        "household member flag: perpetrator +3 with missing once +2",
        facts("missing_once", flags=("domestic_abuse_perpetrator",)),
        [],
        2,
        "green",
    ),
    (
        "household member flags add up",
        facts("missing_once", flags=("domestic_abuse_perpetrator", "mental_health")),
        [],
        3,
        "amber",
    ),
    (
        "a sibling's household member flag counts once",
        facts("bullying", flags=("offending",)),
        [prior(3, "low_income", sibling=True, flags=("offending", "substance_misuse"))],
        3,
        "amber",
    ),
    (
        "a high needs score never reaches the statutory level",
        facts(*[c for c in CODES if c not in set(DEMOSHIRE.statutory)], age=2),
        [prior(1, "bullying", level=3), prior(2, "bullying", level=3)],
        3,
        "amber",
    ),
]

CWM_TABLE = [
    ("nothing reported", facts(), [], 1, "blue"),
    ("one low weight", facts("bullying"), [], 2, "green"),
    ("score 5 meets targeted support", facts("domestic_abuse", "low_income"), [], 3, "green"),
    # Significant harm is statutory (Working Together 2023; a soundness rule): Cwm Demo
    # weighted these five until 2026.10-2 (gang involvement 8 was level 3 alone).
    ("statutory: gang involvement", facts("gang_involvement", age=15), [], 5, "red"),
    ("statutory: frequently missing", facts("missing_frequently", age=14), [], 5, "red"),
    ("statutory: serious domestic abuse", facts("domestic_abuse_serious"), [], 5, "red"),
    (
        "statutory: parental mental health significantly affecting care",
        facts("parental_mental_health_significant"),
        [],
        5,
        "red",
    ),
    (
        "statutory: parental substance misuse significantly affecting care",
        facts("parental_substance_misuse_significant"),
        [],
        5,
        "red",
    ),
    ("score 9 meets complex", facts("self_harm", "homelessness", age=15), [], 4, "amber"),
    # Level 3 of four alone in the threshold documents, which is Cwm Demo's level 4
    # (complex / intensive, amber, through the hub); weighted 5 (level 3) until 2026.10-2.
    ("permanent exclusion alone is complex", facts("permanent_exclusion"), [], 4, "amber"),
    ("chronic non-attendance alone is complex", facts("chronic_non_attendance"), [], 4, "amber"),
    ("under 5 adds 3 and under 10 adds 1", facts("domestic_abuse", age=3), [], 3, "green"),
    (
        "under 5 reaches complex with more",
        facts("domestic_abuse", "bullying", age=3),
        [],
        4,
        "amber",
    ),
    ("statutory: trafficking", facts("trafficking"), [], 5, "red"),
    ("statutory: emotional neglect", facts("emotional_neglect", age=6), [], 5, "red"),
    ("immediate risk", facts("bullying", immediate=True), [], 5, "red"),
    (
        "three concerns within 60 days",
        facts("bullying"),
        [prior(10, "bullying"), prior(59, "bullying")],
        3,
        "green",
    ),
    (
        "a concern 61 days ago is outside the 60-day window",
        facts("bullying"),
        [prior(10, "bullying"), prior(61, "bullying")],
        2,
        "green",
    ),
    (
        "five concerns within 180 days",
        facts("bullying"),
        [prior(d, "bullying") for d in (10, 70, 100, 170)],
        4,
        "amber",
    ),
    (
        "open to intensive support within a year",
        facts("bullying"),
        [prior(300, "gang_involvement", level=4)],
        4,
        "amber",
    ),
    (
        "a level 3 a month ago is not 'intensive'",
        facts("bullying"),
        [prior(30, "gang_involvement", level=3)],
        2,
        "green",
    ),
    (
        # A sibling's serious domestic abuse used to be the example: it is statutory now,
        # and only weighted codes are shared across the household.
        "household: a sibling's domestic abuse within 120 days",
        facts("self_harm"),
        [prior(100, "domestic_abuse", sibling=True)],
        4,
        "amber",
    ),
    (
        "household: offending member +3 with bullying +2",
        facts("bullying", flags=("offending",)),
        [],
        3,
        "green",
    ),
    (
        "the victim flag is not weighted in Cwm Demo",
        facts("bullying", flags=("domestic_abuse_victim",)),
        [],
        2,
        "green",
    ),
    (
        "the top level is for statutory indicators only",
        facts(*[c for c in CODES if c not in set(CWM.statutory)], age=2),
        [prior(d, "bullying", level=4) for d in (1, 2, 3, 4, 5)],
        4,
        "amber",
    ),
]


@pytest.mark.parametrize(
    ("case", "report", "history", "level", "priority"),
    DEMOSHIRE_TABLE,
    ids=[row[0] for row in DEMOSHIRE_TABLE],
)
def test_demoshire_rules(case, report, history, level, priority) -> None:
    decision = decide(DEMOSHIRE, report, history)
    assert (decision.level, decision.priority) == (level, priority), decision.rationale


@pytest.mark.parametrize(
    ("case", "report", "history", "level", "priority"),
    CWM_TABLE,
    ids=[row[0] for row in CWM_TABLE],
)
def test_cwm_demo_rules(case, report, history, level, priority) -> None:
    decision = decide(CWM, report, history)
    assert (decision.level, decision.priority) == (level, priority), decision.rationale


@pytest.mark.parametrize("policy", EXAMPLES.values(), ids=EXAMPLES.keys())
def test_every_statutory_indicator_of_each_policy_alone_gives_its_top_level(
    policy: ThresholdPolicy,
) -> None:
    for code in policy.statutory:
        decision = decide(policy, facts(code), [])
        assert decision.level == policy.top_level and decision.priority == "red", code
        assert decision.statutory
        statutory = [f for f in decision.factors if f.kind == "statutory"]
        assert [f.code for f in statutory] == [code]
        assert statutory[0].weight is None


@pytest.mark.parametrize("policy", EXAMPLES.values(), ids=EXAMPLES.keys())
def test_every_weighted_code_adds_its_weight_in_its_triangle_domain(
    policy: ThresholdPolicy,
) -> None:
    for domain, weights in policy.weights.items():
        for code, weight in weights.items():
            decision = decide(policy, facts(code, age=12), [])
            assert decision.score == weight, code
            [factor] = decision.factors
            assert (factor.code, factor.weight, factor.domain) == (code, weight, domain)


def test_the_two_example_policies_decide_the_same_report_differently() -> None:
    """Gang involvement was the example until both made it statutory (significant harm);
    self-harm with low income is weighted differently: early help in Demoshire (4 + 1),
    targeted support in Cwm Demo (5 + 1)."""
    report = facts("self_harm", "low_income", age=15)
    assert decide(DEMOSHIRE, report, []).level == 2
    assert decide(CWM, report, []).level == 3
    harm = facts("gang_involvement", age=15)
    assert (decide(DEMOSHIRE, harm, []).level, decide(CWM, harm, []).level) == (4, 5)


def test_the_decision_lists_the_factors_the_rules_and_the_policy_version() -> None:
    decision = decide(
        DEMOSHIRE,
        facts("domestic_abuse", age=4),
        [prior(10, "bullying"), prior(20, "bullying"), prior(30, "poor_housing", sibling=True)],
    )
    assert decision.level == 3
    assert (decision.policy_id, decision.policy_version) == ("demoshire", "2026.12-1")
    by_code = {f.code: f for f in decision.factors}
    assert by_code["domestic_abuse"].weight == 4
    assert by_code["domestic_abuse"].domain == "family_and_environment"
    assert by_code["poor_housing"].kind == "household"
    assert by_code["under_5"].weight == 2 and by_code["under_10"].weight == 1
    assert decision.rules == ("three concerns within 90 days (Devon PPN rule)",)
    assert decision.score == 4 + 1 + 2 + 1


def test_the_rationale_reads_as_a_practitioner_would_write_it() -> None:
    decision = decide(DEMOSHIRE, facts("domestic_abuse", "absence_truancy", age=8), [])
    text = decision.rationale
    assert text.startswith("Level 3 (Targeted early help, amber): multi-agency early help")
    assert "Needs score 7, which meets level 3 from 6" in text
    assert "domestic abuse in the household +4 (family and environment)" in text
    assert "persistent absence or truancy +2 (the child's developmental needs)" in text
    assert "under the age of criminal responsibility (10) +1" in text
    assert "Decision due by Fri 13 Nov 2026 10:00 (24 hours, working hours)" in text
    assert text.endswith("Policy demoshire version 2026.12-1.")

    red = decide(DEMOSHIRE, facts("sexual_abuse", "bullying"), []).rationale
    assert "A statutory indicator is present (suspected sexual abuse)" in red
    assert "always meets level 4, whatever else is true" in red
    assert "(4 hours, round the clock)" in red


# ---- properties -----------------------------------------------------------------

policies = st.sampled_from(list(EXAMPLES.values()))
code_lists = st.lists(st.sampled_from(CODES), max_size=6)
flags = st.lists(
    st.sampled_from(
        ["offending", "mental_health", "substance_misuse", "domestic_abuse_perpetrator"]
    ),
    max_size=3,
)
# A referral id is unique: two different reports never share one (the id breaks ties
# between reports made at the same instant).
priors = st.builds(
    lambda days, codes, level, sibling, fl: prior(
        days,
        *codes,
        level=level,
        sibling=sibling,
        flags=tuple(fl),
        ref=f"r{days}{codes}{level}{sibling}{fl}",
    ),
    st.integers(0, 400),
    st.lists(st.sampled_from(CODES), min_size=1, max_size=3),
    st.integers(1, 5),
    st.booleans(),
    flags,
)
ages = st.integers(0, 17)


def _facts(codes: list[str], age: int, immediate: bool, fl: list[str]) -> ReportFacts:
    return facts(*codes, age=age, immediate=immediate, flags=tuple(fl))


@settings(max_examples=300)
@given(
    policies,
    code_lists,
    st.sampled_from(CODES),
    ages,
    st.booleans(),
    flags,
    st.lists(priors, max_size=5),
)
def test_adding_a_concern_never_lowers_the_level(
    policy: ThresholdPolicy,
    codes: list[str],
    extra: str,
    age: int,
    immediate: bool,
    fl: list[str],
    history: list[PriorReport],
) -> None:
    before = decide(policy, _facts(codes, age, immediate, fl), history)
    after = decide(policy, _facts([*codes, extra], age, immediate, fl), history)
    assert after.level >= before.level


@settings(max_examples=300)
@given(policies, code_lists, ages, flags, st.lists(priors, max_size=5), priors)
def test_an_earlier_concern_in_the_history_never_lowers_the_level(
    policy: ThresholdPolicy,
    codes: list[str],
    age: int,
    fl: list[str],
    history: list[PriorReport],
    extra: PriorReport,
) -> None:
    report = _facts(codes, age, False, fl)
    assert decide(policy, report, [*history, extra]).level >= decide(policy, report, history).level


@settings(max_examples=300)
@given(policies, code_lists, ages, st.booleans(), flags, st.lists(priors, max_size=5), st.data())
def test_any_statutory_indicator_always_gives_the_top_level(
    policy: ThresholdPolicy,
    codes: list[str],
    age: int,
    immediate: bool,
    fl: list[str],
    history: list[PriorReport],
    data: st.DataObject,
) -> None:
    statutory = data.draw(st.sampled_from(policy.statutory))
    decision = decide(policy, _facts([*codes, statutory], age, immediate, fl), history)
    assert decision.level == policy.top_level
    assert decision.priority == "red"
    assert decision.decide_by == NOW + timedelta(
        hours=policy.level(policy.top_level).decide_within_hours or 0
    )


@settings(max_examples=100)
@given(policies, code_lists, ages, st.booleans(), flags, st.lists(priors, max_size=5))
def test_the_same_report_history_and_policy_give_the_same_decision(
    policy: ThresholdPolicy,
    codes: list[str],
    age: int,
    immediate: bool,
    fl: list[str],
    history: list[PriorReport],
) -> None:
    report = _facts(codes, age, immediate, fl)
    first = decide(policy, report, history)
    again = decide(
        policy, _facts(list(reversed(codes)), age, immediate, fl), list(reversed(history))
    )
    assert again == first


# Vocabulary v2 (2026.12) only adds codes: a report with v1 codes alone decides exactly as
# under the policies before it (demoshire 2026.11-2, cwm-demo 2026.11-1), computed then.
# (policy, codes, age, level, priority, score)
V1_ONLY_DECISIONS = [
    ("demoshire", ("bullying",), 4, 2, "green", 4),
    ("demoshire", ("domestic_abuse", "bullying"), 4, 3, "amber", 8),
    ("demoshire", ("domestic_abuse", "bullying"), 12, 2, "green", 5),
    ("demoshire", ("domestic_abuse", "absence_truancy"), 12, 3, "amber", 6),
    ("demoshire", ("homelessness", "poor_housing", "low_income"), 16, 2, "green", 5),
    ("demoshire", ("self_harm", "low_level_mental_health"), 16, 3, "amber", 6),
    ("demoshire", ("trafficking",), 12, 4, "red", 0),
    ("demoshire", ("chronic_non_attendance",), 4, 3, "amber", 9),
    ("demoshire", ("young_carer", "household_mental_illness"), 12, 2, "green", 5),
    ("demoshire", ("permanent_exclusion", "physical_neglect"), 16, 4, "red", 6),
    ("cwm-demo", ("bullying",), 4, 3, "green", 6),
    ("cwm-demo", ("domestic_abuse", "bullying"), 4, 4, "amber", 10),
    ("cwm-demo", ("homelessness", "poor_housing", "low_income"), 12, 3, "green", 7),
    ("cwm-demo", ("self_harm", "low_level_mental_health"), 4, 4, "amber", 11),
    ("cwm-demo", ("trafficking",), 16, 5, "red", 0),
    ("cwm-demo", ("chronic_non_attendance",), 12, 4, "amber", 9),
    (
        "cwm-demo",
        ("missing_once", "early_substance_use", "anti_social_behaviour"),
        12,
        3,
        "green",
        7,
    ),
    ("cwm-demo", ("young_carer", "household_mental_illness"), 16, 3, "green", 6),
    ("cwm-demo", ("permanent_exclusion", "physical_neglect"), 4, 5, "red", 13),
]


@pytest.mark.parametrize(
    ("policy", "codes", "age", "level", "priority", "score"), V1_ONLY_DECISIONS
)
def test_a_report_with_v1_codes_alone_decides_as_before_vocabulary_v2(
    policy: str, codes: tuple[str, ...], age: int, level: int, priority: str, score: int
) -> None:
    decision = decide(EXAMPLES[policy], facts(*codes, age=age), [])
    assert (decision.level, decision.priority, decision.score) == (level, priority, score)


V2_STATUTORY = [
    "forced_marriage", "honour_based_abuse", "sexual_activity_under_13", "modern_slavery",
    "nude_image_sharing_aggravated", "sextortion", "child_on_child_sexual_violence",
    "private_fostering", "unaccompanied_asylum_seeking_child", "radicalisation",
    "homeless_16_17", "serious_violence",
]  # fmt: skip


@pytest.mark.parametrize("policy", sorted(EXAMPLES))
def test_the_v2_codes_are_placed_as_domain_md_says(policy: str) -> None:
    example = EXAMPLES[policy]
    for code in V2_STATUTORY:
        assert decide(example, facts(code), []).level == example.top_level, code
    # An education matter by itself: level 3 of the usual four (Cwm Demo's level 4).
    assert decide(example, facts("child_missing_education"), []).level == example.top_level - 1
    # School may manage experimental sharing; SEND is a modifier that adds to a concern.
    assert decide(example, facts("nude_image_sharing_experimental"), []).level == 2
    alone = decide(example, facts("bullying"), []).score
    assert decide(example, facts("bullying", "disability_or_send"), []).score == alone + 1
