"""The family in the round: is this report about a child we already know, and who
lives with them? Pure functions over plain identities, tested directly.

A police report and a school concern name the same child differently: typos
("Smyth"), short forms ("Billy" for William), given and family names swapped, accents,
hyphens and spaces, a date of birth with day and month transposed. Names are folded
(accents, case, hyphens, spaces and apostrophes dropped) and then agree in one of
three ways: they are one name; one is a known short form or spelling of the other
(the shipped table, `data/nicknames.json`); or they are merely alike (Jaro-Winkler,
which forgives the typos people make near the end of a name).

Merging two children is worse than missing a link: it mixes one child's history into
another's decision (three concerns about one twin escalated the other's first
referral). So `compare` has three outcomes:

- SAME, the same child: counted. The earlier reports are this child's history (the
  cumulative rules, "known to the hub").
- POSSIBLE, perhaps the same child: the link rests on likeness, not agreement. Shown
  to a practitioner with the decision, to confirm; never counted.
- DIFFERENT: not the same child.

The rules, in order:

1. Both reports carry a unique pupil number: the same number is the same child, and
   a different one a different child, whatever the names say.
2. The dates of birth must be the same, or the same with day and month transposed.
3. Both names must be at least alike, in whichever order fits (given and family names
   may be swapped): given names GIVEN_FLOOR, family names FAMILY_FLOOR. Read swapped,
   which pair holds the given names is unknown, so a pair only alike is taken for the
   given names (unless the other pair is a known short form, which only given names
   are): "Smith Louise" is not counted as Louis Smith.
4. Each of these is a doubt:
   - the given names are only alike: not one name, nor a known short form or spelling
     of one name ("Louis"/"Louise", "Milo"/"Mila", a misspelt "Wiliam");
   - the family names are only alike ("Smith"/"Smyth"). A family name with a whole
     part in common ("Smith-Jones"/"Jones", a particle such as "van" aside) is not a
     doubt: a family name gains or loses a barrel, and twins share theirs anyway;
   - day and month of birth are transposed;
   - the postcodes are in different districts (a move, or a namesake);
   - a report has no postcode.
5. SAME: the given names are one name (or a known short form or spelling of it), the
   postcodes are not in different districts, and there is at most one doubt. So a
   misspelt family name needs the same district behind it, and so does a transposed
   date of birth (with both names agreeing).
6. POSSIBLE: not SAME, at most two doubts, and at least one of the names agrees (one
   name, a short form, a part in common). Anything weaker is DIFFERENT.

Given names that are only alike are never counted, at any address. The same date of
birth at the same address is exactly where twins live, and twins' names are often one
letter apart ("Louis"/"Louise", "Ellis"/"Ellie", "Milo"/"Mila"); twins also move, and
one report may carry an old address, so the rule cannot rest on the postcode. The
letters cannot tell a twin from a typo; a practitioner who knows the family can, so a
misspelt given name is shown as POSSIBLE rather than lost.

Short forms and spellings in the shipped table are one name: "Aiden" and "Aidan",
"Mohammed" and "Muhammad" are one name spelled two ways (parents do not give twins one
name in two spellings; two agencies' records often do). The table never puts together
two names parents give as different names (Isla is not Isabella, Leon is not Leo).

`resolve` picks the child a report is about among many: the best SAME, unless the
report is SAME to two children held apart (no report of one is SAME to a report of the
other: "Ollie" beside twins Oliver and Olivia, or two pupil numbers); then it is
counted as neither and both are POSSIBLE. A short form of two names beside only one
of them on record is that child: reports do not carry the child's sex, and without
it nothing better can be said.

A practitioner who knows the family has the last word (`Verdicts`, passed in as data:
this module reads no table). Two identities a practitioner split are DIFFERENT, and
two they confirmed are SAME, whatever the names, dates and pupil numbers say; a
verdict is about the identities as the reports named the child, so it holds for every
later report that names the child exactly so. `judge` is `compare` with the verdicts
first; `resolve` judges. A verdict changes later reports only: a decision already made
is never decided again.

Households are a rule of their own (`same_household`: the same full postcode and a
person in common), never a POSSIBLE match. Precision and recall on generated data
(twins, siblings, namesakes; the reports' usual noise) are measured, with bounds, by
tests/services/triage/test_matching_evaluation.py.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from functools import cache
from importlib import resources

from rapidfuzz.distance import JaroWinkler

# Thresholds for Jaro-Winkler similarity (0..1). A typo in a 5-letter name scores
# about 0.89 ("smith"/"smyth"). Names scoring above the given-name floor are only ever
# "alike" (never counted): twins' names reach 0.97 ("louis"/"louise").
GIVEN_FLOOR = 0.88
FAMILY_FLOOR = 0.85
MEMBER_FLOOR = 0.90

# Parts of a family name that many unrelated families share: a part in common must be
# more than one of these.
PARTICLES = frozenset(
    {"al", "ap", "bin", "binti", "bint", "da", "das", "de", "del", "della", "den", "der",
     "di", "do", "dos", "du", "el", "la", "le", "mac", "mc", "st", "van", "von"}
)  # fmt: skip


class Outcome(StrEnum):
    SAME = "same"  # the same child: counted
    POSSIBLE = "possible"  # perhaps the same child: shown to a practitioner, not counted
    DIFFERENT = "different"


class Agreement(StrEnum):
    """How two names agree, strongest first."""

    ONE_NAME = "one name"  # the same after folding
    SHORT_FORM = "short form"  # given names: a known short form or spelling of one name
    SHARED_PART = "shared part"  # family names: a whole part in common (Smith-Jones, Jones)
    ALIKE = "alike"  # only similar letters
    UNLIKE = "unlike"


AGREES = frozenset({Agreement.ONE_NAME, Agreement.SHORT_FORM, Agreement.SHARED_PART})
_RANK = {
    Agreement.ONE_NAME: 3,
    Agreement.SHORT_FORM: 2,
    Agreement.SHARED_PART: 2,
    Agreement.ALIKE: 1,
    Agreement.UNLIKE: 0,
}
_OUTCOME_RANK = {Outcome.SAME: 2, Outcome.POSSIBLE: 1, Outcome.DIFFERENT: 0}


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
    """`compare`'s answer: the outcome, a score to rank candidates by, the evidence in
    words, and the doubts among it, each in a few words (no names: it is shown with the
    decision). The outcome and its doubts are the confidence a practitioner reads; the
    score only ranks candidates against one another."""

    outcome: Outcome
    score: float
    reason: str
    doubts: tuple[str, ...] = ()

    @property
    def same_child(self) -> bool:
        """Counted as the same child."""
        return self.outcome is Outcome.SAME

    @property
    def possible(self) -> bool:
        """Perhaps the same child: for a practitioner to confirm, never counted."""
        return self.outcome is Outcome.POSSIBLE


# Letters NFKD does not take apart into a base letter and an accent (Łukasz, Søren).
_UNFOLDED = str.maketrans(
    {"ł": "l", "Ł": "L", "ø": "o", "Ø": "O", "đ": "d", "Đ": "D", "\u0131": "i", "ß": "ss",
     "æ": "ae", "Æ": "AE", "œ": "oe", "Œ": "OE", "þ": "th", "Þ": "TH", "ð": "d", "Ð": "D"}
)  # fmt: skip


def normalise_name(name: str) -> str:
    """Lower case, accents folded, only letters kept (spaces, hyphens and apostrophes
    dropped)."""
    folded = unicodedata.normalize("NFKD", name.translate(_UNFOLDED))
    folded = folded.encode("ascii", "ignore").decode()
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
            groups.setdefault(normalise_name(name), set()).add(index)
    return {name: frozenset(ids) for name, ids in groups.items()}


def are_nicknames(a: str, b: str) -> bool:
    """Two given names are forms of one name (William, Will, Bill, Liam...) or
    spellings of one name (Aidan, Aiden)."""
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
    parts = [
        float(JaroWinkler.similarity(x, y))
        for x in name_tokens(a)
        for y in name_tokens(b)
        if x not in PARTICLES and y not in PARTICLES
    ]
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


def given_agreement(a: str, b: str) -> tuple[Agreement, float]:
    """How two given names agree, with their similarity."""
    x, y = normalise_name(a), normalise_name(b)
    if x and x == y:
        return Agreement.ONE_NAME, 1.0
    if are_nicknames(x, y):
        return Agreement.SHORT_FORM, 1.0
    score = float(JaroWinkler.similarity(x, y))
    return (Agreement.ALIKE if score >= GIVEN_FLOOR else Agreement.UNLIKE), score


def family_agreement(a: str, b: str) -> tuple[Agreement, float]:
    """How two family names agree, with their similarity."""
    x, y = normalise_name(a), normalise_name(b)
    if x and x == y:
        return Agreement.ONE_NAME, 1.0
    if (set(name_tokens(a)) & set(name_tokens(b))) - PARTICLES:
        return Agreement.SHARED_PART, 0.97
    score = family_similarity(a, b)
    return (Agreement.ALIKE if score >= FAMILY_FLOOR else Agreement.UNLIKE), score


@dataclass(frozen=True)
class NameAgreement:
    given: Agreement
    family: Agreement
    given_score: float
    family_score: float
    swapped: bool = False

    @property
    def mean(self) -> float:
        return (self.given_score + self.family_score) / 2


def name_agreement(a: Identity, b: Identity) -> NameAgreement:
    """How the names agree: as written, or swapped (one report put the given name in
    the family name's field), whichever agrees more; as written on a tie."""
    given, given_score = given_agreement(a.given_name, b.given_name)
    family, family_score = family_agreement(a.family_name, b.family_name)
    straight = NameAgreement(given, family, given_score, family_score)
    swapped = _swapped_agreement((a.given_name, b.family_name), (a.family_name, b.given_name))
    return max(
        (straight, swapped),
        key=lambda n: (_RANK[n.given] + _RANK[n.family], not n.swapped),
    )


def _swapped_agreement(one: tuple[str, str], other: tuple[str, str]) -> NameAgreement:
    """Names read swapped pair a's given name with b's family name and the other way
    round; which pair holds the given names is not known (either report may be the one
    that swapped them). A pair that is a known short form is the given names, and a
    pair with a part in common the family names; otherwise the pair that agrees less
    is taken for the given names, so a pair of names only alike is never read as the
    family names to count twins as one child ("Louis Smith", "Smith Louise"). Either
    report first gives the same reading."""

    def given_first(pair: tuple[str, str]) -> tuple[bool, bool, int, float, list[str]]:
        kind, score = given_agreement(*pair)
        shared = family_agreement(*pair)[0] is Agreement.SHARED_PART
        return (kind is not Agreement.SHORT_FORM, shared, _RANK[kind], score, sorted(pair))

    pairs = [one, other]
    at = min((0, 1), key=lambda i: given_first(pairs[i]))
    g, g_score = given_agreement(*pairs[at])
    f, f_score = family_agreement(*pairs[1 - at])
    return NameAgreement(g, f, g_score, f_score, swapped=True)


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


def address_agreement(a: Identity, b: Identity) -> str:
    """ "postcode" (the same), "district" (the same postcode district), "elsewhere"
    (different districts) or "unknown" (a report has none)."""
    if not a.postcode or not b.postcode:
        return "unknown"
    if a.postcode.replace(" ", "").upper() == b.postcode.replace(" ", "").upper():
        return "postcode"
    if a.district == b.district:
        return "district"
    return "elsewhere"


_GIVEN_WORDS = {
    Agreement.ONE_NAME: "the same given name",
    Agreement.SHORT_FORM: "given names a short form or spelling of one name",
}
_FAMILY_WORDS = {
    Agreement.ONE_NAME: "the same family name",
    Agreement.SHARED_PART: "a part of the family name in common",
}
_PLACE_WORDS = {
    "postcode": "the same postcode",
    "district": "the same postcode district",
    "elsewhere": "postcodes in different districts",
    "unknown": "no postcode on one report",
}


def compare(a: Identity, b: Identity) -> Match:
    """Whether two identities are the same child (SAME), perhaps (POSSIBLE) or not
    (DIFFERENT), with a score to rank candidates and the evidence in words."""
    if a.upn and b.upn:
        if a.upn == b.upn:
            return Match(Outcome.SAME, 2.0, "the same unique pupil number")
        return Match(Outcome.DIFFERENT, 0.0, "different unique pupil numbers")
    dob = dob_agreement(a.date_of_birth, b.date_of_birth)
    if dob is None:
        return Match(Outcome.DIFFERENT, 0.0, "dates of birth differ")
    names = name_agreement(a, b)
    place = address_agreement(a, b)
    score = (
        names.mean
        + {"postcode": 0.07, "district": 0.05}.get(place, 0.0)
        - (0.05 if dob == "transposed" else 0.0)
    )
    if names.given is Agreement.UNLIKE:
        return Match(Outcome.DIFFERENT, score, "given names differ")
    if names.family is Agreement.UNLIKE:
        return Match(Outcome.DIFFERENT, score, "family names differ")

    evidence = ["the same date of birth" if dob == "exact" else "day and month of birth transposed"]
    doubts: list[str] = [] if dob == "exact" else ["day and month transposed"]
    if names.given is Agreement.ALIKE:
        evidence.append(f"given names only alike ({names.given_score:.2f}), not one name")
        doubts.append("given name only alike")
    else:
        evidence.append(_GIVEN_WORDS[names.given])
    if names.family is Agreement.ALIKE:
        evidence.append(f"family names only alike ({names.family_score:.2f})")
        doubts.append("family name only alike")
    else:
        evidence.append(_FAMILY_WORDS[names.family])
    if names.swapped:
        evidence.append("given and family names swapped")
    evidence.append(_PLACE_WORDS[place])
    if place in ("elsewhere", "unknown"):
        doubts.append(_PLACE_WORDS[place])
    said = "; ".join(evidence)
    found = tuple(doubts)

    if names.given in AGREES and place != "elsewhere" and len(found) <= 1:
        return Match(Outcome.SAME, score, said, found)
    if len(found) <= 2 and (names.given in AGREES or names.family in AGREES):
        if dob == "exact" and place == "postcode" and names.given is Agreement.ALIKE:
            said += " (twins live like this: a twin, or a misspelt name)"
        elif place == "elsewhere":
            said += " (a move, or a namesake)"
        return Match(Outcome.POSSIBLE, score, said, found)
    return Match(Outcome.DIFFERENT, score, f"{said}: too little agrees", found)


class Verdict(StrEnum):
    """A practitioner's word on two identities."""

    CONFIRM = "confirm"  # the same child: counted, whatever matching would say
    SPLIT = "split"  # not the same child: never merged, whatever matching would say


@dataclass(frozen=True)
class Verdicts:
    """Practitioners' verdicts on pairs of identities (as two reports named a child),
    the latest for each pair."""

    pairs: Mapping[frozenset[Identity], Verdict] = field(default_factory=dict)

    @classmethod
    def given(cls, said: Iterable[tuple[Identity, Identity, Verdict]]) -> Verdicts:
        """Verdicts from (identity, identity, verdict) in the order they were given: a
        later verdict on a pair replaces an earlier one."""
        return cls({frozenset((a, b)): verdict for a, b, verdict in said})

    def on(self, a: Identity, b: Identity) -> Verdict | None:
        """The verdict on this pair, if a practitioner gave one."""
        return self.pairs.get(frozenset((a, b)))


NO_VERDICTS = Verdicts()


def judge(a: Identity, b: Identity, verdicts: Verdicts = NO_VERDICTS) -> Match:
    """`compare`, unless a practitioner has said: split is DIFFERENT and confirmed is
    SAME (scored above any likeness, as a pupil number is), whatever the details say."""
    said = verdicts.on(a, b)
    if said is Verdict.SPLIT:
        return Match(Outcome.DIFFERENT, 0.0, "split by a practitioner: not the same child")
    if said is Verdict.CONFIRM:
        return Match(Outcome.SAME, 2.0, "confirmed by a practitioner as the same child")
    return compare(a, b)


@dataclass(frozen=True)
class Resolution:
    """Which known child a report is about (`same`, counted), and the children it may
    be about (`possible`, each with its strongest match: shown, never counted)."""

    same: str | None
    possible: dict[str, Match] = field(default_factory=dict)


def resolve(
    identity: Identity,
    candidates: Iterable[tuple[str, Identity]],
    verdicts: Verdicts = NO_VERDICTS,
) -> Resolution:
    """The child (key) among `candidates` (key, how one report named that child) that
    this identity is: the best-scoring SAME (ties by key). When it is SAME to children
    held apart (no identity of one is SAME to an identity of the other), it is counted
    as none of them; every child it may be, and is not counted as, is POSSIBLE. Every
    pair is judged with the practitioners' `verdicts` (`judge`)."""
    named: dict[str, list[Identity]] = {}
    best: dict[str, Match] = {}
    for key, candidate in candidates:
        named.setdefault(key, []).append(candidate)
        match = judge(identity, candidate, verdicts)
        held = best.get(key)
        if held is None or (_OUTCOME_RANK[match.outcome], match.score) > (
            _OUTCOME_RANK[held.outcome],
            held.score,
        ):
            best[key] = match
    same = sorted(key for key, match in best.items() if match.same_child)
    chosen: str | None = None
    apart = len(_held_together(same, named, verdicts)) > 1
    if same and not apart:
        top = max(best[key].score for key in same)
        chosen = min(key for key in same if best[key].score == top)
    possible: dict[str, Match] = {}
    for key in sorted(best):
        match = best[key]
        if key == chosen or match.outcome is Outcome.DIFFERENT:
            continue
        if match.same_child:
            note = (
                "it also fits another child held apart from this one"
                if apart
                else "recorded as another child"
            )
            match = Match(Outcome.POSSIBLE, match.score, f"{match.reason}; {note}", match.doubts)
        possible[key] = match
    return Resolution(chosen, possible)


def _held_together(
    keys: Sequence[str], named: dict[str, list[Identity]], verdicts: Verdicts
) -> list[set[str]]:
    """`keys` grouped by SAME links between any of their identities."""
    groups: list[set[str]] = []
    for key in keys:
        joined = [
            g
            for g in groups
            if any(
                judge(mine, theirs, verdicts).same_child
                for other in g
                for mine in named[key]
                for theirs in named[other]
            )
        ]
        merged = {key}.union(*joined)
        groups = [g for g in groups if g not in joined] + [merged]
    return groups


def best_match(identity: Identity, candidates: Iterable[tuple[str, Identity]]) -> str | None:
    """The key of the candidate that is the same child (counted), if any."""
    return resolve(identity, candidates).same


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
