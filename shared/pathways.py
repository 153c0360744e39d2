"""Statutory pathways: categories with a route of their own, beside a referral's level.

A Prevent referral, a private fostering notification and a children missing education
notification are each owed whatever level of need triage finds and wherever the
referral itself goes (DOMAIN.md, "Categories with a route of their own"; KCSIE Annex
B). The vocabulary says which concern codes need which pathway (a code's `pathway`);
the directory names each pathway's destination in an area (an entry of kind
`pathway`); routing tells every pathway a report needs (`referral.pathway`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from shared.report import vocabulary


@dataclass(frozen=True)
class Pathway:
    name: str
    label: str  # what it is, as a practitioner names it
    recipient: str  # who is told, as a sentence names them
    source: str  # the duty behind it


PATHWAYS: dict[str, Pathway] = {
    p.name: p
    for p in (
        Pathway(
            "prevent",
            "Prevent referral",
            "the local Prevent / Channel arrangements",
            "Counter-Terrorism and Security Act 2015 s26 and s36 (Prevent duty, Channel)",
        ),
        Pathway(
            "private_fostering",
            "Private fostering notification",
            "children's social care (private fostering)",
            "Children Act 1989 s67; Children (Private Arrangements for Fostering) Regulations 2005",
        ),
        Pathway(
            "children_missing_education",
            "Children missing education notification",
            "the local authority's children missing education officer",
            "Education Act 1996 s436A; Children missing education (DfE, 2016)",
        ),
    )
}


@cache
def pathway_codes() -> dict[str, tuple[str, ...]]:
    """Each pathway and the vocabulary codes that need it."""
    concerns = vocabulary()["concerns"]
    assert isinstance(concerns, list)
    found: dict[str, list[str]] = {name: [] for name in PATHWAYS}
    for concern in concerns:
        name = concern.get("pathway")
        if name is not None:
            found[str(name)].append(str(concern["code"]))
    return {name: tuple(codes) for name, codes in found.items()}


def pathways_needed(codes: list[str] | set[str] | tuple[str, ...]) -> dict[str, list[str]]:
    """The pathways a report with these concern codes needs, each with the codes that
    need it (in the report's order); pathways in the order of PATHWAYS."""
    given = list(dict.fromkeys(codes))
    needed: dict[str, list[str]] = {}
    for name, needing in pathway_codes().items():
        hits = [c for c in given if c in needing]
        if hits:
            needed[name] = hits
    return needed
