"""Matching reports about one child across sources, and children across a household:
the pure functions case by case (precision and recall on generated data are
test_matching_evaluation.py's)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from services.triage.matching import (
    HouseholdView,
    Identity,
    Outcome,
    Person,
    are_nicknames,
    best_match,
    compare,
    dob_agreement,
    normalise_name,
    resolve,
    same_household,
)

CHILD = Identity("William", "Smith", date(2017, 3, 9), "EX1 1AA")

SAME_CHILD = [
    ("identical", CHILD),
    ("a typo in the family name", replace(CHILD, family_name="Smyth")),
    ("a short form of the given name", replace(CHILD, given_name="Billy")),
    ("given and family names swapped", replace(CHILD, given_name="Smith", family_name="William")),
    (
        "swapped, a short form and a typo together",
        replace(CHILD, given_name="Smyth", family_name="Billy"),
    ),
    ("accents and case", Identity("WILLIAM", "smith", date(2017, 3, 9), "EX1 1AA")),
    ("day and month transposed", replace(CHILD, date_of_birth=date(2017, 9, 3))),
    ("moved within the district", replace(CHILD, postcode="EX1 4QT")),
    ("a double-barrelled family name", replace(CHILD, family_name="Smith-Jones")),
    ("no postcode on one report", replace(CHILD, postcode=None)),
]
MARY_JANE = Identity("Mary-Jane", "O'Brien", date(2017, 3, 9), "EX1 1AA")
# Perhaps the same child: the link rests on likeness, so it is shown, never counted.
POSSIBLE = [
    # The letters cannot tell a twin from a typo: both are shown, neither counted.
    ("a misspelt given name at the same address", replace(CHILD, given_name="Wiliam")),
    ("the same name and birthday in another district", replace(CHILD, postcode="PL4 8AA")),
    (
        "a typo in the family name and no postcode",
        replace(CHILD, family_name="Smyth", postcode=None),
    ),
    (
        "a transposed date of birth and a typo in the family name",
        replace(CHILD, family_name="Smyth", date_of_birth=date(2017, 9, 3)),
    ),
    (
        "a transposed date of birth in another district",
        replace(CHILD, date_of_birth=date(2017, 9, 3), postcode="PL4 8AA"),
    ),
]
DIFFERENT_CHILD = [
    ("another date of birth", replace(CHILD, date_of_birth=date(2016, 3, 9))),
    ("a twin", replace(CHILD, given_name="Oliver")),
    ("a twin with a similar name", replace(CHILD, given_name="Willow")),
    (
        "a similar name, same birthday, elsewhere",
        replace(CHILD, given_name="Willa", family_name="Smithson", postcode="LS6 2AB"),
    ),
    (
        "a transposed date with a typo and another district",
        Identity("Wiliam", "Smyth", date(2017, 9, 3), "PL4 8AA"),
    ),
    ("both names only alike", replace(CHILD, given_name="Wiliam", family_name="Smyth")),
]


@pytest.mark.parametrize(("case", "other"), SAME_CHILD, ids=[c for c, _ in SAME_CHILD])
def test_reports_about_the_same_child_match(case: str, other: Identity) -> None:
    assert compare(CHILD, other).outcome is Outcome.SAME
    assert compare(other, CHILD).outcome is Outcome.SAME


@pytest.mark.parametrize(("case", "other"), POSSIBLE, ids=[c for c, _ in POSSIBLE])
def test_a_link_resting_on_likeness_is_possible_and_not_counted(case: str, other: Identity) -> None:
    for match in (compare(CHILD, other), compare(other, CHILD)):
        assert match.outcome is Outcome.POSSIBLE
        assert match.possible and not match.same_child


@pytest.mark.parametrize(("case", "other"), DIFFERENT_CHILD, ids=[c for c, _ in DIFFERENT_CHILD])
def test_reports_about_different_children_do_not_match(case: str, other: Identity) -> None:
    assert compare(CHILD, other).outcome is Outcome.DIFFERENT
    assert compare(other, CHILD).outcome is Outcome.DIFFERENT


def test_hyphens_apostrophes_and_a_barrel_in_common_agree_but_a_particle_does_not() -> None:
    written = MARY_JANE
    assert compare(
        written, replace(written, given_name="Mary Jane", family_name="OBrien")
    ).same_child
    assert compare(written, replace(written, family_name="O Brien")).same_child
    van = Identity("Jack", "Van Dijk", date(2017, 3, 9), "EX1 1AA")
    assert compare(van, replace(van, family_name="van Dijk")).same_child
    assert not compare(van, replace(van, family_name="Van Persie")).same_child


TWIN = Identity("Louis", "Stone", date(2017, 3, 9), "EX4 6PX")


@pytest.mark.parametrize(
    "other",
    ["Louise", "Lewis", "Milo", "Leon"],
)
def test_twins_at_one_address_with_names_one_letter_apart_are_never_counted_as_one(
    other: str,
) -> None:
    """The issue: the same birthday at the same address is where twins live. There the
    given names must be one name or a known short form; alike is not enough."""
    twin = replace(TWIN, given_name=other)
    for a, b in [(TWIN, twin), (twin, TWIN)]:
        assert not compare(a, b).same_child
        # swapped names in one report do not read the alike pair as family names
        assert not compare(
            a, replace(b, given_name=b.family_name, family_name=b.given_name)
        ).same_child
        assert not compare(replace(a, postcode=None), b).same_child
        assert not compare(replace(a, postcode="EX4 1AA"), b).same_child
    louise = replace(TWIN, given_name="Louise")
    assert compare(TWIN, louise).reason.endswith(
        "(twins live like this: a twin, or a misspelt name)"
    )
    milo, mila = replace(TWIN, given_name="Milo"), replace(TWIN, given_name="Mila")
    assert compare(milo, mila).possible
    leo = replace(TWIN, given_name="Leo")
    assert not compare(leo, replace(TWIN, given_name="Leon")).same_child


@pytest.mark.parametrize(
    ("one", "other"),
    [("Aiden", "Aidan"), ("Mohammed", "Muhammad"), ("Billy", "William"), ("Ollie", "Oliver")],
)
def test_at_one_address_a_short_form_or_spelling_of_one_name_is_the_same_child(
    one: str, other: str
) -> None:
    """Aiden and Aidan are one name spelled two ways: no parent gives twins one name in
    two spellings, while two agencies' records often spell it differently."""
    assert compare(replace(TWIN, given_name=one), replace(TWIN, given_name=other)).same_child


