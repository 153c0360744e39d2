"""Information-sharing policies: which fields of an event a notification to each kind of
partner may carry (partner-facing events, and Operation Encompass notices).

A policy is data a local partnership owns (a JSON file, validated here). What a policy
does not grant is not sent: the default, for any partner kind or event type the policy
does not name, is ids only, and the partner fetches what it is entitled to through
the API, where each read is audited. Fields a newer producer adds are dropped until a
policy grants them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from shared.auth import ClientKind
from shared.datafiles import DataFileError, parse_data_file
from shared.events import DATA_MODEL, WEBHOOK_TYPES, EventType
from shared.privacy import model_paths, project

DEFAULT_POLICY_PATH = Path(__file__).with_name("sharing-policy.json")

# What every notification carries whatever the policy says: the ids a partner needs to
# fetch (and be audited for) anything more.
IDS_ONLY: frozenset[str] = frozenset(
    {"referral_id", "destination.id", "destination_id", "notice_id"}
)

# Field names no policy may grant to anyone, whatever event later carries them.
NEVER_SHARED: frozenset[str] = frozenset({"narrative"})


class SharingPolicyError(DataFileError):
    """The policy file is not valid; `problems` lists each reason."""


class SharingPolicy(BaseModel):
    """Per partner kind, per partner-facing event type: the field paths it may carry.

    A path names a top-level field (`level`) or one field of a nested object
    (`destination.kind`); naming the object (`destination`) grants all of it.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1, max_length=100)
    version: str = Field(min_length=1, max_length=40)
    area: str = Field(min_length=1, max_length=200)
    kinds: dict[ClientKind, dict[EventType, list[str]]] = Field(default_factory=dict)

    @field_validator("kinds")
    @classmethod
    def _known_fields_only(
        cls, kinds: dict[ClientKind, dict[EventType, list[str]]]
    ) -> dict[ClientKind, dict[EventType, list[str]]]:
        problems = []
        for kind, by_type in kinds.items():
            for event_type, paths in by_type.items():
                where = f"kinds.{kind.value}.{event_type.value}"
                if event_type not in WEBHOOK_TYPES:
                    problems.append(
                        f"{where}: not a partner-facing event type (nor an Encompass notice)"
                    )
                    continue
                for path in paths:
                    if NEVER_SHARED & set(path.split(".")):
                        problems.append(f"{where}: {path!r} may never be shared")
                    elif path not in known_paths(event_type):
                        problems.append(f"{where}: {path!r} is not a field of this event")
        if problems:
            raise ValueError("; ".join(problems))
        return kinds

    def allowed(self, kind: str, event_type: str) -> frozenset[str]:
        """The field paths a notification of this type to this kind of partner may carry."""
        try:
            granted = self.kinds.get(ClientKind(kind), {}).get(EventType(event_type), [])
        except ValueError:
            granted = []
        return IDS_ONLY | frozenset(granted)

    def minimise(self, kind: str, event_type: str, data: dict[str, Any]) -> dict[str, Any]:
        """The event's data cut down to what this kind of partner may see."""
        return project(data, self.allowed(kind, event_type))


IDS_ONLY_POLICY = SharingPolicy(id="ids-only", version="1", area="(none)")


def known_paths(event_type: EventType) -> frozenset[str]:
    """Every field path of an event type's data model."""
    return model_paths(DATA_MODEL[event_type])


def parse_policy(text: str, *, source: str = "<policy>") -> SharingPolicy:
    """A validated policy from JSON text; raises `SharingPolicyError` with every reason."""
    return parse_data_file(SharingPolicy, text, source=source, error=SharingPolicyError)


def load_policy(path: Path | None) -> SharingPolicy:
    """The policy at `path`, or the shipped demo policy when none is configured."""
    target = path or DEFAULT_POLICY_PATH
    return parse_policy(target.read_text(encoding="utf-8"), source=str(target))
