"""Routing's part of the simulator: the load each agency held, as it really was and as
the draft would have it, replayed from routing's steps (the live path reads the load
before each routing decision, so the replay must agree with it exactly)."""

from __future__ import annotations

from services.routing.service.simulation import _Loads, destination_of


def test_the_real_load_follows_every_step_and_the_draft_mirrors_it_until_they_differ() -> None:
    loads = _Loads([("old", "da-support", "accepted"), ("done", "da-support", "completed")])
    assert (loads.real["da-support"], loads.draft["da-support"]) == (1, 1)

    loads.first("r1", "da-support", "requested", "da-support")  # the draft agrees
    loads.step("r1", "da-support", "accepted")  # still open where it was
    loads.step("old", "da-support", "completed")  # closed

    assert loads.real == loads.draft
    assert loads.real["da-support"] == 1


def test_a_referral_the_draft_sends_elsewhere_is_open_there_until_it_really_moves_on() -> None:
    loads = _Loads([])
    loads.first("r1", "da-support", "requested", "hub")

    assert (loads.real["da-support"], loads.real["hub"]) == (1, 0)
    assert (loads.draft["da-support"], loads.draft["hub"]) == (0, 1)
    loads.step("r1", "da-support", "accepted")  # accepted where it really was: no move
    assert (loads.draft["da-support"], loads.draft["hub"]) == (0, 1)
    loads.step("r1", "da-support", "completed")  # closed: closed in the draft too
    assert sum(loads.real.values()) == sum(loads.draft.values()) == 0


def test_universal_services_hold_nothing_open_in_either() -> None:
    loads = _Loads([])
    loads.first("r1", None, "completed", "family-support")
    loads.first("r2", "family-support", "requested", None)

    assert loads.real["family-support"] == 1
    assert loads.draft["family-support"] == 1
    loads.step("r1", "hub", "requested")  # the referral really moved on: the draft follows
    assert (loads.draft["family-support"], loads.draft["hub"]) == (0, 1)


def test_destinations_are_named_by_kind_and_an_agency_by_its_id() -> None:
    assert destination_of("mash", "mash") == "mash"
    assert destination_of("hub", "hub") == "hub"
    assert destination_of("universal", None) == "universal"
    assert destination_of("agency", "da-support") == "agency:da-support"
