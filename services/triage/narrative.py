"""Concerns a report's narrative mentions but its codes leave out. A pure function over
the narrative, the report's codes and the published vocabulary, tested directly.

A referrer picks concern codes from a list and writes the story in their own words; the
two do not always agree. An officer codes `domestic_abuse` and writes that the boy was
"smelling of cannabis", a DSL codes `bullying` and writes that the child "has been
self-harming". `suspected_concerns` finds the vocabulary's `synonyms` of a code in the
narrative when the report does not carry that code, and names the words that point to
it, so that a practitioner can look.

It only ever suspects. A keyword is not a judgement: an "overdose" may be the child's or
a parent's, "in prison" may be a parent or an uncle, "DV" may be a child's initials. So
a suspicion never adds a code, never removes one and never changes a level: triage
marks the decision for review, with the suspected codes and the words that raised
them, and a person decides. Precision and recall on example police and school
narratives are measured, with bounds, by tests/services/triage/test_narrative.py.

The rules:

- A synonym matches on word boundaries, whatever the case, with hyphens, underscores,
  apostrophes and any run of whitespace (line breaks included) alike between its words:
  "honour based violence" matches "Honour-Based\\nviolence", "self-harm" matches
  "self harm".
- A match inside a longer match is not counted by itself: "separation" in "separation
  anxiety" is not parental separation; "domestic abuse" in "high risk domestic abuse"
  is the higher level only.
- A negated match is not counted: one of `NEGATIONS` ("no", "not", "never", "denies",
  ...) or a contraction of "not" among the `NEGATION_WINDOW` words before it, in its own
  clause (a clause ends at `.`, `!`, `?`, `;`, `:`, a line break, a spaced dash, or
  "but", "however", "although"): "no evidence of county lines", "denies suicidal
  thoughts", "ruled out NAI". "Ruled out" also negates just after the term ("self-harm
  was ruled out"), and a negation of "ruled out" undoes it ("NAI not ruled out",
  "cannot rule out FGM"). Inability is not negation: "she cannot cope with the DV".
- A code the report carries is never suspected, nor is a code of the same synonym: a
  synonym several codes list ("sexting": aggravated and experimental image sharing) is
  satisfied by any of them, and suspects all of them when the report carries none.
  Codes at two levels of one concern share their plain words that way ("reported
  missing" for missing once and frequently), and keep their own for the higher level
  ("repeat missing").
- A deprecated code is never suspected; one the report carries counts as its
  replacement, and its synonyms point to its replacement.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache

from shared.report import vocabulary

# What may stand between the words of a synonym: hyphens (ASCII and Unicode, dashes
# included), underscores, apostrophes (straight and curly) and whitespace.
_SEPARATOR_CHARS = r"\s\-_'\u2010-\u2015\u2018\u2019\u02bc"
_SEPARATORS = re.compile(f"[{_SEPARATOR_CHARS}]+")
_JOIN = f"[{_SEPARATOR_CHARS}]+"
# A word: letters and digits of any script. The underscore, a word character to `re`,
# is a separator here.
_WORD_CHAR = r"[^\W_]"
_TOKEN = re.compile(f"{_WORD_CHAR}+")

# Words that negate a term shortly after them in the same clause, and the contractions
# of "not" ("didn't", "isn't"). The phrases "no evidence of", "no signs of", "no
# concerns about" and "no indication of" begin with one of them.
NEGATIONS: frozenset[str] = frozenset(
    {"no", "not", "never", "nor", "none", "nothing", "without"}
    | {"deny", "denies", "denied", "denying"}
)
# Words of inability: "she cannot cope with the DV" mentions the DV. They negate only
# a "rule out" ("cannot rule out NAI" mentions NAI).
INABILITY: frozenset[str] = frozenset(
    {"cannot", "can't", "can\u2019t", "couldn't", "couldn\u2019t"}
)
NEGATION_WINDOW = 4  # words before a term
_AFTER_WINDOW = 4  # words after a term, for "... was ruled out"

# Where a clause ends, for negation: sentence ends, line breaks, a spaced dash, and
# the words that turn a sentence round.
_CLAUSE_END = re.compile(
    r"[.!?;:\n\r]|\s[-\u2013\u2014]\s|(?<!\w)(?:but|however|although)(?!\w)", re.IGNORECASE
)
_WORD = re.compile(r"\w+(?:['\u2019]\w+)*")


@dataclass(frozen=True)
class Suspicion:
    """A code the report does not carry and the synonyms in its narrative that point to
    it: as the vocabulary spells them, in order of first appearance."""

    code: str
    terms: tuple[str, ...]


@dataclass(frozen=True, eq=False)
class Term:
    """One synonym, compiled: the codes that list it, each with its own spelling. (Each
    term is compiled once: it is itself, compared and hashed by identity.)"""

    pattern: re.Pattern[str]
    spelling: Mapping[str, str]  # code -> the synonym as that code lists it


@dataclass(frozen=True)
class Lexicon:
    """A vocabulary compiled for narratives: its synonyms, indexed by their first word
    (case-folded) so that a narrative is read once, and the code each code counts as
    (itself, or a deprecated code's replacement)."""

    by_first_word: Mapping[str, tuple[Term, ...]]
    counts_as: Mapping[str, str]

    @property
    def terms(self) -> tuple[Term, ...]:
        return tuple(t for terms in self.by_first_word.values() for t in terms)


def _key(synonym: str) -> tuple[str, ...]:
    """A synonym's words: spellings with the same words are one term."""
    return tuple(w for w in _SEPARATORS.split(synonym.strip().lower()) if w)


def _pattern(words: tuple[str, ...]) -> re.Pattern[str]:
    body = _JOIN.join(re.escape(w) for w in words)
    return re.compile(f"(?<!{_WORD_CHAR}){body}(?!{_WORD_CHAR})", re.IGNORECASE)


def _first_word(words: tuple[str, ...]) -> str:
    """The index key of a term: the word a narrative's reading yields where the term
    begins (case-folded), or "" for a term that begins with punctuation."""
    first = _TOKEN.match(words[0])
    return first.group().casefold() if first else ""


def _replacements(concerns: list[Mapping[str, object]]) -> dict[str, str]:
    """Each code -> the code it counts as: itself, or, for a deprecated code, its
    replacement (followed through any chain, never into a loop)."""
    replaced_by = {
        str(c["code"]): str(c["replaced_by"])
        for c in concerns
        if c.get("deprecated") and c.get("replaced_by")
    }
    resolved: dict[str, str] = {}
    for concern in concerns:
        code = target = str(concern["code"])
        visited = {code}
        while target in replaced_by and replaced_by[target] not in visited:
            target = replaced_by[target]
            visited.add(target)
        resolved[code] = target
    return resolved


def compile_lexicon(concerns: Iterable[Mapping[str, object]]) -> Lexicon:
    """Compile a vocabulary's `concerns` (each with `code` and `synonyms`, and perhaps
    `deprecated` / `replaced_by`) into the terms to look for."""
    listed = list(concerns)
    counts_as = _replacements(listed)
    spellings: dict[tuple[str, ...], dict[str, str]] = {}
    for concern in listed:
        code = counts_as[str(concern["code"])]
        synonyms = concern.get("synonyms") or []
        assert isinstance(synonyms, list)
        for synonym in synonyms:
            key = _key(str(synonym))
            if key:
                spellings.setdefault(key, {}).setdefault(code, str(synonym).lower())
    # A code that is still deprecated (a replacement that loops) is never suspected.
    deprecated = {str(c["code"]) for c in listed if c.get("deprecated")}
    index: dict[str, list[Term]] = {}
    for key, by_code in sorted(spellings.items()):
        spelling = {c: s for c, s in by_code.items() if c not in deprecated}
        if spelling:
            index.setdefault(_first_word(key), []).append(Term(_pattern(key), spelling))
    return Lexicon({w: tuple(terms) for w, terms in index.items()}, counts_as)


@cache
def shipped_lexicon() -> Lexicon:
    """The published vocabulary (`shared.report.vocabulary()`), compiled once."""
    concerns = vocabulary()["concerns"]
    assert isinstance(concerns, list)
    return compile_lexicon(concerns)


def _negates(word: str) -> bool:
    return word in NEGATIONS or (word.endswith(("n't", "n\u2019t")) and word not in INABILITY)


def _negates_ruling_out(word: str) -> bool:
    return _negates(word) or word in INABILITY


def _ruled_out_at(words: list[str]) -> int | None:
    """Where "ruled out" / "rule out" begins among the words, if it does."""
    for i in range(len(words) - 1):
        if words[i] in ("rule", "ruled", "rules") and words[i + 1] == "out":
            return i
    return None


class Clauses:
    """A narrative's words and clause ends, read once, to tell whether a term in it is
    negated."""

    def __init__(self, text: str) -> None:
        marks = list(_CLAUSE_END.finditer(text))
        self._mark_starts = [m.start() for m in marks]
        self._mark_ends = [m.end() for m in marks]
        words = list(_WORD.finditer(text))
        self._word_starts = [w.start() for w in words]
        self._words = [w.group().lower() for w in words]

    def negated(self, start: int, end: int) -> bool:
        """Whether the term at [start, end) is negated in its own clause: a negation
        among the few words before it ("no weapons", "denies self-harm", "ruled out
        NAI"), or "ruled out" just after it ("self-harm was ruled out"); a negated
        "ruled out" ("not ruled out", "cannot rule out") affirms it."""
        mark = bisect_right(self._mark_ends, start) - 1
        clause_start = self._mark_ends[mark] if mark >= 0 else 0
        first = bisect_left(self._word_starts, clause_start)
        here = bisect_left(self._word_starts, start)
        before = self._words[max(first, here - NEGATION_WINDOW) : here]
        ruled = _ruled_out_at(before)
        if ruled is not None:
            return not any(_negates_ruling_out(w) for w in before[:ruled])
        if any(_negates(w) for w in before):
            return True
        mark = bisect_left(self._mark_starts, end)
        clause_end = self._mark_starts[mark] if mark < len(self._mark_starts) else None
        after_first = bisect_left(self._word_starts, end)
        last = after_first + _AFTER_WINDOW
        if clause_end is not None:
            last = min(last, bisect_left(self._word_starts, clause_end))
        after = self._words[after_first:last]
        ruled = _ruled_out_at(after)
        return ruled is not None and not any(_negates_ruling_out(w) for w in after[:ruled])


def is_negated(text: str, start: int, end: int) -> bool:
    """Whether the term at text[start:end] is negated (see `Clauses.negated`)."""
    return Clauses(text).negated(start, end)


def _find(lexicon: Lexicon, text: str) -> list[tuple[int, int, Term]]:
    """Every match of every term: the text is read word by word, and a term is tried
    only where its first word is. (A term whose first word the reading cannot yield,
    one starting with punctuation, is looked for in the whole text.)"""
    found: list[tuple[int, int, Term]] = []
    for word in _TOKEN.finditer(text):
        for term in lexicon.by_first_word.get(word.group().casefold(), ()):
            match = term.pattern.match(text, word.start())
            if match:
                found.append((match.start(), match.end(), term))
    for term in lexicon.by_first_word.get("", ()):
        found.extend((m.start(), m.end(), term) for m in term.pattern.finditer(text))
    return found


def _matches(lexicon: Lexicon, text: str) -> list[tuple[int, int, Term]]:
    """Every match of every term, without those inside a longer match, by position."""
    found = _find(lexicon, text)
    found.sort(key=lambda f: (f[0], -f[1]))
    kept: list[tuple[int, int, Term]] = []
    furthest = -1
    for start, end, term in found:
        # Sorted by start, longest first: a match ending no later than one before it
        # lies inside that one, unless it is the very same span.
        if end > furthest or (kept and kept[-1][:2] == (start, end)):
            kept.append((start, end, term))
        furthest = max(furthest, end)
    return kept


def suspect(lexicon: Lexicon, narrative: str | None, codes: Iterable[str]) -> list[Suspicion]:
    """`suspected_concerns` over any compiled vocabulary."""
    if not narrative:
        return []
    present = {lexicon.counts_as.get(c, c) for c in codes}
    found = [m for m in _matches(lexicon, narrative) if not present.intersection(m[2].spelling)]
    if not found:
        return []
    clauses = Clauses(narrative)
    counted: set[Term] = set()
    terms: dict[str, list[str]] = {}
    for start, end, term in found:
        if term in counted or clauses.negated(start, end):
            continue
        counted.add(term)
        for code, spelling in term.spelling.items():
            listed = terms.setdefault(code, [])
            if spelling not in listed:
                listed.append(spelling)
    return [Suspicion(code, tuple(terms[code])) for code in sorted(terms)]


def suspected_concerns(narrative: str | None, codes: Iterable[str]) -> list[Suspicion]:
    """The vocabulary's codes whose synonyms the narrative mentions, not negated, when
    the report carries neither the code nor another code listing the same synonym;
    sorted by code, each with the terms found. Never a code in `codes`, never a
    deprecated code, never a code outside the vocabulary."""
    return suspect(shipped_lexicon(), narrative, codes)
