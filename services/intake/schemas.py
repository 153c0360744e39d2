"""What intake answers: receipts, the referrer's view of a report, the list of an
organisation's reports, batch results, the report as a partner may read it, and the
problem documents its errors follow (for the OpenAPI)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.problems import PROBLEM_JSON


class Accepted(BaseModel):
    referral_id: str = Field(description="The referral this report became (or already was).")
    status: str
    status_url: str
    duplicate_of: str | None = Field(
        default=None,
        description="Set when this report repeats the latest one under the same "
        "source.reference: nothing new was stored; referral_id is that report's.",
    )
    supersedes: str | None = Field(
        default=None,
        description="Set when this report changes an earlier one under the same "
        "source.reference: the earlier referral it replaces.",
    )


class Step(BaseModel):
    status: str
    at: datetime
    summary: str


class DestinationView(BaseModel):
    kind: str
    name: str


class PathwayForReferrer(BaseModel):
    """A statutory pathway the report was told to, beside where it went."""

    pathway: str = Field(description="prevent, private_fostering or children_missing_education.")
    label: str
    destination: DestinationView
    notified_at: datetime


class ReportStatus(BaseModel):
    referral_id: str
    status: str = Field(
        description="received, triaged, routed, then the receiving agency's: requested, "
        "accepted, rejected (declined), in-progress, completed, failed or cancelled (closed)."
    )
    outcome: str = Field(description="Where the report stands, phrased for the referrer.")
    source_reference: str
    received_at: datetime
    level: int | None
    priority: str | None
    destination: DestinationView | None
    supersedes: str | None = Field(
        default=None, description="The earlier report (same reference) this one replaces."
    )
    superseded_by: str | None = Field(
        default=None, description="A later report (same reference) that replaces this one."
    )
    pathways: list[PathwayForReferrer] = Field(
        default=[],
        description=(
            "Statutory pathways the report was told to as well (a Prevent referral, a "
            "private fostering or children missing education notification), whatever "
            "its level; each is also a step of the journey (status `pathway`)."
        ),
    )
    journey: list[Step]


class ReportSummary(BaseModel):
    """One of your organisation's reports as `GET /v1/reports` lists it: where it
    stands, never the child's personal data (follow `status_url` for its journey)."""

    referral_id: str
    status: str = Field(
        description="received, triaged, routed, then the receiving agency's: requested, "
        "accepted, rejected (declined), in-progress, completed, failed or cancelled (closed)."
    )
    outcome: str = Field(
        description="Where the report stands, phrased for the referrer (as its journey's "
        "`outcome`)."
    )
    source_reference: str = Field(description="Your own reference for it (`source.reference`).")
    received_at: datetime
    level: int | None = Field(description="Triage's level (1 to 4), once triaged.")
    priority: str | None = Field(description="Triage's RAG priority, once triaged.")
    destination: DestinationView | None = Field(description="Where it went, once routed.")
    status_url: str = Field(description="Its journey: `GET /v1/reports/{referral_id}`.")


class DestinationForPartner(BaseModel):
    kind: str
    name: str
    organisation: str | None


class ReportForPartner(BaseModel):
    referral_id: str
    received_at: datetime
    destination: DestinationForPartner | None = Field(
        description="Where the referral is now (routing's latest decision)."
    )
    policy: str = Field(description="The report-access policy applied: id and version.")
    report: dict[str, Any] = Field(
        description="The report as the policy lets your kind of partner read it."
    )


FILE_ROW = (
    "CSV only: the row as the file (and a spreadsheet) numbers it: the header is row 1, "
    "the first report row 2. Null for a JSON array."
)
ROW = "0-based: the array index, or the CSV row after the header."


class RowAccepted(Accepted):
    row: int = Field(description=ROW)
    file_row: int | None = Field(default=None, description=FILE_ROW)


class RowRejected(BaseModel):
    row: int = Field(description=ROW)
    file_row: int | None = Field(default=None, description=FILE_ROW)
    errors: list[FieldError]


class BatchResult(BaseModel):
    rows: int = Field(description="Rows received; always len(accepted) + len(errors).")
    accepted: list[RowAccepted]
    errors: list[RowRejected]


class FieldError(BaseModel):
    loc: list[str]
    pointer: str | None
    field: str
    message: str
    type: str


class ProblemDetails(BaseModel):
    """RFC 9457 problem details; validation problems list every field error."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    errors: list[FieldError] | None = None


RowRejected.model_rebuild()

_DESCRIPTIONS = {
    400: "The request could not be read",
    401: "Missing or invalid API key",
    403: "The key lacks the scope, or may not act for this organisation",
    404: "No such report among yours",
    409: "Idempotency-Key reused with a different body",
    413: "The body is larger than allowed",
    415: "The body's content type is not accepted here",
    422: "Field errors, each with its location",
    429: "Over the rate limit; see Retry-After",
}


def problem_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for these status codes, each a problem+json document."""
    schema = {"$ref": "#/components/schemas/ProblemDetails"}
    responses: dict[int | str, dict[str, Any]] = {}
    for code in codes:
        entry: dict[str, Any] = {
            "model": ProblemDetails,
            "description": _DESCRIPTIONS[code],
            "content": {PROBLEM_JSON: {"schema": schema}},
        }
        if code == 429:
            entry["headers"] = {
                "Retry-After": {
                    "description": "Seconds to wait before retrying",
                    "schema": {"type": "integer"},
                }
            }
        responses[code] = entry
    return responses


class VocabularyConcern(BaseModel):
    """One concern code of the published vocabulary."""

    model_config = ConfigDict(extra="forbid")

    code: str
    label: str
    domain: Literal["child_development", "parenting_capacity", "family_and_environment"] = Field(
        description="Its side of the assessment triangle."
    )
    group: str = Field(description="The same as `domain` (as v1 named it).")
    ace: bool = Field(description="One of the ten adverse childhood experiences.")
    guidance: str = Field(description="The one line a referrer sees when choosing it.")
    synonyms: list[str] = Field(
        description="Words for search, and for finding the concern in a narrative."
    )
    source: str = Field(description="The guidance or threshold document it comes from.")
    pathway: str | None = Field(
        default=None,
        description="A statutory route of its own: prevent, private_fostering, "
        "children_missing_education.",
    )
    modifier: bool | None = Field(
        default=None,
        description="A vulnerability that adds to other concerns (disability or SEND), "
        "not a need an agency is asked to meet by itself.",
    )
    deprecated: bool | None = Field(default=None, description="Kept only for earlier senders.")
    replaced_by: str | None = Field(default=None, description="The code to use instead.")


class VocabularyDocument(BaseModel):
    """The published concern vocabulary, `GET /v1/vocabulary`."""

    model_config = ConfigDict(extra="forbid")

    version: str = Field(examples=["2026-12-v2"])
    previous_version: str | None = Field(default=None, examples=["2026-11-v1"])
    description: str
    concerns: list[VocabularyConcern]