def test_the_short_forms_table_never_joins_two_names_given_as_different_names() -> None:
    for one, other in [
        ("Isla", "Isabella"),
        ("Isla", "Bella"),
        ("Leo", "Leon"),
        ("Nathan", "Jonathan"),
        ("Gary", "Gareth"),
        ("Cerys", "Katherine"),
        ("Charles", "Charlotte"),
        ("Oliver", "Olivia"),
        ("Samuel", "Samantha"),
        ("Leonardo", "Leonard"),
    ]:
        assert not are_nicknames(one, other), (one, other)
    assert are_nicknames("Aiden", "Aidan") and are_nicknames("Tomás", "Thomas")


def test_names_fold_accents_case_hyphens_and_letters_without_a_decomposition() -> None:
    assert normalise_name("Łukasz") == normalise_name("lukasz") == "lukasz"
    assert normalise_name("Wójcik") == "wojcik" and normalise_name("Søren") == "soren"
    assert normalise_name("Mary-Jane") == normalise_name("Mary Jane") == "maryjane"
    assert normalise_name("O'Brien") == normalise_name("O Brien") == "obrien"


def test_a_report_that_fits_two_children_held_apart_is_counted_as_neither() -> None:
    oliver, olivia = replace(TWIN, given_name="Oliver"), replace(TWIN, given_name="Olivia")
    ollie = replace(TWIN, given_name="Ollie")
    found = resolve(ollie, [("sub_oliver", oliver), ("sub_olivia", olivia)])
    assert found.same is None
    assert sorted(found.possible) == ["sub_oliver", "sub_olivia"]
    assert all("held apart" in m.reason for m in found.possible.values())
    # one of them on record: the short form is that child
    assert resolve(ollie, [("sub_oliver", oliver)]).same == "sub_oliver"
    # two pupil numbers are two children, whatever a report without one says
    school = [("sub_a", replace(CHILD, upn="A1")), ("sub_b", replace(CHILD, upn="B2"))]
    assert resolve(CHILD, school).same is None


def test_resolve_counts_the_same_child_and_lists_the_possible_others() -> None:
    twin = replace(CHILD, given_name="Wiliam")  # a twin, or a misspelling: not counted
    elsewhere = replace(CHILD, postcode="PL4 8AA")
    other = replace(CHILD, given_name="Oliver")
    found = resolve(
        CHILD, [("sub_me", CHILD), ("sub_w", twin), ("sub_e", elsewhere), ("sub_o", other)]
    )
    assert found.same == "sub_me"
    assert sorted(found.possible) == ["sub_e", "sub_w"]
    assert all(m.outcome is Outcome.POSSIBLE for m in found.possible.values())
    alone = resolve(CHILD, [("sub_w", twin)])
    assert alone.same is None and list(alone.possible) == ["sub_w"]


def test_a_shared_pupil_number_decides_and_a_different_one_rules_out() -> None:
    school = replace(CHILD, given_name="Liam", family_name="Smithson", upn="A123")
    assert compare(replace(CHILD, upn="A123"), school).same_child
    assert not compare(replace(CHILD, upn="B999"), school).same_child


def test_nicknames_and_transposed_dates() -> None:
    assert are_nicknames("Bill", "william") and are_nicknames("Dai", "David")
    assert not are_nicknames("Bill", "Robert")
    assert dob_agreement(date(2017, 3, 9), date(2017, 9, 3)) == "transposed"
    assert dob_agreement(date(2017, 3, 9), date(2016, 9, 3)) is None


def test_best_match_picks_the_closest_candidate_and_breaks_ties_by_key() -> None:
    candidates = [
        ("sub_b", replace(CHILD, family_name="Smyth", postcode="EX1 9ZZ")),
        ("sub_a", replace(CHILD, postcode="EX1 1AA")),
        ("sub_c", replace(CHILD, date_of_birth=date(2011, 1, 1))),
    ]
    assert best_match(CHILD, candidates) == "sub_a"
    assert best_match(CHILD, [("sub_z", CHILD), ("sub_y", CHILD)]) == "sub_y"
    assert best_match(CHILD, candidates[2:]) is None


def test_children_of_one_household_are_linked_by_a_person_in_common() -> None:
    mum = Person("Sarah", "Smith", date(1988, 1, 2))
    sister = HouseholdView(Identity("Ella", "Smith", date(2019, 5, 5), "EX1 1AA"), [mum])
    assert same_household(HouseholdView(CHILD, [mum]), sister)
    # a police report naming the sister among the children present
    assert same_household(
        HouseholdView(CHILD, [Person("Ella", "Smith")]), HouseholdView(sister.child)
    )
    # the same postcode alone (a block of flats) is not a household
    assert not same_household(HouseholdView(CHILD), HouseholdView(sister.child))
    # the same mother's name at another address is not this household
    elsewhere = HouseholdView(replace(sister.child, postcode="EX2 2BB"), [mum])
    assert not same_household(HouseholdView(CHILD, [mum]), elsewhere)
