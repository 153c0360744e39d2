"""Matching reports about one child across sources, and children across a household:
the pure functions, and precision and recall on a labelled synthetic data set."""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from datetime import date, timedelta
from itertools import combinations

import pytest

from services.triage.matching import (
    HouseholdView,
    Identity,
    Person,
    are_nicknames,
    best_match,
    compare,
    dob_agreement,
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
]


@pytest.mark.parametrize(("case", "other"), SAME_CHILD, ids=[c for c, _ in SAME_CHILD])
def test_reports_about_the_same_child_match(case: str, other: Identity) -> None:
    assert compare(CHILD, other).same_child
    assert compare(other, CHILD).same_child


@pytest.mark.parametrize(("case", "other"), DIFFERENT_CHILD, ids=[c for c, _ in DIFFERENT_CHILD])
def test_reports_about_different_children_do_not_match(case: str, other: Identity) -> None:
    assert not compare(CHILD, other).same_child


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


# ---- a labelled synthetic data set ---------------------------------------------

GIVEN = [
    "William", "Oliver", "Olivia", "Amelia", "Isla", "Jack", "Jacob", "Harry", "Charlotte",
    "Sophia", "Thomas", "James", "Mohammed", "Noah", "Ava", "Mia", "Ella", "Freddie", "Leo",
    "Alfie", "Grace", "Evie", "Poppy", "Archie", "Joshua", "Daniel", "Rebecca", "Elizabeth",
    "Samuel", "Katherine", "Michael", "Emily", "Dylan", "Cerys", "Ffion", "Rhys", "Osian",
    "Megan", "Aisha", "Zara", "Yusuf", "Ibrahim", "Maja", "Jakub", "Ewan", "Ruby", "Lily",
]  # fmt: skip
FAMILY = [
    "Smith", "Jones", "Williams", "Taylor", "Brown", "Davies", "Evans", "Wilson", "Thomas",
    "Johnson", "Roberts", "Robinson", "Thompson", "Wright", "Walker", "White", "Edwards",
    "Hughes", "Green", "Hall", "Lewis", "Harris", "Clarke", "Patel", "Jackson", "Wood",
    "Turner", "Martin", "Cooper", "Hill", "Ward", "Morris", "Moore", "Khan", "Ahmed",
    "Nowak", "Kowalski", "Price", "Morgan", "Rees", "Pritchard", "Llewellyn", "O'Brien",
]  # fmt: skip
SHORT = {"William": "Billy", "Thomas": "Tom", "James": "Jamie", "Daniel": "Danny",
         "Rebecca": "Becky", "Elizabeth": "Libby", "Samuel": "Sam", "Katherine": "Katie",
         "Michael": "Mikey", "Charlotte": "Lottie", "Oliver": "Ollie", "Harry": "Henry",
         "Jacob": "Jake", "Emily": "Millie"}  # fmt: skip
DISTRICTS = ["EX1", "EX2", "EX4", "PL1", "PL4", "TQ1", "CF10", "CF24", "SA1", "NP20"]


@dataclass(frozen=True)
class Labelled:
    child: int  # the true child behind the record
    identity: Identity


def _typo(rng: random.Random, name: str) -> str:
    if len(name) < 4:
        return name
    i = rng.randrange(1, len(name) - 1)
    kind = rng.choice(["substitute", "delete", "double", "swap"])
    if kind == "substitute":
        return name[:i] + rng.choice("aeiouyr") + name[i + 1 :]
    if kind == "delete":
        return name[:i] + name[i + 1 :]
    if kind == "double":
        return name[:i] + name[i] + name[i:]
    return name[: i - 1] + name[i] + name[i - 1] + name[i + 1 :]


def _postcode(rng: random.Random, district: str) -> str:
    letters = "ABDEFGHJLNPQRSTUWXYZ"
    return f"{district} {rng.randint(1, 9)}{rng.choice(letters)}{rng.choice(letters)}"


