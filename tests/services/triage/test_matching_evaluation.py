"""Matching evaluated on labelled, generated data: how often "the same child" (counted)
is right (precision), how many true pairs it counts (recall), and how many land as
"possible" (shown to a practitioner, not counted).

Two seeded sets, so the figures are stable:

- The hard set: pairs built one by one. Same-child variants as reports really differ
  (typos, short forms and spellings, swapped names, accents, hyphens and apostrophes,
  a transposed date of birth, a move, no postcode, a pupil number on both), and
  different children that look alike: twins at one address with names one letter
  apart or similar, siblings at one address, namesakes elsewhere (the same name and
  date of birth in another district), cousins with alike names born the same day.
  Two spellings of one name (Aiden and Aidan, Mohammed and Muhammad) are a same-child
  variant, not twins: parents do not give twins one name spelled two ways, and two
  agencies' records often spell a name differently.
- The population set: 300 children, with twins, siblings and namesakes among them,
  each reported one to three times with noise; every pair of reports is compared.

Print the figures with
`.venv/bin/pytest -q -s -p no:cacheprovider tests/services/triage/test_matching_evaluation.py`
or `.venv/bin/python -m tests.services.triage.test_matching_evaluation`.

Precision is held at 0.99 or more and no twins are ever counted as one child: a
false link mixes one child's history into another's decision. Recall bounds sit a few
points under what the rules achieve, so a regression either way fails; a true pair
missed by the counted rule is most often shown as "possible" instead (a misspelt
given name looks exactly like a twin's), which the "shown" figure measures.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from itertools import combinations

from services.triage.matching import Identity, Outcome, compare

SEED = 20261127

GIVEN = [
    "William", "Oliver", "Olivia", "Amelia", "Isla", "Jack", "Jacob", "Harry", "Charlotte",
    "Sophia", "Thomas", "James", "Mohammed", "Noah", "Ava", "Mia", "Ella", "Freddie", "Leo",
    "Alfie", "Grace", "Evie", "Poppy", "Archie", "Joshua", "Daniel", "Rebecca", "Elizabeth",
    "Samuel", "Katherine", "Michael", "Emily", "Dylan", "Cerys", "Ffion", "Rhys", "Osian",
    "Megan", "Aisha", "Zara", "Yusuf", "Ibrahim", "Maja", "Jakub", "Ewan", "Ruby", "Lily",
    "Aidan", "Jayden", "Matilda", "Alexander", "Benjamin", "Edward", "Theodore", "Zoë",
    "Siân", "Łukasz", "Chloé", "Mary-Jane", "Lily-Mae", "Dafydd", "Nathaniel", "Florence",
]  # fmt: skip
FAMILY = [
    "Smith", "Jones", "Williams", "Taylor", "Brown", "Davies", "Evans", "Wilson", "Thomas",
    "Johnson", "Roberts", "Robinson", "Thompson", "Wright", "Walker", "White", "Edwards",
    "Hughes", "Green", "Hall", "Lewis", "Harris", "Clarke", "Patel", "Jackson", "Wood",
    "Turner", "Martin", "Cooper", "Hill", "Ward", "Morris", "Moore", "Khan", "Ahmed",
    "Nowak", "Kowalski", "Price", "Morgan", "Rees", "Pritchard", "Llewellyn", "O'Brien",
    "Wójcik", "Smith-Jones", "Ap Rhys", "Müller", "Nuñez", "Van der Berg", "McDonald",
]  # fmt: skip
# Short forms as practitioners see them in records; a few the shipped table does not
# hold ("Mo", "Bea"), because real reports use them too.
SHORT = {
    "William": ["Billy", "Will", "Liam"], "Thomas": ["Tom", "Tommy"], "James": ["Jamie", "Jim"],
    "Daniel": ["Danny", "Dan"], "Rebecca": ["Becky", "Becca"], "Elizabeth": ["Libby", "Beth"],
    "Samuel": ["Sam"], "Katherine": ["Katie", "Kate"], "Michael": ["Mikey", "Mike"],
    "Charlotte": ["Lottie", "Charlie"], "Oliver": ["Ollie"], "Harry": ["Henry"],
    "Jacob": ["Jake"], "Emily": ["Millie"], "Alexander": ["Alex"], "Benjamin": ["Ben"],
    "Edward": ["Ted", "Eddie"], "Theodore": ["Theo"], "Matilda": ["Tilly"],
    "Joshua": ["Josh"], "Freddie": ["Fred"], "Florence": ["Flo"], "Nathaniel": ["Nate"],
    "Mohammed": ["Mo"], "Beatrice": ["Bea"], "Dafydd": ["Dai"], "Amelia": ["Millie"],
}  # fmt: skip
SPELLING = {
    "Aidan": "Aiden", "Mohammed": "Muhammad", "Jayden": "Jaden", "Lily": "Lilly",
    "Maja": "Maya", "Thomas": "Tomas", "Isaac": "Isaak", "Zoë": "Zoey", "Ella": "Ella",
}  # fmt: skip
UNACCENTED = {"Zoë": "Zoe", "Siân": "Sian", "Łukasz": "Lukasz", "Chloé": "Chloe",
              "Wójcik": "Wojcik", "Müller": "Muller", "Nuñez": "Nunez"}  # fmt: skip
# Twins' names: one letter apart, or alike enough to pass for a typo of each other.
TWINS = [
    ("Jack", "Jake"), ("Oliver", "Olivia"), ("Isla", "Ella"), ("Louis", "Louise"),
    ("Milo", "Mila"), ("Leon", "Leona"), ("Ellis", "Ellie"), ("Harley", "Harvey"),
    ("Alfie", "Albie"), ("Evan", "Ewan"), ("Ava", "Eva"), ("Daniel", "Daniela"),
    ("Francis", "Frances"), ("Mason", "Jason"), ("Noah", "Nora"), ("Ruby", "Rory"),
    ("Elsie", "Ellie"), ("Lacey", "Lucy"), ("Amelia", "Amelie"), ("Rosie", "Josie"),
    ("Molly", "Polly"), ("Tyler", "Taylor"), ("Carys", "Cerys"), ("Lola", "Lila"),
    ("Isla", "Isabella"), ("Leo", "Leon"), ("Ellie", "Elle"), ("Lily", "Lola"),
]  # fmt: skip
DISTRICTS = ["EX1", "EX2", "EX4", "PL1", "PL4", "TQ1", "CF10", "CF24", "SA1", "NP20"]


def _postcode(rng: random.Random, district: str) -> str:
    letters = "ABDEFGHJLNPQRSTUWXYZ"
    return f"{district} {rng.randint(1, 9)}{rng.choice(letters)}{rng.choice(letters)}"


def _typo(rng: random.Random, name: str) -> str:
    """One keyboard slip inside the name (never its first letter): a letter replaced,
    dropped, doubled, or two swapped."""
    if len(name) < 4:
        return name
    i = rng.randrange(1, len(name) - 1)
    kind = rng.choice(["substitute", "delete", "double", "swap"])
    if kind == "substitute":
        return name[:i] + rng.choice([c for c in "aeiouyr" if c != name[i]]) + name[i + 1 :]
    if kind == "delete":
        return name[:i] + name[i + 1 :]
    if kind == "double":
        return name[:i] + name[i] + name[i:]
    if name[i - 1] == name[i]:
        return name[:i] + name[i + 1 :]
    return name[: i - 1] + name[i] + name[i - 1] + name[i + 1 :]


def _born(rng: random.Random, *, transposable: bool = False) -> date:
    while True:
        dob = date(2008, 1, 1) + timedelta(days=rng.randrange(365 * 17))
        if not transposable or (dob.day <= 12 and dob.day != dob.month):
            return dob


def _child(rng: random.Random, *, transposable: bool = False) -> Identity:
    return Identity(
        rng.choice(GIVEN),
        rng.choice(FAMILY),
        _born(rng, transposable=transposable),
        _postcode(rng, rng.choice(DISTRICTS)),
        None,
    )


def _other_district(rng: random.Random, postcode: str | None) -> str:
    here = postcode.split(" ")[0] if postcode else None
    return _postcode(rng, rng.choice([d for d in DISTRICTS if d != here]))


@dataclass(frozen=True)
class Pair:
    kind: str
    same_child: bool
    a: Identity
    b: Identity


# ---- same-child variants ---------------------------------------------------------
# Each takes a child and gives how another report named them (None: not applicable).

Variant = Callable[[random.Random, Identity], Identity | None]


def _short_form(rng: random.Random, c: Identity) -> Identity | None:
    forms = SHORT.get(c.given_name)
    return replace(c, given_name=rng.choice(forms)) if forms else None


def _spelling(rng: random.Random, c: Identity) -> Identity | None:
    other = SPELLING.get(c.given_name)
    return replace(c, given_name=other) if other and other != c.given_name else None


def _unaccented(rng: random.Random, c: Identity) -> Identity | None:
    given = UNACCENTED.get(c.given_name, c.given_name)
    family = UNACCENTED.get(c.family_name, c.family_name)
    if (given, family) == (c.given_name, c.family_name):
        return None
    return replace(c, given_name=given, family_name=family)


def _rewritten(rng: random.Random, name: str) -> str:
    """A name written another way: hyphen as a space or dropped, apostrophe dropped or a
    space, spaces as hyphens."""
    if "-" in name:
        return rng.choice([name.replace("-", " "), name.replace("-", "")])
    if "'" in name:
        return rng.choice([name.replace("'", ""), name.replace("'", " ")])
    return name.replace(" ", "-")


def _hyphenation(rng: random.Random, c: Identity) -> Identity | None:
    if any(mark in c.given_name for mark in "-' "):
        return replace(c, given_name=_rewritten(rng, c.given_name))
    if any(mark in c.family_name for mark in "-' "):
        return replace(c, family_name=_rewritten(rng, c.family_name))
    return None


def _dropped_barrel(rng: random.Random, c: Identity) -> Identity | None:
    parts = c.family_name.replace("-", " ").split()
    if "-" not in c.family_name or len(parts) < 2:
        return None
    return replace(c, family_name=rng.choice(parts))


def _transposed(rng: random.Random, c: Identity) -> Identity | None:
    d = c.date_of_birth
    if d.day > 12 or d.day == d.month:
        return None
    return replace(c, date_of_birth=date(d.year, d.day, d.month))


def _upn_and_noise(rng: random.Random, c: Identity) -> Identity | None:
    """Both reports from schools: the pupil number decides, whatever else differs."""
    return replace(
        c, given_name=_typo(rng, c.given_name), postcode=_other_district(rng, c.postcode)
    )


def _case(rng: random.Random, c: Identity) -> Identity:
    return replace(c, given_name=c.given_name.upper(), family_name=c.family_name.lower())


def _moved(rng: random.Random, c: Identity) -> Identity:
    return replace(c, postcode=_postcode(rng, c.district or "EX1"))


def _moved_away(rng: random.Random, c: Identity) -> Identity:
    return replace(c, postcode=_other_district(rng, c.postcode))


VARIANTS: dict[str, Variant] = {
    "case": _case,
    "typo in the family name": lambda rng, c: replace(c, family_name=_typo(rng, c.family_name)),
    "typo in the given name": lambda rng, c: replace(c, given_name=_typo(rng, c.given_name)),
    "short form": _short_form,
    "spelling of one name": _spelling,
    "names swapped": lambda rng, c: replace(c, given_name=c.family_name, family_name=c.given_name),
    "accents dropped": _unaccented,
    "hyphen, space or apostrophe": _hyphenation,
    "a barrel of the family name dropped": _dropped_barrel,
    "day and month transposed": _transposed,
    "moved within the district": _moved,
    "no postcode on one report": lambda rng, c: replace(c, postcode=None),
    "moved to another district": _moved_away,
    "a pupil number on both": _upn_and_noise,
}  # fmt: skip
# A second difference some variants also carry (reports differ in more than one way).
MILD: dict[str, Variant] = {
    k: VARIANTS[k]
    for k in ("case", "names swapped", "moved within the district", "typo in the family name")
}


def _same_child_pairs(rng: random.Random, per_kind: int) -> Iterator[Pair]:
    for kind, variant in VARIANTS.items():
        made = 0
        while made < per_kind:
            child = _child(rng, transposable=kind == "day and month transposed")
            if kind in ("short form", "spelling of one name"):
                table = SHORT if kind == "short form" else SPELLING
                child = replace(child, given_name=rng.choice(sorted(table)))
            elif kind == "accents dropped":
                child = replace(
                    child,
                    given_name=rng.choice(["Zoë", "Siân", "Łukasz", "Chloé", child.given_name]),
                    family_name=rng.choice(["Wójcik", "Müller", "Nuñez", child.family_name]),
                )
            elif kind == "hyphen, space or apostrophe":
                child = replace(
                    child,
                    family_name=rng.choice(["Smith-Jones", "O'Brien", "Van der Berg", "Ap Rhys"]),
                )
            elif kind == "a barrel of the family name dropped":
                child = replace(child, family_name=rng.choice(["Smith-Jones", "Patel-Khan"]))
            if kind == "a pupil number on both":
                child = replace(child, upn=f"A{rng.randrange(10**12):012d}")
            other = variant(rng, child)
            if other is None or other == child:
                continue
            label = kind
            if kind != "a pupil number on both" and rng.random() < 0.3:
                extra, second = rng.choice(sorted(MILD.items()))
                if extra != kind:
                    other = second(rng, other) or other
                    label = f"{kind} + {extra}"
            made += 1
            yield Pair(label, True, child, other)


# ---- different children who look alike --------------------------------------------


def _different_child_pairs(rng: random.Random, per_kind: int) -> Iterator[Pair]:
    for n in range(per_kind * 3):  # twins: the case that matters most
        first, second = TWINS[n % len(TWINS)]
        a = replace(_child(rng), given_name=first)
        b = replace(a, given_name=second)
        how = rng.random()
        if how < 0.2:  # one report with the twin's old postcode, in the district
            b = replace(b, postcode=_postcode(rng, a.district or "EX1"))
        elif how < 0.3:
            b = replace(b, postcode=None)
        yield Pair("twins at one address", False, a, b)
    for _ in range(per_kind):
        a = _child(rng)
        b = replace(
            a,
            given_name=rng.choice([*GIVEN, _typo(rng, a.given_name)]),
            date_of_birth=a.date_of_birth - timedelta(days=rng.randint(300, 3000)),
        )
        yield Pair("siblings at one address", False, a, b)
    for _ in range(per_kind):
        a = _child(rng)
        b = replace(a, postcode=_other_district(rng, a.postcode))
        yield Pair("namesakes born the same day in another district", False, a, b)
    for _ in range(per_kind):
        a = _child(rng)
        b = replace(
            a,
            postcode=_other_district(rng, a.postcode) if rng.random() < 0.5 else a.postcode,
            date_of_birth=a.date_of_birth + timedelta(days=rng.randint(1, 400)),
        )
        yield Pair("namesakes born another day", False, a, b)
    for _ in range(per_kind):
        a = _child(rng, transposable=True)
        d = a.date_of_birth
        b = replace(
            a, date_of_birth=date(d.year, d.day, d.month), postcode=_other_district(rng, a.postcode)
        )
        yield Pair("namesakes born on the transposed day elsewhere", False, a, b)
    for n in range(per_kind):
        first, second = TWINS[(n * 7) % len(TWINS)]
        a = replace(_child(rng), given_name=first)
        b = replace(a, given_name=second, postcode=_postcode(rng, a.district or "EX1"))
        yield Pair("cousins with alike names born the same day", False, a, b)
    for _ in range(per_kind):
        a = replace(_child(rng), upn=f"A{rng.randrange(10**12):012d}")
        b = replace(a, upn=f"B{rng.randrange(10**12):012d}")
        yield Pair("namesakes at one school with their own pupil numbers", False, a, b)


def hard_set(seed: int = SEED, per_kind: int = 24) -> list[Pair]:
    rng = random.Random(seed)
    return [*_same_child_pairs(rng, per_kind), *_different_child_pairs(rng, per_kind)]


# ---- the figures ---------------------------------------------------------------------


@dataclass
class Figures:
    """Counts of outcomes by truth, overall and by kind of pair."""

    by_kind: dict[str, Counter[Outcome]] = field(default_factory=dict)
    truth: dict[str, bool] = field(default_factory=dict)

    def add(self, kind: str, same_child: bool, outcome: Outcome) -> None:
        self.by_kind.setdefault(kind, Counter())[outcome] += 1
        self.truth[kind] = same_child

    def total(self, same_child: bool) -> Counter[Outcome]:
        total: Counter[Outcome] = Counter()
        for kind, counts in self.by_kind.items():
            if self.truth[kind] == same_child:
                total.update(counts)
        return total

    @property
    def precision(self) -> float:
        """Of the pairs counted as the same child, the share that are."""
        right = self.total(True)[Outcome.SAME]
        return right / (right + self.total(False)[Outcome.SAME])

    @property
    def recall(self) -> float:
        """Of the true pairs, the share counted as the same child."""
        same = self.total(True)
        return same[Outcome.SAME] / same.total()

    @property
    def shown(self) -> float:
        """Of the true pairs, the share counted or shown as possible."""
        same = self.total(True)
        return (same[Outcome.SAME] + same[Outcome.POSSIBLE]) / same.total()

    def report(self, title: str) -> str:
        lines = [title, f"{'pairs':<58}{'n':>7}{'same':>6}{'poss.':>6}{'diff.':>8}"]
        for label, truth in (("same child", True), ("different children", False)):
            lines.append(f"-- {label}")
            for kind in sorted(k for k in self.by_kind if self.truth[k] == truth):
                c = self.by_kind[kind]
                lines.append(
                    f"   {kind:<55}{c.total():>7}{c[Outcome.SAME]:>6}"
                    f"{c[Outcome.POSSIBLE]:>6}{c[Outcome.DIFFERENT]:>8}"
                )
        same, different = self.total(True), self.total(False)
        lines += [
            f"same-child pairs {same.total()}: counted {same[Outcome.SAME]}, possible "
            f"{same[Outcome.POSSIBLE]}, missed {same[Outcome.DIFFERENT]}",
            f"different-child pairs {different.total()}: counted {different[Outcome.SAME]}, "
            f"possible {different[Outcome.POSSIBLE]}",
            f"precision of counted {self.precision:.3f}; recall of counted {self.recall:.3f}; "
            f"counted or shown as possible {self.shown:.3f}",
        ]
        return "\n".join(lines)


def evaluate(pairs: list[Pair]) -> Figures:
    figures = Figures()
    for pair in pairs:
        outcome = compare(pair.a, pair.b).outcome
        # Matching must not depend on which report came first.
        assert compare(pair.b, pair.a).outcome is outcome, pair
        figures.add(pair.kind.split(" + ")[0], pair.same_child, outcome)
    return figures


def test_matching_on_the_hard_set_counts_no_twins_and_keeps_precision() -> None:
    pairs = hard_set()
    figures = evaluate(pairs)
    print("\n" + figures.report(f"hard set (seed {SEED})"))
    same, different = figures.total(True), figures.total(False)
    assert same.total() >= 300 and different.total() >= 200, "enough pairs to measure"

    assert figures.by_kind["twins at one address"][Outcome.SAME] == 0
    assert figures.by_kind["cousins with alike names born the same day"][Outcome.SAME] == 0
    assert figures.precision >= 0.99
    # Measured (seed 20261127): precision 1.000, recall 0.821, counted or shown 0.985;
    # no twins counted (34 of 72 twin pairs shown as possible). The rules before this
    # evaluation counted 33 of the 72 twin pairs as one child (precision 0.841).
    assert figures.recall >= 0.78
    assert figures.shown >= 0.95
    # Every report a pupil number, a short form, accents or hyphens explain is counted.
    for kind in (
        "a pupil number on both",
        "accents dropped",
        "hyphen, space or apostrophe",
        "spelling of one name",
    ):
        assert figures.by_kind[kind][Outcome.SAME] == figures.by_kind[kind].total(), kind
    # A misspelt given name is never counted without a pupil number: it looks exactly
    # like a twin's name. It is shown as possible instead.
    typo = figures.by_kind["typo in the given name"]
    assert typo[Outcome.SAME] == 0 and typo[Outcome.POSSIBLE] >= typo.total() * 0.8


# ---- the population set ----------------------------------------------------------------


@dataclass(frozen=True)
class Labelled:
    child: int  # the true child behind the record
    identity: Identity


def population(seed: int = SEED, children: int = 300) -> list[Labelled]:
    """Children with true identities (twins, siblings and namesakes among them), each
    reported one to three times with the noise real reports carry."""
    rng = random.Random(seed)
    truths: list[Identity] = []
    while len(truths) < children:
        base = replace(_child(rng), upn=f"U{len(truths):05d}" if rng.random() < 0.5 else None)
        truths.append(base)
        roll = rng.random()
        if roll < 0.05:  # twins with alike names
            first, second = rng.choice(TWINS)
            truths[-1] = replace(base, given_name=first)
            truths.append(replace(base, given_name=second, upn=None))
        elif roll < 0.10:  # twins
            other = rng.choice([g for g in GIVEN if g != base.given_name])
            truths.append(replace(base, given_name=other, upn=None))
        elif roll < 0.20:  # a sibling
            truths.append(
                replace(
                    base,
                    given_name=rng.choice(GIVEN),
                    date_of_birth=base.date_of_birth - timedelta(days=rng.randint(300, 2500)),
                    upn=None,
                )
            )
        elif roll < 0.25:  # a namesake born the same year, elsewhere
            truths.append(
                replace(
                    base,
                    date_of_birth=base.date_of_birth + timedelta(days=rng.randint(1, 200)),
                    postcode=_postcode(rng, rng.choice(DISTRICTS)),
                    upn=None,
                )
            )
    noises = sorted(k for k in VARIANTS if k != "a pupil number on both")
    records: list[Labelled] = []
    for index, truth in enumerate(truths):
        for copy in range(rng.randint(1, 3)):
            identity = truth
            if copy > 0:
                for _ in range(rng.randint(1, 2)):
                    identity = VARIANTS[rng.choice(noises)](rng, identity) or identity
            # A police report never carries the pupil number; a school's may.
            if rng.random() < 0.5:
                identity = replace(identity, upn=None)
            records.append(Labelled(index, identity))
    return records


def test_matching_on_every_pair_of_a_reported_population() -> None:
    records = population()
    figures = population_figures(records)
    print("\n" + figures.report(f"population set (seed {SEED}, {len(records)} reports)"))
    assert figures.total(True).total() > 200, "enough true pairs to measure"
    assert figures.precision >= 0.99
    # Measured (seed 20261127): precision 1.000, recall 0.742, counted or shown 0.967;
    # 31 of 187,768 pairs of different children shown as possible. The rules before
    # counted 37 such pairs as one child (precision 0.917).
    assert figures.recall >= 0.70
    assert figures.shown >= 0.93
    assert figures.total(False)[Outcome.POSSIBLE] <= 60, "few possibles to check by hand"


def population_figures(records: list[Labelled]) -> Figures:
    figures = Figures()
    for a, b in combinations(records, 2):
        truth = a.child == b.child
        outcome = compare(a.identity, b.identity).outcome
        figures.add("same child" if truth else "different children", truth, outcome)
    return figures


if __name__ == "__main__":
    print(evaluate(hard_set()).report(f"hard set (seed {SEED})"))
    records = population()
    print(population_figures(records).report(f"population set ({len(records)} reports)"))
