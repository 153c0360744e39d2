"""The agency directory: agencies, what they meet, for whom, where, and how fast they answer.

Data a local partnership owns. It ships as a JSON file (the demo directory, or
`DIRECTORY_PATH`), is kept in routing's database as numbered versions, and changes
only through the directory API or an Open Referral UK import (each change a new
version, so every decision can name the directory it used).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from shared.pathways import PATHWAYS
from shared.report import concern_codes as known_concern_codes
from shared.text import ACCEPTED_EARLIER, CheckedText

# What kind of service an agency offers (the list). `hub` and `mash` are the
# two roles routing treats specially; a `pathway` is told of every report needing its
# statutory route (shared.pathways) and is never a referral's destination; everything
# else is a single agency.
ServiceKind = Literal[
    "school_nursing",
    "domestic_abuse_support",
    "housing",
    "anti_social_behaviour_unit",
    "youth_offending_diversion",
    "family_support",
    "child_and_family_mental_health",
    "early_intervention_hub",
    "mash",
    "statutory_pathway",
    "other",
]

# A GSS local authority code (E06000059, W06000015, ...) and a UK postcode district.
_AUTHORITY = re.compile(r"^[EWSN]\d{8}$")
_DISTRICT = re.compile(r"^[A-Z]{1,2}\d[A-Z\d]?$")


def _known_concerns(codes: list[str]) -> list[str]:
    unknown = sorted(set(codes) - known_concern_codes())
    if unknown:
        raise ValueError(f"unknown concern code(s): {', '.join(unknown)} (see GET /v1/vocabulary)")
    return sorted(set(codes), key=codes.index)


def _upper_codes(values: list[str], pattern: re.Pattern[str], what: str) -> list[str]:
    codes = [v.strip().upper() for v in values]
    bad = [c for c in codes if not pattern.match(c)]
    if bad:
        raise ValueError(f"not a {what}: {', '.join(bad)}")
    return codes


class Contact(CheckedText):
    """How a practitioner reaches the agency about a referral (a team, not a person)."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, max_length=200)
    email: str | None = Field(default=None, max_length=200)
    phone: str | None = Field(default=None, max_length=40)
    url: str | None = Field(default=None, max_length=500)


class Agency(CheckedText):
    """One agency's service as routing sees it: who it helps, where, and how much room."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$")
    kind: Literal["agency", "hub", "mash", "pathway"]
    name: str = Field(min_length=1, max_length=200)
    organisation: str = Field(
        min_length=1,
        max_length=64,
        description="The API-key organisation that answers for this agency's referrals.",
    )
    service_kind: ServiceKind = "other"
    pathway: str | None = Field(
        default=None,
        description=(
            "For kind `pathway` only: the statutory pathway it receives (prevent, "
            "private_fostering, children_missing_education), told of every report whose "
            "concern codes need it in its catchment."
        ),
    )
    concern_codes: list[str] = Field(default=[], description="The concern codes it can meet.")
    min_age: int = Field(default=0, ge=0, le=25)
    max_age: int = Field(default=17, ge=0, le=25)
    postcode_districts: list[str] = Field(
        default=[], description="Catchment by postcode district (EX1, PL4)."
    )
    local_authority_codes: list[str] = Field(
        default=[],
        description=(
            "Catchment by local authority (GSS code). With no districts either: the whole area."
        ),
    )
    capacity: int | None = Field(
        default=None, ge=0, description="The most open referrals it can hold; null: no limit."
    )
    response_sla_hours: int | None = Field(
        default=None,
        ge=1,
        le=24 * 14,
        description=(
            "How long it has to accept or decline before escalation. Required for every "
            "kind but `pathway`: a pathway is told, it has no referral to accept."
        ),
    )
    contact: Contact | None = None
    source: str | None = Field(
        default=None, max_length=200, description="Where it came from, e.g. oruk:<service id>."
    )

    @field_validator("concern_codes")
    @classmethod
    def _concerns(cls, value: list[str]) -> list[str]:
        return _known_concerns(value)

    @field_validator("postcode_districts")
    @classmethod
    def _districts(cls, value: list[str]) -> list[str]:
        return _upper_codes(value, _DISTRICT, "postcode district")

    @field_validator("local_authority_codes")
    @classmethod
    def _authorities(cls, value: list[str]) -> list[str]:
        return _upper_codes(value, _AUTHORITY, "GSS local authority code")

    @model_validator(mode="after")
    def _ages_in_order(self) -> Agency:
        if self.min_age > self.max_age:
            raise ValueError(f"min_age {self.min_age} is above max_age {self.max_age}")
        return self

    @model_validator(mode="after")
    def _pathway_is_named_by_a_pathway_only(self) -> Agency:
        if self.kind == "pathway":
            if self.pathway not in PATHWAYS:
                raise ValueError(
                    f"an agency of kind 'pathway' names its pathway: one of {', '.join(PATHWAYS)}"
                )
        else:
            if self.pathway is not None:
                raise ValueError("only an agency of kind 'pathway' names a pathway")
            if self.response_sla_hours is None:
                raise ValueError(f"an agency of kind {self.kind!r} needs response_sla_hours")
        return self

    @property
    def response_hours(self) -> int:
        """How long a referral's destination has to answer (never a pathway)."""
        assert self.response_sla_hours is not None, self.id
        return self.response_sla_hours


