"""The family in the round: is this report about a child we already know, and who
lives with them? Pure functions over plain identities, tested directly.

A police report and a school concern name the same child differently: typos
("Smyth"), short forms ("Billy" for William), given and family names swapped, a date
of birth with day and month transposed. Names are compared with Jaro-Winkler (which
forgives the typos people make near the end of a name) after folding accents and
case, with a shipped table of short forms; the date of birth must agree (exactly, or
transposed) and the address or the pupil number must back the names up.

Merging two children by mistake is worse than missing a link: it mixes one child's
history into another's decision. So every rule below needs the date of birth, and a
looser name needs a postcode or UPN beside it; twins (same birthday, same address)
are told apart by requiring the given names themselves to be close.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from importlib import resources

from rapidfuzz.distance import JaroWinkler

# Thresholds for Jaro-Winkler similarity (0..1). A typo in a 5-letter name scores
# about 0.89 ("smith"/"smyth"); twins' given names often score 0.85-0.87
# ("oliver"/"olivia", "jack"/"jake"), hence the given-name floor above that.
GIVEN_FLOOR = 0.88
FAMILY_FLOOR = 0.85
# Without a shared postcode district, only near-identical names (exact DOB) link.
NAMES_ALONE = 0.96
# A transposed date of birth is weaker evidence: both names must be close, same district.
TRANSPOSED_FLOOR = 0.92
MEMBER_FLOOR = 0.90


@dataclass(frozen=True)
class Identity:
    """Who a report is about, as matching sees it."""

    given_name: str
    family_name: str
    date_of_birth: date
    postcode: str | None = None
    upn: str | None = None

    @property
    def district(self) -> str | None:
        return self.postcode.split(" ")[0] if self.postcode else None


@dataclass(frozen=True)
class Match:
    same_child: bool
    score: float
    reason: str


def normalise_name(name: str) -> str:
    """Lower case, accents folded, only letters kept (spaces and hyphens dropped)."""
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return "".join(ch for ch in folded.lower() if ch.isalnum())


def name_tokens(name: str) -> list[str]:
    """A double-barrelled or multi-part name as its parts, normalised."""
    parts = [normalise_name(p) for p in name.replace("-", " ").split()]
    return [p for p in parts if p]


@cache
def _nickname_groups() -> dict[str, frozenset[int]]:
    text = resources.files("services.triage").joinpath("data/nicknames.json").read_text()
    groups: dict[str, set[int]] = {}
    for index, names in enumerate(json.loads(text)["groups"]):
        for name in names:
            groups.setdefault(name, set()).add(index)
    return {name: frozenset(ids) for name, ids in groups.items()}


def are_nicknames(a: str, b: str) -> bool:
    """Two given names are forms of one name (William, Will, Bill, Liam...)."""
    groups = _nickname_groups()
    return bool(groups.get(normalise_name(a), frozenset()) & groups.get(normalise_name(b), set()))


def given_similarity(a: str, b: str) -> float:
    """1.0 for forms of one name, else Jaro-Winkler over the normalised names."""
    if are_nicknames(a, b):
        return 1.0
    return float(JaroWinkler.similarity(normalise_name(a), normalise_name(b)))


def family_similarity(a: str, b: str) -> float:
    """Jaro-Winkler over the whole names, or over their parts (Smith-Jones ~ Jones)."""
    whole = float(JaroWinkler.similarity(normalise_name(a), normalise_name(b)))
    parts = [float(JaroWinkler.similarity(x, y)) for x in name_tokens(a) for y in name_tokens(b)]
    # A shared part counts a little less than the whole name agreeing.
    return max([whole, *(p * 0.97 for p in parts)])


def names_similarity(a: Identity, b: Identity) -> tuple[float, float]:
    """(given, family) similarity, in whichever order the names fit best."""
    straight = (
        given_similarity(a.given_name, b.given_name),
        family_similarity(a.family_name, b.family_name),
    )
    # Swapped: a's given name sits in b's family field, or the other way round; which
    # report swapped them is unknown, so the short-form table is tried on either side.
    swapped_in_b = (
        given_similarity(a.given_name, b.family_name),
        family_similarity(a.family_name, b.given_name),
    )
    swapped_in_a = (
        given_similarity(a.family_name, b.given_name),
        family_similarity(a.given_name, b.family_name),
    )
    return max(straight, swapped_in_b, swapped_in_a, key=lambda pair: (pair[0] + pair[1], pair))


def dob_agreement(a: date, b: date) -> str | None:
    """ "exact", "transposed" (day and month swapped), or None."""
    if a == b:
        return "exact"
    if a.year == b.year and a.day == b.month and a.month == b.day:
        return "transposed"
    return None


def transposed(dob: date) -> date | None:
    """The date with day and month swapped, when that is a date."""
    try:
        swapped = date(dob.year, dob.day, dob.month)
    except ValueError:
        return None
    return None if swapped == dob else swapped


def compare(a: Identity, b: Identity) -> Match:
    """Whether two identities are the same child, with a score to rank candidates."""
    if a.upn and b.upn:
        if a.upn == b.upn:
            return Match(True, 2.0, "same unique pupil number")
        return Match(False, 0.0, "different unique pupil numbers")
    dob = dob_agreement(a.date_of_birth, b.date_of_birth)
    if dob is None:
        return Match(False, 0.0, "dates of birth differ")
    given, family = names_similarity(a, b)
    mean = (given + family) / 2
    same_district = a.district is not None and a.district == b.district
    score = mean + (0.05 if same_district else 0.0) + (0.02 if a.postcode == b.postcode else 0.0)
    if dob == "exact":
        if (
            given >= GIVEN_FLOOR
            and family >= FAMILY_FLOOR
            and (same_district or mean >= NAMES_ALONE)
        ):
            return Match(True, score, f"same date of birth; names {mean:.2f} alike")
        return Match(False, score, f"same date of birth; names only {mean:.2f} alike")
    if given >= TRANSPOSED_FLOOR and family >= TRANSPOSED_FLOOR and same_district:
        return Match(True, score - 0.05, f"day and month transposed; names {mean:.2f} alike")
    return Match(False, score, "day and month transposed; names or address differ")


def best_match(identity: Identity, candidates: Iterable[tuple[str, Identity]]) -> str | None:
    """The key of the candidate that is the same child (the best-scoring; ties by key)."""
    found: list[tuple[float, str]] = []
    for key, candidate in candidates:
        match = compare(identity, candidate)
        if match.same_child:
            found.append((match.score, key))
    if not found:
        return None
    best = max(score for score, _ in found)
    return min(key for score, key in found if score == best)


@dataclass(frozen=True)
class Person:
    given_name: str
    family_name: str
    date_of_birth: date | None = None


@dataclass(frozen=True)
class HouseholdView:
    """A child with the people a report says they live with (and children present)."""

    child: Identity
    members: Sequence[Person] = field(default_factory=tuple)


def _same_person(a: Person, b: Person) -> bool:
    if a.date_of_birth and b.date_of_birth and a.date_of_birth != b.date_of_birth:
        return False
    given, family = names_similarity(
        Identity(a.given_name, a.family_name, date.min),
        Identity(b.given_name, b.family_name, date.min),
    )
    return given >= MEMBER_FLOOR and family >= MEMBER_FLOOR


def same_household(a: HouseholdView, b: HouseholdView) -> bool:
    """Two children live together: the same full postcode, and a person in common
    (a named adult in both households) or one child named in the other's household.

    A shared postcode alone is not enough: a block of flats shares one.
    """
    if not a.child.postcode or a.child.postcode != b.child.postcode:
        return False
    a_child = Person(a.child.given_name, a.child.family_name, a.child.date_of_birth)
    b_child = Person(b.child.given_name, b.child.family_name, b.child.date_of_birth)
    if any(_same_person(m, b_child) for m in a.members):
        return True
    if any(_same_person(m, a_child) for m in b.members):
        return True
    return any(_same_person(x, y) for x in a.members for y in b.members)
