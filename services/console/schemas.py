"""The console's request bodies: HTML forms, checked like every request model (no
control or bidirectional characters, unknown fields refused)."""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field

from shared.text import CheckedText


class SignInForm(CheckedText):
    model_config = ConfigDict(extra="forbid")

    email: str = Field(min_length=1, max_length=254)
    password: str = Field(min_length=1, max_length=1000)
    csrf: str = Field(default="", max_length=100)


class ActionForm(CheckedText):
    """One action on a referral, from its page: which, and what it needs. A rationale
    (or a note) is required for every action that changes where a referral stands or
    why; the page says so before the services are asked."""

    model_config = ConfigDict(extra="forbid")
    multiline = frozenset({"rationale"})

    action: Literal[
        "accept",
        "start",
        "decline",
        "close",
        "reassign",
        "override",
        "level",
        "approve_level",
        "refuse_level",
        "withdraw_level",
    ]
    csrf: str = Field(default="", max_length=100)
    rationale: str = Field(default="", max_length=2000)
    reason_code: str = Field(default="", max_length=40)
    outcome_code: str = Field(default="", max_length=64, description="completed:got_help")
    agency_id: str = Field(default="", max_length=64)
    destination: str = Field(default="", max_length=20)
    level: int | None = Field(default=None, ge=1, le=5)
    request_id: str = Field(default="", max_length=40, description="A request to change a level.")


class PolicyDraftForm(CheckedText):
    """A threshold policy drafted in the console: its JSON document, pasted."""

    model_config = ConfigDict(extra="forbid")
    multiline = frozenset({"document"})

    csrf: str = Field(default="", max_length=100)
    document: str = Field(min_length=1, max_length=2_000_000)


class SimulateForm(CheckedText):
    """A period to simulate a draft over, and a draft directory if one is rehearsed too."""

    model_config = ConfigDict(extra="forbid")
    multiline = frozenset({"directory"})

    csrf: str = Field(default="", max_length=100)
    first: str = Field(alias="from", max_length=10)
    end: str = Field(alias="to", max_length=10)
    directory: str = Field(default="", max_length=2_000_000)


class ApproveForm(CheckedText):
    """An approval: the simulation the approver saw, and when the version takes effect
    (a UK date and time)."""

    model_config = ConfigDict(extra="forbid")

    csrf: str = Field(default="", max_length=100)
    simulation_id: str = Field(min_length=1, max_length=40)
    activates_at: str = Field(min_length=1, max_length=20, description="2027-04-01T00:00")


class CsrfForm(CheckedText):
    """A form that carries nothing but its CSRF token."""

    model_config = ConfigDict(extra="forbid")

    csrf: str = Field(default="", max_length=100)
