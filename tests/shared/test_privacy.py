"""Cutting personal data down to granted field paths, and naming what was shown."""

from __future__ import annotations

from shared.privacy import model_paths, paths_of, project
from shared.report import ConcernReport

DATA = {
    "child": {"given_name": "Amira", "address": {"postcode": "EX1 1AA"}},
    "household": [
        {"given_name": "Ruth", "relationship": "mother"},
        {"given_name": "Dan", "relationship": "father"},
    ],
    "reason_codes": ["a", "b"],
    "narrative": "…",
}


def test_an_object_granted_whole_is_kept_whole_and_nothing_else_leaks() -> None:
    assert project(DATA, {"child"}) == {"child": DATA["child"]}


def test_a_path_into_an_object_keeps_only_that_field() -> None:
    assert project(DATA, {"child.address.postcode"}) == {
        "child": {"address": {"postcode": "EX1 1AA"}}
    }


def test_a_path_through_a_list_applies_to_each_item() -> None:
    assert project(DATA, {"household.relationship"}) == {
        "household": [{"relationship": "mother"}, {"relationship": "father"}]
    }


def test_a_list_of_plain_values_is_kept_only_when_granted_itself() -> None:
    assert project(DATA, {"reason_codes.x"}) == {"reason_codes": []}
    assert project(DATA, {"reason_codes"}) == {"reason_codes": ["a", "b"]}


def test_nothing_granted_is_nothing_shown() -> None:
    assert project(DATA, set()) == {}


def test_paths_of_names_every_leaf_shown() -> None:
    assert paths_of(project(DATA, {"child", "household.given_name"})) == {
        "child.given_name",
        "child.address.postcode",
        "household.given_name",
    }


def test_model_paths_reach_through_optional_objects_and_lists() -> None:
    paths = model_paths(ConcernReport)
    for path in (
        "child.address.postcode",
        "police.officer.email",
        "police.children_present.whereabouts",
        "household.relationship",
        "consent.sharing_authorised_by.reason",
    ):
        assert path in paths
    assert "child.shoe_size" not in paths
