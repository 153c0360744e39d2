"""Concerns a narrative mentions but the report's codes leave out: every rule of
`services.triage.narrative` on plain examples, its properties, and precision and
recall on example police and school narratives (fixtures/narratives.json)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.triage.narrative import (
    Suspicion,
    compile_lexicon,
    is_negated,
    shipped_lexicon,
    suspect,
    suspected_concerns,
)
from shared.report import concern_codes, vocabulary

FIXTURE = Path(__file__).parent / "fixtures" / "narratives.json"
CONCERNS: list[dict[str, Any]] = vocabulary()["concerns"]  # type: ignore[assignment]
CODES = sorted(concern_codes())
SYNONYMS = {c["code"]: set(c["synonyms"]) for c in CONCERNS}


def codes_of(suspicions: list[Suspicion]) -> list[str]:
    return [s.code for s in suspicions]


# ---- the rules ---------------------------------------------------------------------


def test_a_mentioned_concern_the_report_does_not_carry_is_suspected_with_its_terms() -> None:
    found = suspected_concerns("EHCP in place for autism; bullied at break.", ["bullying"])
    assert found == [Suspicion("disability_or_send", ("ehcp", "autism"))]


def test_a_coded_concern_is_never_suspected() -> None:
    narrative = "Mum disclosed DV and coercive control. Child has an EHCP."
    assert codes_of(suspected_concerns(narrative, [])) == [
        "disability_or_send",
        "domestic_abuse",
        "domestic_abuse_serious",
    ]
    assert suspected_concerns(narrative, ["domestic_abuse", "disability_or_send"]) == []


def test_an_empty_or_missing_narrative_suspects_nothing() -> None:
    for narrative in (None, "", "   \n\t"):
        assert suspected_concerns(narrative, []) == []


def test_suspicions_are_sorted_by_code_with_each_term_once_in_order_of_appearance() -> None:
    narrative = "Now homeless. Was sofa surfing, then sleeping rough; still homeless."
    found = suspected_concerns(narrative, [])
    assert codes_of(found) == ["homeless_16_17", "homelessness"]
    assert all(s.terms == ("homeless", "sofa surfing", "sleeping rough") for s in found)


@pytest.mark.parametrize(
    "narrative",
    [
        "No self-harm disclosed, asked directly.",
        "Denies suicidal thoughts.",
        "She denied any self-harm.",
        "No evidence of county lines involvement.",
        "No concerns about neglect at home.",
        "No signs of neglect.",
        "There is no indication of CSE.",
        "He has never been excluded from school.",
        "Not known to the Prevent team.",
        "Without a Prevent referral at this stage.",
        "Paediatrician ruled out NAI.",
        "NAI was ruled out by the paediatrician.",
        "No weapons, drugs or cannabis use found.",
        "She didn't mention any self-harm.",
    ],
)
def test_a_negated_mention_is_not_counted(narrative: str) -> None:
    assert suspected_concerns(narrative, []) == []


@pytest.mark.parametrize(
    ("narrative", "code"),
    [
        # The negation is in another sentence, or before "but".
        ("No marks seen. She says she has been self-harming.", "self_harm"),
        ("No injuries but she says she has been self-harming.", "self_harm"),
        ("No answer at the door\nNeighbour reports DV most nights.", "domestic_abuse"),
        ("No injuries - mum says dad is in prison.", "child_of_prisoner"),
        # The negation is more than four words before the term.
        ("Mum does not want us to tell anyone about the DV.", "domestic_abuse"),
        # A negated "ruled out" affirms; inability is not negation.
        ("NAI not ruled out.", "physical_abuse"),
        ("Cannot rule out FGM.", "fgm"),
        ("Mum says she cannot cope with the DV any more.", "domestic_abuse"),
    ],
)
def test_a_negation_reaches_only_a_few_words_into_its_own_clause(narrative: str, code: str) -> None:
    assert code in codes_of(suspected_concerns(narrative, []))


def test_negation_is_told_at_the_term_itself() -> None:
    text = "No DV reported. DV disclosed today."
    first, second = text.index("DV"), text.rindex("DV")
    assert is_negated(text, first, first + 2)
    assert not is_negated(text, second, second + 2)


@pytest.mark.parametrize(
    "narrative",
    [
        "Honour-based violence",
        "honour based violence",
        "HONOUR_BASED\nviolence",
        "honour\u2013based   violence",
        "honour-\n  based violence",
    ],
)
def test_hyphens_underscores_spaces_and_line_breaks_separate_words_alike(narrative: str) -> None:
    assert suspected_concerns(narrative, []) == [
        Suspicion("honour_based_abuse", ("honour based violence",))
    ]


def test_apostrophes_and_hyphens_match_however_they_are_typed() -> None:
    assert codes_of(suspected_concerns("Advice on Clare\u2019s Law.", [])) == [
        "domestic_abuse",
        "domestic_abuse_serious",
    ]
    for narrative in ("semi nude images", "Semi-nude images", "SEMI-\nNUDE images"):
        found = suspected_concerns(narrative, [])
        assert codes_of(found) == [
            "nude_image_sharing_aggravated",
            "nude_image_sharing_experimental",
        ], narrative
        # Terms that overlap without one holding the other both count.
        assert found[0].terms == ("semi-nude", "nude images")


@pytest.mark.parametrize(
    "narrative",
    [
        "She was absent and sent home.",  # not "sen"
        "Went to Asda with mum.",  # not "asd"
        "A naive question.",  # not "nai"
        "Mouldy bread in the lunchbox.",  # not "mould"
        "Dad was at the gangway.",  # not "gang"
        "Under 13s football on Saturday.",  # not "under 13"
        "Asked him to send the form back.",  # "send" is a verb, not SEND
        "Plan agreed to prevent a repeat.",  # "prevent" is a verb
        "Messages through the usual channel.",  # not the Channel panel
        "An award in honour of her volunteering.",  # not honour-based abuse
        "Witness statements taken; crime reference given.",
    ],
)
def test_a_synonym_matches_whole_words_and_ordinary_words_raise_nothing(narrative: str) -> None:
    assert suspected_concerns(narrative, []) == []


def test_a_synonym_touching_letters_of_any_script_is_not_a_match() -> None:
    assert suspected_concerns("\u03a9dv", []) == []
    assert suspected_concerns("\u0434\u0435\u0442\u0438dv", []) == []
    assert "domestic_abuse" in codes_of(suspected_concerns("\u0434\u0435\u0442\u0438: DV", []))
    assert "child_of_prisoner" in codes_of(suspected_concerns("Zo\u00eb\u2019s dad is in HMP", []))


def test_the_prevent_programme_is_found_and_the_verb_is_not() -> None:
    assert suspected_concerns("Officers gave advice to prevent escalation.", []) == []
    assert codes_of(suspected_concerns("Prevent referral made by the DSL.", [])) == [
        "radicalisation"
    ]


def test_a_shared_synonym_is_satisfied_by_any_code_listing_it_and_suspects_all_if_none() -> None:
    narrative = "Disclosed sexting with a boy in her year."
    both = ["nude_image_sharing_aggravated", "nude_image_sharing_experimental"]
    assert codes_of(suspected_concerns(narrative, [])) == both
    for code in both:
        assert suspected_concerns(narrative, [code]) == []


def test_the_plain_words_of_two_levels_are_shared_and_the_higher_level_keeps_its_own() -> None:
    assert suspected_concerns("Reported missing again overnight.", ["missing_frequently"]) == []
    assert suspected_concerns("Reported missing last night.", ["missing_once"]) == []
    assert suspected_concerns("Repeat missing, 3 episodes.", ["missing_once"]) == [
        Suspicion("missing_frequently", ("repeat missing",))
    ]
    assert suspected_concerns("DV incident.", ["domestic_abuse_serious"]) == []
    assert suspected_concerns("DASH high risk, MARAC referral.", ["domestic_abuse"]) == [
        Suspicion("domestic_abuse_serious", ("dash high risk", "marac"))
    ]


def test_a_term_inside_a_longer_term_is_not_counted_by_itself() -> None:
    # "separation" (parental separation) inside "separation anxiety" (the child's).
    assert suspected_concerns("Has separation anxiety.", []) == [
        Suspicion("low_level_mental_health", ("separation anxiety",))
    ]
    # "domestic abuse" inside "high risk domestic abuse": the higher level only.
    assert suspected_concerns("High risk domestic abuse.", ["domestic_abuse"]) == [
        Suspicion("domestic_abuse_serious", ("high risk domestic abuse",))
    ]


def test_a_concern_about_someone_else_in_the_childs_life_is_still_suspected() -> None:
    assert codes_of(suspected_concerns("Mum's mental health has deteriorated.", [])) == [
        "household_mental_illness",
        "parental_mental_health_significant",
    ]


def test_a_code_outside_the_vocabulary_among_the_codes_changes_nothing() -> None:
    narrative = "Known to be involved in county lines."
    assert suspected_concerns(narrative, ["not_a_code"]) == suspected_concerns(narrative, [])


def test_the_shipped_vocabulary_points_only_to_its_own_live_codes() -> None:
    live = {c["code"] for c in CONCERNS if not c.get("deprecated")}
    pointed = {code for term in shipped_lexicon().terms for code in term.spelling}
    assert pointed <= live
    # Every synonym of every live code is looked for (none lost in compiling).
    assert {s for term in shipped_lexicon().terms for s in term.spelling.values()} == {
        s for c in CONCERNS if not c.get("deprecated") for s in c["synonyms"]
    }


# ---- deprecated codes (the shipped vocabulary has none yet: one is added here) ---------


def with_deprecated() -> list[dict[str, Any]]:
    """The shipped vocabulary with a v0 code merged into domestic_abuse, and an older
    one merged into that."""
    return [
        *CONCERNS,
        {
            "code": "domestic_violence",
            "deprecated": True,
            "replaced_by": "domestic_abuse",
            "synonyms": ["dv", "wife beating"],
        },
        {
            "code": "family_violence",
            "deprecated": True,
            "replaced_by": "domestic_violence",
            "synonyms": ["family violence"],
        },
    ]


def test_a_deprecated_code_is_never_suspected_and_its_synonyms_point_to_its_replacement() -> None:
    lexicon = compile_lexicon(with_deprecated())
    found = suspect(lexicon, "Wife beating and family violence reported.", [])
    assert found == [Suspicion("domestic_abuse", ("wife beating", "family violence"))]
    pointed = {code for term in lexicon.terms for code in term.spelling}
    assert "domestic_violence" not in pointed and "family_violence" not in pointed


def test_a_deprecated_code_carried_counts_as_its_replacement() -> None:
    lexicon = compile_lexicon(with_deprecated())
    narrative = "DV incident; wife beating alleged."
    assert codes_of(suspect(lexicon, narrative, [])) == ["domestic_abuse", "domestic_abuse_serious"]
    for old in ("domestic_violence", "family_violence"):
        assert suspect(lexicon, narrative, [old]) == [], old


# ---- properties ------------------------------------------------------------------------

ALL_SYNONYMS = sorted({s for c in CONCERNS for s in c["synonyms"]})
pieces = st.one_of(
    st.sampled_from(ALL_SYNONYMS),
    st.sampled_from(["no", "not", "never", "denies", "ruled out", "but", "mum", "the", "n't"]),
    st.text(max_size=12),
)
separators = st.sampled_from([" ", "-", "_", "'", "\n", ". ", ", ", "; ", " - ", ""])
narratives = st.lists(st.tuples(pieces, separators), max_size=30).map(
    lambda parts: "".join(p + s for p, s in parts)
)
code_lists = st.lists(st.one_of(st.sampled_from(CODES), st.text(max_size=8)), max_size=6)


@settings(max_examples=400)
@given(narratives, code_lists)
def test_the_result_never_contains_a_code_the_report_carries(
    narrative: str, codes: list[str]
) -> None:
    found = suspected_concerns(narrative, codes)
    assert not set(codes_of(found)) & set(codes)
    assert codes_of(found) == sorted(set(codes_of(found)))
    for suspicion in found:
        assert suspicion.code in concern_codes()
        assert suspicion.terms and len(set(suspicion.terms)) == len(suspicion.terms)
        assert set(suspicion.terms) <= SYNONYMS[suspicion.code]


@settings(max_examples=300)
@given(narratives, code_lists, st.sampled_from(CODES))
def test_adding_a_code_never_adds_a_suspicion(narrative: str, codes: list[str], extra: str) -> None:
    before = set(codes_of(suspected_concerns(narrative, codes)))
    after = set(codes_of(suspected_concerns(narrative, [*codes, extra])))
    assert after <= before


# ---- evaluation on example narratives ------------------------------------------------------


def load_items() -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = json.loads(FIXTURE.read_text())
    return items


def test_the_example_narratives_are_fit_to_measure_with() -> None:
    items = load_items()
    assert len(items) >= 80
    assert len({i["id"] for i in items}) == len(items)
    assert {i["source"] for i in items} == {"police", "school"}
    for item in items:
        assert set(item["codes"]) | set(item["expected"]) <= concern_codes(), item["id"]
        assert not set(item["codes"]) & set(item["expected"]), item["id"]
    # Like real reports: most miss nothing, or one code.
    assert sum(len(i["expected"]) <= 1 for i in items) > 0.75 * len(items)


@dataclass
class Figures:
    """Suspicions against the codes a practitioner expects, counted per (item, code)."""

    right: list[tuple[str, str]] = field(default_factory=list)
    wrong: list[tuple[str, str, tuple[str, ...]]] = field(default_factory=list)
    siblings: int = 0  # wrong, but sharing a term with an expected code that was found
    missed: list[tuple[str, str]] = field(default_factory=list)
    clean_items: int = 0  # items expecting nothing
    false_alarms: int = 0  # of those, items with a suspicion
    flagged: int = 0  # items with any suspicion: marked needs_review
    rightly_flagged: int = 0  # of those, items with at least one right suspicion

    def add(self, item: dict[str, Any], found: list[Suspicion]) -> None:
        expected = set(item["expected"])
        hit = [s for s in found if s.code in expected]
        for s in found:
            if s.code in expected:
                self.right.append((item["id"], s.code))
            else:
                self.wrong.append((item["id"], s.code, s.terms))
                self.siblings += any(set(s.terms) & set(h.terms) for h in hit)
        self.missed += [(item["id"], c) for c in sorted(expected - set(codes_of(found)))]
        if not expected:
            self.clean_items += 1
            self.false_alarms += bool(found)
        if found:
            self.flagged += 1
            self.rightly_flagged += bool(hit)

    @property
    def precision(self) -> float:
        """Of the suspicions, the share a practitioner expects."""
        return len(self.right) / (len(self.right) + len(self.wrong))

    @property
    def recall(self) -> float:
        """Of the expected codes, the share suspected."""
        return len(self.right) / (len(self.right) + len(self.missed))

    @property
    def precision_by_concern(self) -> float:
        """Precision when a wrong suspicion raised by the same term as a right one (the
        other level of one concern, "missing" once or frequently) is not counted."""
        wrong = len(self.wrong) - self.siblings
        return len(self.right) / (len(self.right) + wrong)

    @property
    def review_precision(self) -> float:
        """Of the reports marked needs_review, the share that miss a concern a
        practitioner expects: what the hub's review queue is worth."""
        return self.rightly_flagged / self.flagged

    def report(self, items: int) -> str:
        expected = len(self.right) + len(self.missed)
        suspected = len(self.right) + len(self.wrong)
        lines = [
            f"{items} narratives, {expected} expected codes, {suspected} suspicions: "
            f"{len(self.right)} right, {len(self.wrong)} wrong "
            f"({self.siblings} the other code of a shared term), {len(self.missed)} missed",
            f"precision {self.precision:.3f}; recall {self.recall:.3f}; "
            f"precision by concern {self.precision_by_concern:.3f}",
            f"narratives expecting nothing: {self.clean_items}, "
            f"of which {self.false_alarms} would be marked for review",
            f"marked for review: {self.flagged}, rightly {self.rightly_flagged} "
            f"(review precision {self.review_precision:.3f})",
            "-- wrong",
            *(f"   {i:<5}{c:<40}{', '.join(t)}" for i, c, t in self.wrong),
            "-- missed",
            *(f"   {i:<5}{c}" for i, c in self.missed),
        ]
        return "\n".join(lines)


