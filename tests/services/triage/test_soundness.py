"""A threshold policy is sound: every concern code handled once, every category of
significant harm statutory, no education matter statutory by itself, and no single
low-level indicator at the top level. Every shipped policy is; each broken example is
not, and says why."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from services.triage import definition
from services.triage.policy import PolicyError, ThresholdPolicy, load_policy, parse_policy
from services.triage.scoring import decide
from services.triage.service import on_start
from services.triage.soundness import (
    CHILD_AGES,
    EDUCATION_AND_EARLY_HELP,
    SIGNIFICANT_HARM,
    soundness_problems,
)
from shared.report import concern_codes
from tests.services.conftest import service_context
from tests.services.triage.fixtures.unsound import UNSOUND, Raw, demoshire, unsound
from tests.services.triage.helpers import POLICIES, facts

SHIPPED = sorted(POLICIES.glob("*.json"))


def test_policies_are_shipped() -> None:
    assert {p.name for p in SHIPPED} >= {"demoshire.json", "cwm-demo.json"}


@pytest.mark.parametrize("path", SHIPPED, ids=[p.name for p in SHIPPED])
def test_every_shipped_policy_is_sound(path: Path) -> None:
    policy = load_policy(path)  # validation and soundness both pass
    assert soundness_problems(policy) == []
    assert set(SIGNIFICANT_HARM) & concern_codes() <= set(policy.statutory)
    assert not set(EDUCATION_AND_EARLY_HELP) & set(policy.statutory)


@pytest.mark.parametrize("path", SHIPPED, ids=[p.name for p in SHIPPED])
def test_every_shipped_policy_records_why_each_statutory_code_is_there(path: Path) -> None:
    policy = load_policy(path)
    assert [code for code in policy.statutory if not policy.notes.get(code)] == []


@pytest.mark.parametrize("path", SHIPPED, ids=[p.name for p in SHIPPED])
def test_in_every_shipped_policy_no_single_low_level_indicator_reaches_the_top_level(
    path: Path,
) -> None:
    policy = load_policy(path)
    for code in sorted(concern_codes() - set(policy.statutory)):
        for age in CHILD_AGES:
            assert decide(policy, facts(code, age=age), []).level < policy.top_level, (code, age)


@pytest.mark.parametrize(("case", "change", "named"), UNSOUND, ids=[row[0] for row in UNSOUND])
def test_an_unsound_policy_is_named_for_what_is_wrong(
    case: str, change: Callable[[Raw], None], named: str
) -> None:
    # Schema validation only: the top-level band examples also break a validation rule,
    # and the soundness rules must find them by themselves.
    policy = ThresholdPolicy.model_validate(unsound(change))
    problems = soundness_problems(policy)
    assert any(named in problem for problem in problems), problems


def test_the_shipped_demoshire_policy_unchanged_has_no_problem() -> None:
    assert soundness_problems(ThresholdPolicy.model_validate(demoshire())) == []


def test_old_policy_files_without_informational_codes_or_notes_still_load() -> None:
    raw = demoshire()
    del raw["informational"], raw["notes"]
    policy = ThresholdPolicy.model_validate(raw)
    assert (policy.informational, policy.notes) == ({}, {})
    assert soundness_problems(policy) == []


def test_an_informational_code_is_handled_and_scores_nothing() -> None:
    raw = demoshire()
    del raw["weights"]["family_and_environment"]["parental_separation"]
    raw["informational"] = {"parental_separation": "an ACE, not a need by itself here"}
    policy = ThresholdPolicy.model_validate(raw)
    assert soundness_problems(policy) == []
    assert decide(policy, facts("parental_separation"), []).level == 1


def test_a_note_on_a_code_outside_the_vocabulary_is_a_problem() -> None:
    raw = demoshire()
    raw["notes"]["fmg"] = "a typo"
    problems = soundness_problems(ThresholdPolicy.model_validate(raw))
    assert problems == ["the note on 'fmg': 'fmg' is not in the vocabulary (a typo, or a code "
                        "of a later vocabulary)"]  # fmt: skip


@pytest.mark.parametrize("code", sorted(EDUCATION_AND_EARLY_HELP))
def test_no_education_matter_is_statutory_by_itself(code: str) -> None:
    raw = demoshire()
    for weights in raw["weights"].values():
        weights.pop(code, None)
    raw["statutory"].append(code)
    problems = soundness_problems(ThresholdPolicy.model_validate(raw))
    assert [p for p in problems if p.startswith(f"{code!r} is statutory, but")], problems


@pytest.mark.parametrize("code", sorted(SIGNIFICANT_HARM))
def test_every_category_of_significant_harm_must_be_statutory(code: str) -> None:
    raw = demoshire()
    raw["statutory"].remove(code)
    raw["weights"]["child_development"][code] = 1
    problems = soundness_problems(ThresholdPolicy.model_validate(raw))
    assert [p for p in problems if p.startswith(f"{code!r} is not statutory")], problems


def test_the_significant_harm_categories_are_those_of_the_threshold_documents() -> None:
    # DOMAIN.md's level 4 list, as the published vocabulary names it; the education
    # matters it calls early help by themselves are not among them.
    assert set(SIGNIFICANT_HARM) & concern_codes() == {
        "physical_abuse", "sexual_abuse", "emotional_abuse", "physical_neglect",
        "emotional_neglect", "child_sexual_exploitation", "child_criminal_exploitation",
        "trafficking", "fgm", "gang_involvement", "missing_frequently",
        "domestic_abuse_serious", "parental_mental_health_significant",
        "parental_substance_misuse_significant",
        # Vocabulary v2: KCSIE Annex B and Working Together 2023.
        "forced_marriage", "honour_based_abuse", "sexual_activity_under_13",
        "modern_slavery", "nude_image_sharing_aggravated", "sextortion",
        "child_on_child_sexual_violence",
    }  # fmt: skip
    assert not set(SIGNIFICANT_HARM) & set(EDUCATION_AND_EARLY_HELP)
    # The routes of their own are statutory by a policy's choice, not significant harm.
    assert not set(SIGNIFICANT_HARM) & {
        "radicalisation", "private_fostering", "unaccompanied_asylum_seeking_child",
        "homeless_16_17",
    }  # fmt: skip
    assert EDUCATION_AND_EARLY_HELP["child_missing_education"][0] == 3


def test_a_category_the_vocabulary_does_not_have_yet_is_skipped() -> None:
    raw = demoshire()
    raw["statutory"].remove("fgm")
    del raw["notes"]["fgm"]
    assert soundness_problems(ThresholdPolicy.model_validate(raw), concern_codes() - {"fgm"}) == []


def test_a_new_category_of_significant_harm_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    # A later vocabulary adds breast ironing; a policy that only weights it is unsound
    # once the category is listed.
    raw = demoshire()
    raw["weights"]["family_and_environment"]["breast_ironing"] = 3
    policy = ThresholdPolicy.model_validate(raw)
    vocabulary = concern_codes() | {"breast_ironing"}
    assert soundness_problems(policy, vocabulary) == []
    monkeypatch.setitem(SIGNIFICANT_HARM, "breast_ironing", "breast ironing")
    [problem] = soundness_problems(policy, vocabulary)
    assert problem.startswith("'breast_ironing' is not statutory, but breast ironing is")


def test_a_code_a_later_vocabulary_adds_must_be_handled() -> None:
    problems = soundness_problems(load_policy(), concern_codes() | {"child_abduction"})
    assert problems == [
        "'child_abduction' is not handled: make it statutory, give it a weight, or "
        "list it as informational with the reason it is not scored"
    ]


def test_the_top_level_rule_is_skipped_where_the_scorer_cannot_run() -> None:
    # An unknown time zone is a validation error; soundness still answers for the codes.
    raw = unsound(UNSOUND[0][1])
    raw["working_hours"]["timezone"] = "Europe/Londres"
    assert soundness_problems(ThresholdPolicy.model_validate(raw)) == [
        "'bullying' is not handled: make it statutory, give it a weight, or list it as "
        "informational with the reason it is not scored"
    ]


def test_the_top_level_rule_asks_the_real_scorer(monkeypatch: pytest.MonkeyPatch) -> None:
    # Whatever makes a single indicator reach the top level, a band or a rule added to
    # scoring later, the check sees it: it decides sample reports with `decide`.
    policy = load_policy()
    asked: list[tuple[str, ...]] = []
    real = decide

    def spy(*args: object, **kwargs: object) -> object:
        asked.append(args[1].concern_codes)  # type: ignore[attr-defined]
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr("services.triage.soundness.decide", spy)
    soundness_problems(policy)
    assert ("bullying",) in asked and ("fgm",) not in asked
    singles = len(concern_codes()) - len(policy.statutory) + len(policy.household.member_flags)
    assert len(asked) == len(CHILD_AGES) * singles


def test_parse_policy_refuses_an_unsound_policy_at_the_line_at_fault() -> None:
    text = (
        (POLICIES / "demoshire.json")
        .read_text()
        .replace('"fixed_term_exclusion": 2,', '"fixed_term_exclusion": 2, "fgm": 3,', 1)
    )
    with pytest.raises(PolicyError) as raised:
        parse_policy(text, source="demoshire.json")
    [problem] = raised.value.problems
    assert problem.location == "weights.child_development.fgm"
    assert text.splitlines()[problem.line - 1].count('"fgm": 3') == 1


async def test_triage_refuses_to_start_on_an_unsound_policy(tmp_path: Path) -> None:
    # The Cwm Demo policy as it stood until 2026.10-2: valid, but it weighted gang
    # involvement (8, level 3 alone) instead of making it statutory.
    raw = json.loads((POLICIES / "cwm-demo.json").read_text())
    raw["statutory"].remove("gang_involvement")
    raw["weights"]["child_development"]["gang_involvement"] = 8
    bad = tmp_path / "cwm-old.json"
    bad.write_text(json.dumps(raw, indent=2))
    ctx = service_context(definition, f"sqlite:///{tmp_path / 'triage.db'}", tmp_path)
    ctx.config = ctx.config.model_copy(update={"triage_policy_path": bad})
    with pytest.raises(PolicyError, match="'gang_involvement' is not statutory"):
        await on_start(ctx)
    await ctx.db.dispose()
