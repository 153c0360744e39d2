"""Statutory pathways: the vocabulary names each code's route of its own, and every
pathway it names is one Signpost knows how to tell."""

from __future__ import annotations

from shared.pathways import PATHWAYS, pathway_codes, pathways_needed
from shared.report import vocabulary


def test_every_pathway_the_vocabulary_names_is_known_and_each_has_its_category() -> None:
    named = {c["pathway"] for c in vocabulary()["concerns"] if "pathway" in c}  # type: ignore[attr-defined]
    assert named == set(PATHWAYS)
    # DOMAIN.md, "Categories with a route of their own": Prevent for radicalisation,
    # the private fostering notification, the CME officer.
    assert pathway_codes() == {
        "prevent": ("radicalisation",),
        "private_fostering": ("private_fostering",),
        "children_missing_education": ("child_missing_education",),
    }


def test_a_report_needs_every_pathway_its_codes_name_and_no_other() -> None:
    assert pathways_needed(["bullying", "domestic_abuse"]) == {}
    assert pathways_needed(["child_missing_education", "sexual_abuse", "radicalisation"]) == {
        "prevent": ["radicalisation"],
        "children_missing_education": ["child_missing_education"],
    }
    # A code given twice is one need.
    assert pathways_needed(["private_fostering", "private_fostering"]) == {
        "private_fostering": ["private_fostering"]
    }


def test_each_pathway_says_what_it_is_who_is_told_and_the_duty_behind_it() -> None:
    for name, pathway in PATHWAYS.items():
        assert pathway.name == name
        assert pathway.label and pathway.recipient and pathway.source
