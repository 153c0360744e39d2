"""A referral's lifecycle at the agency it was sent to, as a pure transition table.

Statuses follow HL7 FHIR Task as the Gravity SDOH referral profile uses them:
requested → accepted | rejected; accepted → in-progress → completed | failed; a
referral may be closed straight from accepted (the family could not be reached),
and the hub may cancel any open one. Rejected, completed, failed and cancelled
are final: a referral the hub sends on again starts a new request.
"""

from __future__ import annotations

from typing import Literal

Status = Literal[
    "requested", "accepted", "rejected", "in-progress", "completed", "failed", "cancelled"
]
Action = Literal["accept", "decline", "start", "close", "cancel"]

OPEN_STATUSES: tuple[Status, ...] = ("requested", "accepted", "in-progress")
# An agency is working with the family: it is told when the referral moves on.
WORKING_STATUSES: tuple[Status, ...] = ("accepted", "in-progress")
FINAL_STATUSES: tuple[Status, ...] = ("rejected", "completed", "failed", "cancelled")

# (from status, action) → the statuses the action may lead to.
TRANSITIONS: dict[tuple[Status, Action], tuple[Status, ...]] = {
    ("requested", "accept"): ("accepted",),
    ("requested", "decline"): ("rejected",),
    ("requested", "cancel"): ("cancelled",),
    ("accepted", "start"): ("in-progress",),
    ("accepted", "close"): ("completed", "failed"),
    ("accepted", "cancel"): ("cancelled",),
    ("in-progress", "close"): ("completed", "failed"),
    ("in-progress", "cancel"): ("cancelled",),
}

DeclineReason = Literal[
    "no_capacity", "not_eligible", "outside_catchment", "already_supported", "not_appropriate"
]
OutcomeCode = Literal[
    "got_help",
    "no_further_action",
    "no_longer_needed",
    "unable_to_contact",
    "client_refused",
    "no_longer_interested",
    "not_eligible",
    "no_capacity",
    "couldnt_get_help",
]

# Why an agency declines (Primero's and findhelp's vocabularies, in Signpost's codes).
DECLINE_REASONS: dict[str, str] = {
    "no_capacity": "no capacity just now",
    "not_eligible": "the child or family is not eligible for the service",
    "outside_catchment": "the family lives outside the service's area",
    "already_supported": "the family is already supported by another service",
    "not_appropriate": "the service cannot meet these needs",
}

# How a referral closes: completed (support delivered) or failed (it did not go ahead).
OUTCOMES: dict[str, dict[str, str]] = {
    "completed": {
        "got_help": "support was given",
        "no_further_action": "no further action was needed",
        "no_longer_needed": "support is no longer needed",
    },
    "failed": {
        "unable_to_contact": "the family could not be contacted",
        "client_refused": "the family declined support",
        "no_longer_interested": "the family is no longer interested",
        "not_eligible": "the child or family is not eligible",
        "no_capacity": "the service had no capacity",
        "couldnt_get_help": "the family could not get the help they needed",
        "no_longer_needed": "support is no longer needed",
    },
}


class IllegalTransition(Exception):
    """The action is not allowed from the referral's current status."""

    def __init__(self, status: str, action: str) -> None:
        allowed = allowed_actions(status)
        super().__init__(
            f"A referral that is {status} cannot be {_PAST[action]}"
            + (
                f"; it can be {', '.join(_PAST[a] for a in allowed)}."
                if allowed
                else "; it is closed."
            )
        )
        self.status = status
        self.action = action
        self.allowed = allowed


_PAST: dict[str, str] = {
    "accept": "accepted",
    "decline": "declined",
    "start": "started",
    "close": "closed",
    "cancel": "cancelled",
}


def allowed_actions(status: str) -> list[Action]:
    """The actions possible from a status, in lifecycle order."""
    return [action for (source, action) in TRANSITIONS if source == status]


def transition(status: str, action: Action, *, to: Status | None = None) -> Status:
    """The status an action leads to from `status`; `to` picks among several (close).

    Raises IllegalTransition when the action is not allowed from `status`, or `to`
    is not one of its outcomes.
    """
    targets = TRANSITIONS.get((status, action))  # type: ignore[arg-type]
    if targets is None:
        raise IllegalTransition(status, action)
    if to is None:
        if len(targets) != 1:
            raise ValueError(f"{action} needs one of: {', '.join(targets)}")
        return targets[0]
    if to not in targets:
        raise IllegalTransition(status, action)
    return to


def valid_outcome(outcome: str, code: str) -> bool:
    """Whether an outcome code belongs to the outcome (completed or failed)."""
    return code in OUTCOMES.get(outcome, {})
