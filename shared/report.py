"""The v1 concern report: the contract police and school systems post to intake.

Later versions extend it (new optional fields), never rename. The concern codes come
from the published, versioned vocabulary in `shared/data/concerns-v1.json`.
"""

from __future__ import annotations

import json
import re
from datetime import date
from functools import cache
from importlib import resources
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

# The Royal Mail format, outward and inward parts (the space is optional on input).
_POSTCODE = re.compile(r"^(GIR ?0AA|[A-Z]{1,2}[0-9][0-9A-Z]? ?[0-9][A-Z]{2})$")


@cache
def vocabulary() -> dict[str, object]:
    """The published concern vocabulary (version, and each code with its label)."""
    text = resources.files("shared.data").joinpath("concerns-v1.json").read_text()
    loaded: dict[str, object] = json.loads(text)
    return loaded


@cache
def concern_codes() -> frozenset[str]:
    concerns = vocabulary()["concerns"]
    assert isinstance(concerns, list)
    return frozenset(str(c["code"]) for c in concerns)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Source(Strict):
    kind: Literal["police", "school"] = Field(description="Who raised the concern.")
    organisation: str = Field(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
        description="The referrer's organisation code: a police force code or a school URN.",
        examples=["devon-cornwall-police"],
    )
    reference: str = Field(
        min_length=1,
        max_length=64,
        description="The referrer's own reference (incident number or concern id).",
        examples=["DC-2026-114233"],
    )


class Address(Strict):
    postcode: str = Field(
        min_length=5, max_length=8, description="A UK postcode.", examples=["EX1 1AA"]
    )

    @field_validator("postcode")
    @classmethod
    def _uk_postcode(cls, value: str) -> str:
        normalised = re.sub(r"\s+", "", value.upper())
        if not _POSTCODE.match(normalised):
            raise ValueError("not a valid UK postcode")
        return f"{normalised[:-3]} {normalised[-3:]}"


class Child(Strict):
    given_name: str = Field(min_length=1, max_length=100)
    family_name: str = Field(min_length=1, max_length=100)
    date_of_birth: date
    address: Address


class Concern(Strict):
    code: str = Field(
        min_length=1,
        max_length=64,
        description="A code from GET /v1/vocabulary.",
        examples=["domestic_abuse"],
    )
    detail: str | None = Field(default=None, max_length=2000)

    @field_validator("code")
    @classmethod
    def _known_code(cls, value: str) -> str:
        if value not in concern_codes():
            raise ValueError("unknown concern code; see GET /v1/vocabulary")
        return value


class ConcernReport(Strict):
    """A concern about one child, as a police or school system sends it."""

    source: Source
    reported_at: AwareDatetime = Field(description="When the referrer raised the concern.")
    child: Child
    concerns: list[Concern] = Field(min_length=1, max_length=30)
    immediate_risk: bool = Field(
        default=False, description="The referrer believes the child is at immediate risk."
    )
    narrative: str = Field(
        default="", max_length=20000, description="What happened, in the referrer's words."
    )
