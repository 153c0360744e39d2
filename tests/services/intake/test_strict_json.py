"""JSON bodies read strictly: a key given twice and half a surrogate pair are refused,
each located; everything else reads as `json.loads` reads it."""

from __future__ import annotations

import json

import pytest

from services.intake import strict_json
from services.intake.strict_json import DuplicateKey, LoneSurrogate


@pytest.mark.parametrize(
    "body",
    [
        b'{"a": 1, "b": [1, 2, {"c": "d"}]}',
        b'[{"a": 1}, {"a": 2}]',
        '{"name": "Zoë 漢字 😀"}'.encode(),
        b'{"emoji": "\\ud83d\\ude00"}',
        b'"text"',
        b"null",
    ],
)
def test_a_body_without_duplicates_reads_as_json_loads_reads_it(body: bytes) -> None:
    assert strict_json.loads(body) == json.loads(body)


@pytest.mark.parametrize(
    ("body", "key", "pointer"),
    [
        (b'{"a": 1, "a": 2}', "a", "/a"),
        (b'{"source": {"kind": "school", "kind": "police"}}', "kind", "/source/kind"),
        (b'[{"x": 1}, {"y": {"z": [1, {"k": 1, "k": 1}]}}]', "k", "/1/y/z/1/k"),
        (b'{"a/b~c": 1, "a/b~c": 1}', "a/b~c", "/a~1b~0c"),
    ],
)
def test_a_key_given_twice_in_one_object_is_refused_with_its_pointer(
    body: bytes, key: str, pointer: str
) -> None:
    with pytest.raises(DuplicateKey) as refused:
        strict_json.loads(body)
    assert refused.value.key == key
    assert strict_json.pointer(refused.value.path) == pointer


def test_the_same_key_in_two_objects_is_not_a_duplicate() -> None:
    assert strict_json.loads(b'{"a": {"k": 1}, "b": {"k": 2}}') == {"a": {"k": 1}, "b": {"k": 2}}


def test_a_duplicate_key_is_a_400_problem_naming_the_key_and_its_pointer() -> None:
    with pytest.raises(DuplicateKey) as refused:
        strict_json.loads(b'{"child": {"given_name": "A", "given_name": "B"}}')
    problem = strict_json.duplicate_key_problem(refused.value)
    assert problem.status == 400
    assert problem.type == "duplicate-key"
    assert problem.extra["key"] == "given_name"
    assert problem.extra["pointer"] == "/child/given_name"
    assert problem.extra["errors"][0]["field"] == "child.given_name"


@pytest.mark.parametrize(
    ("body", "pointer", "in_key"),
    [
        (b'{"child": {"given_name": "Ma\\ud800ya"}}', "/child/given_name", False),
        (b'{"a": ["ok", "\\udfff"]}', "/a/1", False),
        (b'{"child": {"x\\udc00": 1}}', "/child/x\\udc00", True),
        # the same half pair written as UTF-8 bytes, which Python's json reads too
        (b'{"narrative": "\xed\xa0\x80"}', "/narrative", False),
    ],
)
def test_half_a_surrogate_pair_is_refused_where_it_is(
    body: bytes, pointer: str, in_key: bool
) -> None:
    with pytest.raises(LoneSurrogate) as refused:
        strict_json.loads(body)
    assert strict_json.pointer(refused.value.path) == pointer
    assert refused.value.in_key is in_key


def test_a_lone_surrogate_is_a_422_naming_the_field_whose_answer_can_be_encoded() -> None:
    with pytest.raises(LoneSurrogate) as refused:
        strict_json.loads(b'{"child": {"given_name": "\\ud800"}}')
    problem = strict_json.lone_surrogate_problem(refused.value)
    assert problem.status == 422
    [error] = problem.extra["errors"]
    assert error["field"] == "child.given_name"
    assert error["type"] == "forbidden_character"
    assert "U+D800" in error["message"]
    json.dumps(problem.extra, ensure_ascii=False).encode("utf-8")  # no surrogate left


@pytest.mark.parametrize("body", [b"", b"{", b"\xff", b"[" * 100_000])
def test_a_body_that_is_not_json_raises_what_json_loads_raises(body: bytes) -> None:
    with pytest.raises((ValueError, RecursionError)) as refused:
        strict_json.loads(body)
    assert not isinstance(refused.value, DuplicateKey | LoneSurrogate)
