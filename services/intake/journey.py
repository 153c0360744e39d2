"""A referral's journey in the referrer's words: each step's sentence, the outcome, and
which status a step leaves the report at.

Pure functions: what happened (a level, a destination, an agency's decision and its
reason code) in, a plain sentence out.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from shared.pathways import PATHWAYS
from shared.report import concern_words

RECEIVED = "Your report was received."
# The journey step of a statutory pathway told: beside the referral's own route, never
# where the report stands.
PATHWAY_STEP = "pathway"
UNIVERSAL_OUTCOME = "No further action by agencies: universal services advised."

# The steps intake itself orders; the receiving agency's statuses come after them all.
_ORDER = ["received", "triaged", "routed"]

_DESTINATION_PHRASE = {
    "mash": "children's social care (the MASH), who will decide on statutory action",
    "hub": "the early intervention hub, who will agree the right support",
    "agency": "{name}, who are best placed to help",
}

# Why an agency declined or closed a referral, in the referrer's words.
_REASON_PHRASE = {
    "no_capacity": "they have no capacity just now",
    "not_eligible": "the child is not eligible for their service",
    "unable_to_contact": "they could not contact the family",
    "client_refused": "the family declined support",
    "no_longer_needed": "support is no longer needed",
    "already_supported": "the family is already supported",
    "no_further_action": "no further action is needed",
    "outside_catchment": "the family lives outside their area",
    "not_appropriate": "their service cannot meet these needs",
    "got_help": "support was given",
    "no_longer_interested": "the family is no longer interested",
    "couldnt_get_help": "the family could not get the help they needed",
    "no_response_within_sla": "they did not answer in time",
}

# The hub moved the referral on: the old destination's "cancelled" is not an ending.
_MOVED_BY_HUB = {"reassigned_by_hub", "overridden_by_hub"}


def received_summary(updates: str | None) -> str:
    """The first step: received, naming the earlier report (same reference) it updates."""
    if updates is None:
        return RECEIVED
    return f"{RECEIVED} It updates your earlier report {updates} (same reference)."


def triaged_summary(level: int, priority: str, *, suspected: Sequence[str] = ()) -> str:
    """Triage's assessment, phrased for the referrer; `suspected`: the concerns the
    narrative names that the report's codes do not, which a practitioner reviews."""
    said = f"Assessed at level {level} ({priority})."
    if not suspected:
        return said
    return (
        f"{said} Under review: your description mentions {concern_words(list(suspected))}, "
        "which the report's concern codes do not name."
    )


def routed_summary(kind: str, name: str, *, review: bool = False) -> str:
    """Where the referral went, phrased for the referrer (`review`: to the hub's
    review queue, because the narrative names concerns the codes do not)."""
    if review:
        return (
            "Passed to the early intervention hub to review first, because your "
            "description mentions concerns the report's codes do not name."
        )
    if kind == "universal":
        return UNIVERSAL_OUTCOME
    return f"Passed to {_DESTINATION_PHRASE[kind].format(name=name)}."


def pathway_summary(pathway: str, kind: str, name: str) -> str:
    """A statutory pathway told (Prevent, private fostering, children missing
    education), phrased for the referrer: beside the referral's own route."""
    known = PATHWAYS.get(pathway)
    label = known.label if known else pathway.replace("_", " ").capitalize()
    if kind == "hub":
        recipient = known.recipient if known else "the right team"
        return (
            f"{label}: the early intervention hub will make it to {recipient} "
            "(no destination for it is listed for the child's area)."
        )
    return f"{label}: also told to {name}, as the law requires for this concern."


def status_summary(status: str, destination: str | None, reason_code: str | None) -> str:
    """A lifecycle step of the receiving agency, phrased for the referrer."""
    who = destination or "The receiving agency"
    if status == "cancelled" and reason_code in _MOVED_BY_HUB:
        return f"The hub moved the referral from {who} to better-placed support."
    if status == "requested" and reason_code == "no_response_within_sla":
        return f"The agency asked first did not answer in time: {who} has been asked instead."
    reason = _REASON_PHRASE.get(reason_code or "")
    because = f" because {reason}" if reason else ""
    phrases = {
        "requested": f"{who} has been asked to take the referral.",
        "accepted": f"Accepted by {who}, who will contact the family.",
        "in-progress": f"{who} is working with the family.",
        "rejected": f"Declined by {who}{because}; the hub will look for the right support.",
        "completed": f"Closed by {who}: support completed{because}.",
        "failed": f"Closed by {who} without support going ahead{because}.",
        "cancelled": f"Closed: the referral was withdrawn{because}; no further action.",
    }
    return phrases.get(status, f"Status: {status}.")


def outcome(summaries: Sequence[str]) -> str:
    """Where the report stands: its latest step's sentence (statutory pathways told
    beside it left out by the caller)."""
    return summaries[-1] if summaries else RECEIVED


def advanced(current: str, step: str) -> str:
    """The report's status after `step` of intake's own order (received, triaged,
    routed): events arrive from several topics in any order, so it never steps back,
    and never back from an agency's status to one of intake's."""
    rank = {status: index for index, status in enumerate(_ORDER)}
    if rank.get(step, len(_ORDER)) >= rank.get(current, len(_ORDER)):
        return step
    return current


def is_latest_routing(known: datetime | None, routed_at: datetime) -> bool:
    """True when a routing decided at `routed_at` is at least as new as the one known
    (decided at `known`): an older routing arriving late never hands the referral, or
    the right to read its report, back to an agency it has left."""
    return known is None or known <= routed_at