class DirectoryContent(CheckedText):
    """A directory without its version: what a change through the API sends."""

    model_config = ConfigDict(extra="forbid")

    area: str = Field(min_length=1, max_length=200)
    agencies: list[Agency]
    authority_districts: dict[str, list[str]] = Field(
        default={},
        description=(
            "Postcode districts of each local authority (GSS code), so a referral known "
            "only by its postcode district can be placed in an authority's catchment."
        ),
    )
    taxonomy_concerns: dict[str, list[str]] = Field(
        default={},
        description=(
            "Open Referral taxonomy terms (lower case) and the concern codes a service "
            "tagged with them meets: how an import learns what each service is for."
        ),
    )

    @field_validator("authority_districts")
    @classmethod
    def _authority_districts(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        return {
            _upper_codes([code], _AUTHORITY, "GSS local authority code")[0]: _upper_codes(
                districts, _DISTRICT, "postcode district"
            )
            for code, districts in value.items()
        }

    @field_validator("taxonomy_concerns")
    @classmethod
    def _taxonomy(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        return {term.strip().lower(): _known_concerns(codes) for term, codes in value.items()}

    @model_validator(mode="after")
    def _has_hub_and_mash(self) -> DirectoryContent:
        kinds = [a.kind for a in self.agencies]
        for needed in ("hub", "mash"):
            if kinds.count(needed) != 1:
                raise ValueError(f"the directory needs exactly one agency of kind {needed!r}")
        ids = [a.id for a in self.agencies]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"agency ids must be unique: {', '.join(duplicates)}")
        return self

    def with_agencies(self, agencies: Sequence[Agency]) -> DirectoryContent:
        """This directory with `agencies` in place of its own, validated afresh (raises
        ValueError when the result is not a valid directory)."""
        return DirectoryContent.model_validate(
            {
                **self.model_dump(exclude={"version"}),
                "agencies": [a.model_dump() for a in agencies],
            },
            # Its agencies were each checked as they came in (a stored one under the
            # rules of its day): the edit must not fail on an untouched agency.
            context=ACCEPTED_EARLIER,
        )

    def of_kind(self, kind: str) -> Agency:
        return next(a for a in self.agencies if a.kind == kind)

    def pathway_destinations(self, pathway: str) -> list[Agency]:
        """The destinations of a statutory pathway, in id order."""
        return sorted(
            (a for a in self.agencies if a.kind == "pathway" and a.pathway == pathway),
            key=lambda a: a.id,
        )

    def agency(self, agency_id: str) -> Agency | None:
        return next((a for a in self.agencies if a.id == agency_id), None)

    def authority_of(self, postcode_district: str | None) -> str | None:
        """The local authority whose districts include this one, if the directory knows."""
        if not postcode_district:
            return None
        district = postcode_district.upper()
        for code, districts in sorted(self.authority_districts.items()):
            if district in {d.upper() for d in districts}:
                return code
        return None


class Directory(DirectoryContent):
    """A stored version of the directory: what a routing decision names."""

    version: str = Field(min_length=1, max_length=64)


def load_directory(path: Path | None) -> Directory:
    """The directory at `path`, or the demo directory that ships with Signpost."""
    if path is None:
        text = resources.files("services.routing.data").joinpath("demo_directory.json").read_text()
    else:
        text = path.read_text()
    return Directory.model_validate(json.loads(text))
