"""A referral's lifecycle at the agency it was sent to, as a pure transition table.

Statuses follow HL7 FHIR Task as the Gravity SDOH referral profile uses them:
requested → accepted | rejected; accepted → in-progress → completed | failed; a
referral may be closed straight from accepted (the family could not be reached),
and the hub may cancel any open one. Rejected, completed, failed and cancelled
are final: a referral the hub sends on again starts a new request.
"""

from __future__ import annotations

from typing import Literal

from shared.outcomes import DECLINE_REASONS as DECLINE_REASONS
from shared.outcomes import OUTCOMES as OUTCOMES

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

# DECLINE_REASONS and OUTCOMES live in shared.outcomes: the console offers them too.


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
