"""JSON bodies read strictly: each key once in an object, and text that is Unicode.

Python's `json` (and so FastAPI) keeps the last of two equal keys, other parsers keep
the first: `{"source": {"kind": "school", "kind": "police"}}` would be a school's report
to one system and a police report to another. A body that says one thing twice is
refused (400, naming the key and where it is) rather than guessed at.

JSON may also escape half of a UTF-16 surrogate pair (`"\\ud800"`), and Python reads a
surrogate encoded in UTF-8 bytes too: neither is a character, neither can be stored or
sent on as UTF-8, so both are refused (422, naming the field).

One parse for a good body: the duplicate check rides on the parser's object hook, and
strings are searched for surrogates only when the text holds one (or an escape of one).
Only a refused body is read a second time, to say where the fault is.

Pure: bytes in, data (or an error naming the place) out.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from shared.problems import Problem

Path = tuple[str | int, ...]

_SURROGATE = re.compile("[\ud800-\udfff]")
# A surrogate in the text, or an escape that may make one (\uD800 to \uDFFF).
_MAY_HOLD_SURROGATE = re.compile("[\ud800-\udfff]|\\\\u[dD][89a-fA-F]")


class DuplicateKey(ValueError):
    """An object of the body gives `key` more than once; `path` is that member's."""

    def __init__(self, key: str, path: Path) -> None:
        super().__init__(f"duplicate key at {pointer(path)}")
        self.key = key
        self.path = path


class LoneSurrogate(ValueError):
    """A string of the body (or a key, when `in_key`) holds half a surrogate pair."""

    def __init__(self, path: Path, point: int, *, in_key: bool) -> None:
        super().__init__(f"lone surrogate at {pointer(path)}")
        self.path = path
        self.point = point
        self.in_key = in_key


class _Repeated(Exception):
    pass


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise _Repeated
    return obj


class _Pairs(list[tuple[str, Any]]):
    """An object as its members in order, duplicates kept (to find the duplicate)."""


def loads(body: bytes | str) -> Any:
    """The JSON value of `body`. Raises DuplicateKey or LoneSurrogate for a body this
    module refuses, and what `json.loads` raises (ValueError, RecursionError) for one
    that is not JSON."""
    text = (
        body if isinstance(body, str) else body.decode(json.detect_encoding(body), "surrogatepass")
    )
    try:
        data = json.loads(text, object_pairs_hook=_unique)
    except _Repeated:
        raise _first_duplicate(json.loads(text, object_pairs_hook=_Pairs)) from None
    if _MAY_HOLD_SURROGATE.search(text):
        _refuse_surrogates(data)
    return data


def _first_duplicate(value: Any, path: Path = ()) -> DuplicateKey:
    found = _find_duplicate(value, path)
    assert found is not None, "the hook saw a duplicate key"
    return found


def _find_duplicate(value: Any, path: Path) -> DuplicateKey | None:
    if isinstance(value, _Pairs):
        seen: set[str] = set()
        for key, _ in value:
            if key in seen:
                return DuplicateKey(key, (*path, key))
            seen.add(key)
        for key, item in value:
            found = _find_duplicate(item, (*path, key))
            if found is not None:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = _find_duplicate(item, (*path, index))
            if found is not None:
                return found
    return None


def _strings(value: Any, path: Path) -> Iterator[tuple[str, Path, bool]]:
    """Every string of a value with its path, and whether it is a key."""
    if isinstance(value, str):
        yield value, path, False
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key, (*path, key), True
            yield from _strings(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, (*path, index))


def _refuse_surrogates(data: Any) -> None:
    for text, path, is_key in _strings(data, ()):
        found = _SURROGATE.search(text)
        if found is not None:
            raise LoneSurrogate(path, ord(found.group()), in_key=is_key)


def printable(text: str) -> str:
    """`text` with any surrogate written as its escape, so an answer can quote it."""
    return _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def pointer(path: Path) -> str:
    """The RFC 6901 JSON pointer of a path (surrogates escaped)."""
    parts = (printable(str(p)).replace("~", "~0").replace("/", "~1") for p in path)
    return "".join("/" + part for part in parts)


def _error(path: Path, message: str, kind: str) -> dict[str, Any]:
    parts = [printable(str(p)) for p in path]
    return {
        "loc": ["body", *parts],
        "pointer": pointer(path),
        "field": ".".join(parts),
        "message": message,
        "type": kind,
    }


def duplicate_key_problem(error: DuplicateKey) -> Problem:
    """400: the body gives a key twice in one object."""
    key, where = printable(error.key), pointer(error.path)
    return Problem(
        400,
        "Duplicate key in the JSON body",
        f'The key "{key}" appears more than once in one object (at {where}); give each key once.',
        type="duplicate-key",
        key=key,
        pointer=where,
        errors=[_error(error.path, "the key appears more than once", "duplicate_key")],
    )


def lone_surrogate_problem(error: LoneSurrogate) -> Problem:
    """422 naming the field whose text (or key) holds half a surrogate pair."""
    what = "key" if error.in_key else "text"
    message = f"the {what} must not contain a lone surrogate (U+{error.point:04X})"
    located = _error(error.path, message, "forbidden_character")
    return Problem(
        422,
        "The request is not valid",
        f"1 field error(s): {located['field']}",
        type="validation",
        errors=[located],
    )