def evaluate(items: list[dict[str, Any]]) -> Figures:
    figures = Figures()
    for item in items:
        figures.add(item, suspected_concerns(item["narrative"], item["codes"]))
    return figures


def test_suspicions_on_the_example_narratives_keep_their_measured_precision_and_recall() -> None:
    """The narratives (fixtures/narratives.json) were written, and what a careful
    practitioner expects of each labelled, before the detector and the synonyms were
    tuned: 160 police PPN / incident notes and school DSL notes, 123 expected codes. A
    code is expected when the narrative states or describes that concern (about the
    child, or about someone whose situation bears on the child) and the report carries
    neither it nor a code for the same fact at another level (`missing_once` covers
    "reported missing" for `missing_frequently`; a report with neither expects only the
    level the narrative supports).

    Measured: precision 0.733 (74 of 101 suspicions), recall 0.602 (74 of 123); 16 of
    the 27 wrong suspicions are the other code of a shared term ("reported missing",
    "sofa surfing", "nrm"), which the rules suspect on purpose when neither code is
    present (precision by concern 0.871); 4 of the 67 narratives expecting nothing
    would be marked for review. Of the 67 narratives marked needs_review, 61 do miss a
    concern a practitioner expects (review precision 0.910): what the hub's review
    queue is worth. The vocabulary's synonyms before this work gave
    precision 0.403 and recall 0.390. Most misses are concerns told in plain words
    ("dad threw a plate at mum", "the kitchen had no food"), which no list of terms can
    find: the figures are short of 0.90 and 0.80, and the bounds sit just below them.
    """
    items = load_items()
    figures = evaluate(items)
    print("\n" + figures.report(len(items)))
    assert len(figures.right) + len(figures.missed) >= 100, "enough expected codes to measure"
    assert figures.precision >= 0.72
    assert figures.recall >= 0.59
    assert figures.precision_by_concern >= 0.85
    assert figures.false_alarms <= 5
    assert figures.review_precision >= 0.90
    # The hard cases the narratives hold on purpose raise nothing: negations ("No
    # weapons", "No drugs found", "denied any violence"), "prevent" and "channel" as
    # ordinary words, synonyms of codes the report carries.
    quiet = {"p07", "p53", "s01", "s40", "s53", "p55", "p18", "s04", "p52", "s22", "p46"}
    assert not [w for w in figures.wrong if w[0] in quiet]


if __name__ == "__main__":
    items = load_items()
    print(evaluate(items).report(len(items)))
