"""The words of a referral's lifecycle that partners and the console share with routing:
why an agency declines (Primero's and findhelp's vocabularies, in Signpost's codes), and
how a referral closes. Routing applies them; the console offers them in its forms."""

from __future__ import annotations

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
