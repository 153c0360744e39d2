"""Triage's part of the simulator, its pure pieces: how far back a policy looks, which
weights a draft changes, and an earlier referral's level as it stood when a later one
was decided (a practitioner's override made by then stands)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.triage.policy import load_policy
from services.triage.service.simulation import _level_then, _Prior, look_back, weight_changes

AT = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)


def test_the_look_back_is_the_longest_window_of_the_policys_rules() -> None:
    policy = load_policy()  # the demo: household 90 days, recently known 180 days

    assert look_back(policy) == timedelta(days=180)


def test_a_draft_names_each_weight_it_changes_and_nothing_else() -> None:
    live = load_policy()
    weights = {domain: dict(codes) for domain, codes in live.weights.items()}
    weights["family_and_environment"]["domestic_abuse"] = 6
    del weights["child_development"]["bullying"]
    draft = live.model_copy(update={"weights": weights})

    assert weight_changes(live, draft) == {"bullying": (1, None), "domestic_abuse": (4, 6)}
    assert weight_changes(live, live) == {}


def test_an_earlier_referral_stands_at_the_override_made_before_the_later_decision() -> None:
    prior = _Prior("r1", "s1", None, AT, 2, ("domestic_abuse",), ())
    overrides = {"r1": [(AT + timedelta(days=1), 3), (AT + timedelta(days=5), 1)]}

    assert _level_then(prior, AT + timedelta(hours=1), overrides) == 2  # before any override
    assert _level_then(prior, AT + timedelta(days=2), overrides) == 3
    assert _level_then(prior, AT + timedelta(days=5), overrides) == 1  # made at that moment
    assert _level_then(prior, AT + timedelta(days=2), {}) == 2
