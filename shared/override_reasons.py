"""Why a hub practitioner changed a referral's threshold level: the reason codes an
override (and a request to lower the statutory level) carries, beside its free-text
rationale. The `overrides` partnership measure counts overrides by them, so a board
can see why the policy's levels are changed (docs/measures.md).

Small on purpose: a practitioner picks one in a few seconds, and each is a reason a
MASH or early-help practitioner already gives. Not tied to a direction: most reasons
move a level either way (new information can raise or lower it).
"""

from __future__ import annotations

from enum import StrEnum


class OverrideReason(StrEnum):
    """Why a hub practitioner changed a referral's threshold level (the `reason_code`
    field's description says what each code means)."""

    NEW_INFORMATION = "new_information"
    HISTORY_KNOWN = "history_known"
    CODES_INCORRECT = "codes_incorrect"
    NARRATIVE_CONCERN = "narrative_concern"
    NEEDS_MET_ELSEWHERE = "needs_met_elsewhere"
    RISK_REDUCED = "risk_reduced"
    PROFESSIONAL_JUDGEMENT = "professional_judgement"
    OTHER = "other"


MEANINGS: dict[OverrideReason, str] = {
    OverrideReason.NEW_INFORMATION: (
        "Facts learned after the report (a call to the referrer, a home visit, a "
        "partner's check) change the picture."
    ),
    OverrideReason.HISTORY_KNOWN: (
        "Previous involvement or the child's chronology, known to the hub, that the "
        "policy did not weigh."
    ),
    OverrideReason.CODES_INCORRECT: (
        "The report's concern codes misdescribe what it reports (the referrer chose "
        "the wrong ones)."
    ),
    OverrideReason.NARRATIVE_CONCERN: (
        "The narrative names a concern the codes do not (triage's suspected concerns)."
    ),
    OverrideReason.NEEDS_MET_ELSEWHERE: (
        "The child or family is already open to a service that meets the need."
    ),
    OverrideReason.RISK_REDUCED: (
        "Protective factors, or a change in the situation since the report, reduce the risk."
    ),
    OverrideReason.PROFESSIONAL_JUDGEMENT: (
        "The practitioner's judgement of the whole picture (a strategy discussion, a "
        "manager's decision) where no other code fits."
    ),
    OverrideReason.OTHER: "None of these: the rationale says why.",
}

# Each code as the console's level form offers it.
LABELS: dict[OverrideReason, str] = {
    OverrideReason.NEW_INFORMATION: "New information since the report",
    OverrideReason.HISTORY_KNOWN: (
        "Known history or previous involvement the decision did not weigh"
    ),
    OverrideReason.CODES_INCORRECT: "The report's concern codes were wrong",
    OverrideReason.NARRATIVE_CONCERN: "The narrative names a concern the codes do not",
    OverrideReason.NEEDS_MET_ELSEWHERE: "Already open to a service that meets the need",
    OverrideReason.RISK_REDUCED: "Risk reduced: protective factors or a change in the situation",
    OverrideReason.PROFESSIONAL_JUDGEMENT: "Professional judgement of the whole picture",
    OverrideReason.OTHER: "Other (say why below)",
}

# A stored override without a code (made before codes, or by a caller that gave none),
# as the measure counts it.
NOT_GIVEN = "not given"


def described() -> str:
    """Every code with its meaning, one line each: the API's description of the field."""
    return "\n".join(f"- `{code}`: {meaning}" for code, meaning in MEANINGS.items())


def in_words(code: str) -> str:
    """A code as a phrase in a sentence ("new information")."""
    return code.replace("_", " ")
