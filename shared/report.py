"""The v1 concern report: the contract police and school systems post to intake.

Later versions extend it (new optional fields), never rename. The concern codes come
from the published, versioned vocabulary: v2, `shared/data/concerns-v2.json`, which
keeps every code of v1 (`concerns-v1.json`, still published alongside) and adds the
categories of Keeping Children Safe in Education and Working Together 2023. A code is
never removed: one renamed or merged is marked `deprecated` with its `replaced_by`,
and stays valid, so a report that was valid under v1 is valid under v2.

Field rules (formats, sizes) live on the fields, so any service can decode a report
and get the same answer whenever it does. Rules that compare fields or depend on the
time of receipt (a child's age on the report date, no dates in the future, a school
reporting for its own URN) are intake's: `services/intake/rules.py`. An event accepted
once never becomes invalid later because time passed.

Every part of the report is `Strict`: text is text (no control characters or
bidirectional overrides; tab, CR and LF only in the free-text fields each model lists
in `multiline`), a boolean is a JSON `true` or `false` (never `"yes"` or `1`), and a
number is finite.
"""

from __future__ import annotations

import json
import re
from datetime import date
from functools import cache
from importlib import resources
from typing import Annotated, ClassVar, Literal

from pydantic import (
    AwareDatetime,
    ConfigDict,
    Field,
    StrictBool,
    StringConstraints,
    field_validator,
    model_validator,
)

from shared.text import CheckedText

# The Royal Mail format, outward and inward parts (the space is optional on input).
_POSTCODE = re.compile(r"^(GIR ?0AA|[A-Z]{1,2}[0-9][0-9A-Z]? ?[0-9][A-Z]{2})$")

# The check letters of a UPN: A-Z without I, O and S (DfE, "Unique pupil numbers").
UPN_LETTERS = "ABCDEFGHJKLMNPQRTUVWXYZ"
_UPN = re.compile(r"^[A-HJ-NP-RT-Z][0-9]{11}[0-9A-HJ-NP-RT-Z]$")

Name = Annotated[str, StringConstraints(min_length=1, max_length=100)]
ShortText = Annotated[str, StringConstraints(min_length=1, max_length=200)]


VOCABULARY_FILE = "concerns-v2.json"


@cache
def vocabulary() -> dict[str, object]:
    """The published concern vocabulary, v2: its version, and each code with its label,
    assessment-triangle `domain` (and `group`, the same value, as v1 named it), the
    `guidance` a referrer sees, search `synonyms`, its `source`, a statutory `pathway`
    of its own, `modifier` for a vulnerability that is not a need by itself, and
    `deprecated` / `replaced_by` for a code kept only for v1 senders."""
    text = resources.files("shared.data").joinpath(VOCABULARY_FILE).read_text()
    loaded: dict[str, object] = json.loads(text)
    return loaded


@cache
def concern_codes() -> frozenset[str]:
    """Every code a report may carry: deprecated ones too, so v1 reports stay valid."""
    concerns = vocabulary()["concerns"]
    assert isinstance(concerns, list)
    return frozenset(str(c["code"]) for c in concerns)


@cache
def _labels() -> dict[str, str]:
    concerns = vocabulary()["concerns"]
    assert isinstance(concerns, list)
    return {str(c["code"]): str(c["label"]) for c in concerns}


def concern_words(codes: list[str] | set[str]) -> str:
    """Concern codes as a reader would say them: 'domestic abuse in the household, bullying'."""
    labels = _labels()
    ordered = sorted(codes) if isinstance(codes, set) else codes
    return ", ".join(labels.get(c, c.replace("_", " ")).lower() for c in ordered) or "none"


@cache
def modifier_codes() -> frozenset[str]:
    """Codes that add to other concerns and are not a need by themselves (a child's
    disability or SEND): no agency is asked to meet them."""
    concerns = vocabulary()["concerns"]
    assert isinstance(concerns, list)
    return frozenset(str(c["code"]) for c in concerns if c.get("modifier"))


def age_on(date_of_birth: date, on: date) -> int:
    """Whole years of age on a date."""
    years = on.year - date_of_birth.year
    if (on.month, on.day) < (date_of_birth.month, date_of_birth.day):
        years -= 1
    return years


def upn_check_letter(body: str) -> str:
    """The DfE check letter for the last 12 characters of a UPN.

    Characters 2-13 are weighted by their position (2..13); a temporary UPN's final
    letter counts as its index in the check-letter alphabet. The sum modulo 23 indexes
    that alphabet.
    """
    if len(body) != 12:
        raise ValueError("a UPN has 12 characters after its check letter")
    total = 0
    for position, char in enumerate(body, start=2):
        value = int(char) if char.isdigit() else UPN_LETTERS.index(char)
        total += position * value
    return UPN_LETTERS[total % 23]


