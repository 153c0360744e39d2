"""Text a caller sends is text: no control characters, no bidirectional overrides.

A NUL byte truncates a value in some of the systems a referral reaches; other control
characters corrupt logs, CSV files and terminals; a bidirectional override (U+202A to
U+202E, U+2066 to U+2069) makes a name or a reference display as something it is not
(a practitioner would read "Smith" where "htimS" is stored). So every string an input
model accepts is checked:

- single-line text (names, references, codes, URLs): no C0 or C1 control character at
  all (tab, CR and LF included), no DEL, no line or paragraph separator, no
  bidirectional override or isolate;
- free text (a narrative, a detail, a rationale): the same, except that tab, CR and LF
  are allowed, because people write paragraphs.

Input models inherit `CheckedText` (the report's `Strict` base does) and list their
free-text fields in `multiline`; every other string field, at any depth (lists and
dicts of strings included), is single-line. The error is a 422 that names the field and
the character's code point, never the value.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import BaseModel, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

_BIDI = "\u202a-\u202e\u2066-\u2069"
# Half a surrogate pair (a JSON `"\\ud800"` alone) is not text and cannot be stored.
_SURROGATES = "\ud800-\udfff"
_SINGLE_LINE = re.compile(f"[\x00-\x1f\x7f-\x9f\u2028\u2029{_BIDI}{_SURROGATES}]")
_MULTI_LINE = re.compile(f"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f{_BIDI}{_SURROGATES}]")

# The validation context key of data that was checked when it was accepted (an event
# read back from the log): the rules here guard the door, and are not applied again
# to what came through it, so a stricter release never strands an accepted report.
ACCEPTED = "accepted_earlier"
# The validation context to read such data with: `Model.model_validate(stored,
# context=ACCEPTED_EARLIER)`.
ACCEPTED_EARLIER: dict[str, bool] = {ACCEPTED: True}


def forbidden_character(value: str, *, multiline: bool = False) -> str | None:
    """The first character `value` must not hold, described (`a control character
    (U+0000)`), or None when the text is clean."""
    found = (_MULTI_LINE if multiline else _SINGLE_LINE).search(value)
    if found is None:
        return None
    point = ord(found.group())
    if 0x202A <= point <= 0x202E or 0x2066 <= point <= 0x2069:
        what = "a bidirectional override"
    elif point in (0x2028, 0x2029):
        what = "a line break"
    elif 0xD800 <= point <= 0xDFFF:
        what = "half a surrogate pair"
    else:
        what = "a control character"
    return f"{what} (U+{point:04X})"


def check_text(value: Any, *, multiline: bool = False) -> Any:
    """`value` unchanged if every string in it is clean, else a pydantic error
    (`forbidden_character`) that the field's location turns into a 422."""
    if isinstance(value, str):
        problem = forbidden_character(value, multiline=multiline)
        if problem is not None:
            raise PydanticCustomError(
                "forbidden_character",
                "must not contain {problem}",
                {"problem": problem},
            )
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            check_text(item, multiline=multiline)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            check_text(key)
            check_text(item, multiline=multiline)
    return value


class CheckedText(BaseModel):
    """A base for input models: every string field is checked (see the module)."""

    # The fields that hold free text (paragraphs): tab, CR and LF are allowed there.
    multiline: ClassVar[frozenset[str]] = frozenset()

    @field_validator("*", mode="after")
    @classmethod
    def _clean_text(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, BaseModel) or (info.context or {}).get(ACCEPTED):
            return value  # checked by its own class; or checked at the door already
        return check_text(value, multiline=info.field_name in cls.multiline)
