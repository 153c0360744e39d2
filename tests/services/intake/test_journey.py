"""The journey in the referrer's words (`services.intake.journey`), tested directly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.intake.journey import (
    RECEIVED,
    UNIVERSAL_OUTCOME,
    advanced,
    is_latest_routing,
    outcome,
    received_summary,
    routed_summary,
    status_summary,
    triaged_summary,
)


def test_universal_routing_reads_as_no_further_action_with_universal_services_advised() -> None:
    assert routed_summary("universal", "Universal services") == UNIVERSAL_OUTCOME
    assert "No further action" in UNIVERSAL_OUTCOME
    assert "universal services advised" in UNIVERSAL_OUTCOME


def test_agency_decisions_are_phrased_plainly_with_their_reason() -> None:
    assert status_summary("accepted", "Demo Family Support", None) == (
        "Accepted by Demo Family Support, who will contact the family."
    )
    declined = status_summary("rejected", "Demo Family Support", "no_capacity")
    assert declined.startswith("Declined by Demo Family Support because they have no capacity")
    closed = status_summary("cancelled", None, "no_further_action")
    assert closed.startswith("Closed") and "no further action" in closed
    assert status_summary("completed", "Hub", None) == "Closed by Hub: support completed."
    # A status from a newer producer still reads sensibly.
    assert status_summary("on-hold", "Hub", None) == "Status: on-hold."


def test_the_hub_moving_a_referral_on_is_not_phrased_as_an_ending() -> None:
    moved = status_summary("cancelled", "Safe Homes", "reassigned_by_hub")
    assert "moved" in moved and "no further action" not in moved
    late = status_summary("requested", "Demoshire Early Intervention Hub", "no_response_within_sla")
    assert "did not answer in time" in late and "Demoshire Early Intervention Hub" in late


def test_a_resubmission_names_the_report_it_updates() -> None:
    assert received_summary(None) == "Your report was received."
    assert received_summary("ref_1") == (
        "Your report was received. It updates your earlier report ref_1 (same reference)."
    )


def test_the_assessment_names_level_and_priority() -> None:
    assert triaged_summary(3, "amber") == "Assessed at level 3 (amber)."


def test_a_destination_is_named_in_the_referrers_words() -> None:
    assert routed_summary("agency", "Safe Homes") == (
        "Passed to Safe Homes, who are best placed to help."
    )
    assert routed_summary("mash", "MASH").startswith("Passed to children's social care")
    assert routed_summary("hub", "Hub").startswith("Passed to the early intervention hub")


def test_the_outcome_is_the_latest_step_or_received() -> None:
    assert outcome([]) == RECEIVED
    assert outcome(["first", "latest"]) == "latest"


@pytest.mark.parametrize(
    ("current", "step", "after"),
    [
        ("received", "triaged", "triaged"),
        ("received", "routed", "routed"),
        ("triaged", "routed", "routed"),
        ("routed", "triaged", "routed"),  # triaged arrived after routed: no step back
        ("routed", "routed", "routed"),
        ("accepted", "routed", "accepted"),  # an agency's status is never undone
        ("accepted", "triaged", "accepted"),
    ],
)
def test_the_status_never_steps_back(current: str, step: str, after: str) -> None:
    assert advanced(current, step) == after


def test_only_a_routing_at_least_as_new_as_the_known_one_is_the_latest() -> None:
    at = datetime(2026, 11, 30, 9, tzinfo=UTC)
    assert is_latest_routing(None, at)
    assert is_latest_routing(at, at)
    assert is_latest_routing(at, at + timedelta(seconds=1))
    assert not is_latest_routing(at, at - timedelta(seconds=1))


def test_a_referral_under_review_says_so_to_the_referrer() -> None:
    assert triaged_summary(2, "green", suspected=["serious_violence", "radicalisation"]) == (
        "Assessed at level 2 (green). Under review: your description mentions serious "
        "violence or knife crime, radicalisation or extremism (prevent), which the report's "
        "concern codes do not name."
    )
    assert routed_summary("hub", "Demoshire Early Intervention Hub", review=True) == (
        "Passed to the early intervention hub to review first, because your description "
        "mentions concerns the report's codes do not name."
    )
    # Nothing suspected: as before.
    assert triaged_summary(2, "green", suspected=()) == "Assessed at level 2 (green)."
