"""Which fields of a report each kind of partner may read when the referral is theirs.

A report-access policy is data the local partnership owns (a JSON file, validated
here), beside the notification sharing policy: per kind of partner, the field paths of
the v1 report it may read through `GET /v1/referrals/{id}/report` (`child` grants the
whole object, `child.address.postcode` one field; a path through a list applies to
each item). A kind the policy does not name reads nothing but ids. Only the
organisation a referral is addressed to, and the hub, may read at all.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from shared.auth import ClientKind
from shared.datafiles import DataFileError, parse_data_file
from shared.privacy import model_paths, project
from shared.report import ConcernReport

DEFAULT_POLICY_PATH = Path(__file__).with_name("report-access.json")


class ReportAccessError(DataFileError):
    """The policy file is not valid; `problems` lists each reason."""


class ReportAccessPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1, max_length=100)
    version: str = Field(min_length=1, max_length=40)
    area: str = Field(min_length=1, max_length=300)
    kinds: dict[ClientKind, list[str]] = Field(default_factory=dict)

    @field_validator("kinds")
    @classmethod
    def _report_fields_only(cls, kinds: dict[ClientKind, list[str]]) -> dict[ClientKind, list[str]]:
        known = model_paths(ConcernReport)
        unknown = [
            f"kinds.{kind.value}: {path!r} is not a field of the v1 report"
            for kind, paths in kinds.items()
            for path in paths
            if path not in known
        ]
        if unknown:
            raise ValueError("; ".join(unknown))
        return kinds

    def shown(self, kind: str, report: dict[str, Any]) -> dict[str, Any]:
        """The report cut down to what this kind of partner may read."""
        try:
            granted = self.kinds.get(ClientKind(kind), [])
        except ValueError:
            granted = []
        return project(report, granted)


def parse_access_policy(text: str, *, source: str = "<policy>") -> ReportAccessPolicy:
    return parse_data_file(ReportAccessPolicy, text, source=source, error=ReportAccessError)


def load_access_policy(path: Path | None) -> ReportAccessPolicy:
    """The policy at `path`, or the shipped Demoshire example."""
    target = path or DEFAULT_POLICY_PATH
    return parse_access_policy(target.read_text(encoding="utf-8"), source=str(target))