def synthetic_records(seed: int = 20261127, children: int = 300) -> list[Labelled]:
    """Children with true identities (including twins, siblings and namesakes, the hard
    cases), each reported one to three times with the noise real reports carry."""
    rng = random.Random(seed)
    truths: list[Identity] = []
    while len(truths) < children:
        dob = date(2008, 1, 1) + timedelta(days=rng.randrange(365 * 17))
        district = rng.choice(DISTRICTS)
        base = Identity(
            rng.choice(GIVEN),
            rng.choice(FAMILY),
            dob,
            _postcode(rng, district),
            f"U{len(truths):05d}" if rng.random() < 0.5 else None,
        )
        truths.append(base)
        roll = rng.random()
        if roll < 0.10:  # a twin: same birthday, surname and address
            other = rng.choice([g for g in GIVEN if g != base.given_name])
            truths.append(replace(base, given_name=other, upn=None))
        elif roll < 0.20:  # a sibling
            truths.append(
                replace(
                    base,
                    given_name=rng.choice(GIVEN),
                    date_of_birth=dob - timedelta(days=rng.randint(300, 2500)),
                    upn=None,
                )
            )
        elif roll < 0.25:  # a namesake born the same year, elsewhere
            truths.append(
                replace(
                    base,
                    date_of_birth=dob.replace(day=min(dob.day, 28))
                    + timedelta(days=rng.randint(1, 200)),
                    postcode=_postcode(rng, rng.choice(DISTRICTS)),
                    upn=None,
                )
            )
    records: list[Labelled] = []
    for index, truth in enumerate(truths):
        for copy in range(rng.randint(1, 3)):
            identity = truth
            if copy > 0:
                for _ in range(rng.randint(1, 2)):
                    noise = rng.choice(
                        [
                            "typo_family",
                            "typo_given",
                            "nickname",
                            "swap",
                            "transpose",
                            "move",
                            "no_upn",
                        ]
                    )
                    if noise == "typo_family":
                        identity = replace(identity, family_name=_typo(rng, identity.family_name))
                    elif noise == "typo_given":
                        identity = replace(identity, given_name=_typo(rng, identity.given_name))
                    elif noise == "nickname" and truth.given_name in SHORT:
                        identity = replace(identity, given_name=SHORT[truth.given_name])
                    elif noise == "swap":
                        identity = replace(
                            identity,
                            given_name=identity.family_name,
                            family_name=identity.given_name,
                        )
                    elif noise == "transpose" and identity.date_of_birth.day <= 12:
                        d = identity.date_of_birth
                        identity = replace(identity, date_of_birth=date(d.year, d.day, d.month))
                    elif noise == "move":
                        district = identity.postcode.split(" ")[0] if identity.postcode else "EX1"
                        identity = replace(identity, postcode=_postcode(rng, district))
                    elif noise == "no_upn":
                        identity = replace(identity, upn=None)
            # A police report never carries the UPN; a school one may.
            if rng.random() < 0.5:
                identity = replace(identity, upn=None)
            records.append(Labelled(index, identity))
    return records


def test_matching_precision_and_recall_on_the_labelled_synthetic_set() -> None:
    """Bounds: precision >= 0.98 and recall >= 0.93 (the rules achieve 1.00 and 0.97).

    Precision is held high because a false link merges two children's histories: one
    child's concerns would raise another's level and be shown to practitioners about
    the wrong child. Recall may be lower: a missed link costs what Signpost did not
    have before (the cumulative view), and the hard cases that cause it here are
    deliberate (two independent faults in one record, such as a transposed date of
    birth plus a family-name typo). The set is seeded, so the figures are stable; the
    bounds sit a few points under what the current rules achieve so a regression in
    either direction fails the test.
    """
    records = synthetic_records()
    tp = fp = fn = 0
    for a, b in combinations(records, 2):
        truth = a.child == b.child
        predicted = compare(a.identity, b.identity).same_child
        tp += truth and predicted
        fp += predicted and not truth
        fn += truth and not predicted
    precision = tp / (tp + fp)
    recall = tp / (tp + fn)
    print(f"pairs: tp={tp} fp={fp} fn={fn} precision={precision:.3f} recall={recall:.3f}")
    assert tp > 200, "the data set must hold enough true pairs to measure"
    assert precision >= 0.98
    assert recall >= 0.93
