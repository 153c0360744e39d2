"""The agency directory: agencies, what they meet, for whom, and how fast they answer.

Data a local partnership owns, loaded from a JSON file and validated.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Agency(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=64)
    kind: Literal["agency", "hub", "mash"]
    name: str = Field(min_length=1, max_length=200)
    organisation: str = Field(min_length=1, max_length=64)
    concern_codes: list[str] = []
    min_age: int = Field(default=0, ge=0, le=25)
    max_age: int = Field(default=17, ge=0, le=25)
    postcode_districts: list[str] = Field(
        default=[], description="Catchment; empty means the whole area."
    )
    capacity: int | None = Field(default=None, ge=0, description="Open referrals it can hold.")
    response_sla_hours: int = Field(ge=1, le=24 * 14)


class Directory(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: str = Field(min_length=1, max_length=64)
    area: str
    agencies: list[Agency]

    @model_validator(mode="after")
    def _has_hub_and_mash(self) -> Directory:
        kinds = [a.kind for a in self.agencies]
        for needed in ("hub", "mash"):
            if kinds.count(needed) != 1:
                raise ValueError(f"the directory needs exactly one agency of kind {needed!r}")
        ids = [a.id for a in self.agencies]
        if len(ids) != len(set(ids)):
            raise ValueError("agency ids must be unique")
        return self

    def of_kind(self, kind: str) -> Agency:
        return next(a for a in self.agencies if a.kind == kind)


def load_directory(path: Path | None) -> Directory:
    """The directory at `path`, or the demo directory that ships with Signpost."""
    if path is None:
        text = resources.files("services.routing.data").joinpath("demo_directory.json").read_text()
    else:
        text = path.read_text()
    return Directory.model_validate(json.loads(text))