def is_valid_upn(upn: str) -> bool:
    """13 characters: check letter, 11 digits, a digit (or a letter when temporary)."""
    return bool(_UPN.match(upn)) and upn_check_letter(upn[1:]) == upn[0]


def normalise_postcode(value: str) -> str:
    """A UK postcode in upper case with one space before the inward code."""
    normalised = re.sub(r"\s+", "", value.upper())
    if not _POSTCODE.match(normalised):
        raise ValueError("not a valid UK postcode")
    return f"{normalised[:-3]} {normalised[-3:]}"


class Strict(CheckedText):
    """The base of every part of the report: no unknown fields, surrounding whitespace
    trimmed, text free of control characters and bidirectional overrides (free-text
    fields, listed in `multiline`, may hold tab, CR and LF: see `shared.text`),
    booleans only as JSON `true` / `false`, and numbers finite (no NaN or Infinity)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, allow_inf_nan=False)


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
        description=(
            "The referrer's own reference (incident number or concern id). Sending a "
            "reference again from the same organisation is a resubmission (see POST "
            "/v1/reports)."
        ),
        examples=["DC-2026-114233"],
    )


class Address(Strict):
    postcode: str = Field(
        min_length=5, max_length=8, description="A UK postcode.", examples=["EX1 1AA"]
    )

    @field_validator("postcode")
    @classmethod
    def _uk_postcode(cls, value: str) -> str:
        return normalise_postcode(value)


SchoolUrn = Annotated[
    str,
    StringConstraints(pattern=r"^[0-9]{6}$"),
    Field(description="A school's 6-digit URN.", examples=["100001"]),
]


class Schooling(Strict):
    """Where a child goes to school, when the referrer knows (Operation Encompass)."""

    school_urn: SchoolUrn | None = Field(
        default=None,
        description=(
            "The URN of the school the child attends. On a police report of domestic "
            "abuse, the school's Designated Safeguarding Lead is told before the next "
            "school day starts."
        ),
    )
    home_educated: StrictBool = Field(
        default=False,
        description=(
            "Educated at home: the local authority is told instead of a school "
            "(not with school_urn)."
        ),
    )


class Child(Schooling):
    given_name: str = Field(min_length=1, max_length=100)
    family_name: str = Field(min_length=1, max_length=100)
    date_of_birth: date = Field(description="Must make the child 0-17 on the report date.")
    address: Address


class Concern(Strict):
    multiline: ClassVar[frozenset[str]] = frozenset({"detail"})

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


class Contact(Strict):
    """A named professional and how to reach them (at least one of email or phone)."""

    name: Name
    role: ShortText = Field(examples=["Designated Safeguarding Lead", "PC, response team"])
    email: str | None = Field(
        default=None,
        max_length=254,
        pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$",
        examples=["dsl@demo-primary.sch.uk"],
    )
    phone: str | None = Field(
        default=None,
        min_length=6,
        max_length=20,
        pattern=r"^\+?[0-9][0-9 ()-]{4,18}[0-9]$",
        examples=["01392 000000"],
    )

    @model_validator(mode="after")
    def _reachable(self) -> Contact:
        if self.email is None and self.phone is None:
            raise ValueError("give an email or a phone number")
        return self


Whereabouts = Literal["same_room", "elsewhere_in_the_home", "outside_the_home", "unknown"]


class ChildPresent(Schooling):
    """A child who lived at or was present at the incident, and where they were."""

    multiline: ClassVar[frozenset[str]] = frozenset({"detail"})

    given_name: Name
    family_name: Name
    date_of_birth: date | None = None
    whereabouts: Whereabouts = Field(
        description="Where the child was during the incident.", examples=["elsewhere_in_the_home"]
    )
    detail: str | None = Field(default=None, max_length=1000, description="The voice of the child.")


class IncidentLocation(Strict):
    multiline: ClassVar[frozenset[str]] = frozenset({"description"})

    description: str = Field(
        min_length=1, max_length=300, examples=["Family home", "Outside a shop on High Street"]
    )
    postcode: str | None = Field(default=None, min_length=5, max_length=8, examples=["EX1 1AA"])

    @field_validator("postcode")
    @classmethod
    def _uk_postcode(cls, value: str | None) -> str | None:
        return None if value is None else normalise_postcode(value)


class PoliceDetails(Strict):
    """What a police record system adds (a PPN / child concern referral)."""

    multiline: ClassVar[frozenset[str]] = frozenset({"circumstances"})

    incident_reference: str = Field(min_length=1, max_length=64, examples=["DP-INC-2026-77120"])
    occurred_at: AwareDatetime = Field(
        description="When the incident happened (not after the report)."
    )
    location: IncidentLocation
    children_present: list[ChildPresent] = Field(
        default_factory=list,
        max_length=20,
        description="Children who were present, and where each was (Operation Encompass).",
    )
    domestic_abuse: StrictBool = Field(
        default=False, description="The incident was domestic abuse."
    )
    officer: Contact
    ppn_grade: Literal["high", "medium", "low"] = Field(
        description="The Public Protection Notice grade (red / amber / green)."
    )
    circumstances: str | None = Field(
        default=None,
        max_length=1000,
        description=(
            "What a school needs to know to support the child, written for the school "
            "(Operation Encompass). Shared only where the area's sharing policy allows; "
            "the narrative is never shared with schools."
        ),
    )


class Exclusions(Strict):
    fixed_term_count: int = Field(default=0, ge=0, le=100, description="Suspensions this year.")
    permanent: StrictBool = False


class SchoolDetails(Strict):
    """What a school safeguarding system and its MIS add."""

    urn: str = Field(
        pattern=r"^[0-9]{6}$",
        min_length=6,
        max_length=6,
        description="The school's URN; must equal source.organisation.",
        examples=["100001"],
    )
    upn: str | None = Field(
        default=None,
        min_length=13,
        max_length=13,
        description="The pupil's Unique Pupil Number, with a valid DfE check letter.",
        examples=["G878200125010"],
    )
    dsl: Contact = Field(description="The Designated Safeguarding Lead.")
    attendance_percent: float | None = Field(
        default=None, ge=0, le=100, description="Attendance this academic year."
    )
    exclusions: Exclusions | None = None
    sen_status: Literal["none", "sen_support", "ehc_plan"] | None = Field(
        default=None,
        description="Special educational needs: none (N), SEN support (K), an EHC plan (E).",
    )

    @field_validator("upn")
    @classmethod
    def _upn_check_letter(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.upper()
        if not _UPN.match(value):
            raise ValueError("a UPN is a check letter, 11 digits and a digit or letter")
        if upn_check_letter(value[1:]) != value[0]:
            raise ValueError("the UPN's check letter does not match its digits")
        return value


Relationship = Literal[
    "mother",
    "father",
    "step_parent",
    "parent_partner",
    "sibling",
    "grandparent",
    "other_relative",
    "foster_carer",
    "lodger",
    "other",
]


class HouseholdMember(Strict):
    """Someone the child lives with, and what is known about them."""

    given_name: Name
    family_name: Name
    relationship: Relationship
    date_of_birth: date | None = None
    offending: StrictBool = False
    mental_health: StrictBool = False
    substance_misuse: StrictBool = False
    domestic_abuse_perpetrator: StrictBool = False
    domestic_abuse_victim: StrictBool = False


class Authorisation(Strict):
    """Who decided to share without consent, and why (never a bare flag)."""

    multiline: ClassVar[frozenset[str]] = frozenset({"reason"})

    name: Name
    role: ShortText
    reason: str = Field(min_length=10, max_length=2000)
    decided_at: AwareDatetime


class Consent(Strict):
    status: Literal["given", "refused", "not_sought"]
    lawful_basis: Literal[
        "consent", "public_task", "legal_obligation", "vital_interests", "legitimate_interests"
    ] = Field(description="The UK GDPR Article 6 basis for sharing.")
    sharing_authorised_by: Authorisation | None = Field(
        default=None, description="Required when consent was refused or not sought."
    )


class ConcernReport(Strict):
    """A concern about one child, as a police or school system sends it."""

    multiline: ClassVar[frozenset[str]] = frozenset({"narrative"})

    source: Source
    reported_at: AwareDatetime = Field(description="When the referrer raised the concern.")
    child: Child
    concerns: list[Concern] = Field(min_length=1, max_length=30)
    immediate_risk: StrictBool = Field(
        default=False, description="The referrer believes the child is at immediate risk."
    )
    narrative: str = Field(
        default="", max_length=20000, description="What happened, in the referrer's words."
    )
    police: PoliceDetails | None = Field(
        default=None, description="Only when source.kind is police."
    )
    school: SchoolDetails | None = Field(
        default=None, description="Only when source.kind is school."
    )
    household: list[HouseholdMember] = Field(default_factory=list, max_length=20)
    consent: Consent | None = None
