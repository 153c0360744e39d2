"""The difference a draft makes, summed as a partnership reviews it: the transition
matrices, the safety review (a level falling from the statutory top, a referral leaving
the MASH), agency load against capacity, what drives the changes, and the deadlines
that would have been missed."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta

from shared.simulation import (
    Compared,
    Difference,
    Outcome,
    Redecided,
    as_json,
    changed_csv,
    compared_from_dict,
    compared_to_dict,
    drivers_of,
    redecided_from_dict,
    redecided_to_dict,
    summary_csv,
)

AT = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)


def one(
    referral_id: str,
    stored: tuple[int, str],
    draft: tuple[int, str],
    *,
    rules: tuple[tuple[str, ...], tuple[str, ...]] = ((), ()),
    factors: tuple[str, ...] = (),
    decide_by: tuple[datetime | None, datetime | None] = (None, None),
) -> Compared:
    priority = {1: "blue", 2: "green", 3: "amber", 4: "red"}
    return Compared(
        referral_id=referral_id,
        received_at=AT,
        decided_at=AT + timedelta(hours=2),
        stored=Outcome(
            stored[0], priority[stored[0]], stored[1], decide_by[0], rules=rules[0], factors=factors
        ),
        draft=Outcome(
            draft[0], priority[draft[0]], draft[1], decide_by[1], rules=rules[1], factors=factors
        ),
    )


def test_the_matrices_count_every_referral_from_its_stored_to_its_draft_decision() -> None:
    difference = Difference(top_level=4)
    for compared in (
        one("r1", (2, "agency:da-support"), (2, "agency:da-support")),
        one("r2", (2, "agency:da-support"), (3, "hub")),
        one("r3", (2, "agency:da-support"), (3, "hub")),
        one("r4", (1, "universal"), (1, "universal")),
    ):
        difference.add(compared)

    summary = difference.summary()

    assert summary["referrals"] == 4
    assert summary["changed"] == {"level": 2, "priority": 2, "destination": 2}
    assert {"from": 2, "to": 3, "referrals": 2} in summary["level_transitions"]
    assert {"from": 2, "to": 2, "referrals": 1} in summary["level_transitions"]
    assert {"from": "agency:da-support", "to": "hub", "referrals": 2} in summary[
        "destination_transitions"
    ]
    assert [r["referral_id"] for r in summary["changed_referrals"]] == ["r2", "r3"]
    assert summary["safety_review"] == []


def test_a_fall_from_the_statutory_level_or_leaving_the_mash_is_for_the_safety_review() -> None:
    difference = Difference(top_level=4)
    difference.add(one("falls", (4, "mash"), (3, "hub")))
    difference.add(one("leaves_mash", (3, "mash"), (3, "hub")))  # e.g. an old directory
    difference.add(one("rises", (3, "hub"), (4, "mash")))
    difference.add(one("stays", (4, "mash"), (4, "mash")))

    assert [c.referral_id for c in difference.safety] == ["falls", "leaves_mash"]
    assert [c.referral_id for c in difference.changed] == ["rises"]
    lines = list(csv.reader(io.StringIO(changed_csv(difference))))
    assert [(line[0], line[1]) for line in lines[1:]] == [
        ("yes", "falls"),
        ("yes", "leaves_mash"),
        ("no", "rises"),
    ]


def test_agency_load_before_and_after_is_set_against_capacity() -> None:
    difference = Difference(top_level=4, capacity={"agency:da-support": 80, "agency:housing": 5})
    difference.add(one("r1", (2, "agency:da-support"), (2, "agency:housing")))
    difference.add(one("r2", (2, "agency:da-support"), (2, "agency:da-support")))

    load = {row["agency"]: row for row in difference.summary()["agency_load"]}

    assert load["agency:da-support"] == {
        "agency": "agency:da-support",
        "before": 2,
        "after": 1,
        "change": -1,
        "capacity": 80,
    }
    assert (load["agency:housing"]["before"], load["agency:housing"]["after"]) == (0, 1)


def test_the_drivers_are_the_rules_that_start_or_stop_firing_and_the_weights_changed() -> None:
    moved = one(
        "r1",
        (2, "agency:da-support"),
        (3, "hub"),
        rules=(("old rule",), ("new rule",)),
        factors=("domestic_abuse", "bullying"),
    )
    changes = {"domestic_abuse": (4, 6)}

    assert list(drivers_of(moved.stored, moved.draft, changes)) == [
        "rule now fires: new rule",
        "rule no longer fires: old rule",
        "weight of domestic_abuse: 4 to 6",
    ]
    difference = Difference(top_level=4, weight_changes=changes)
    difference.add(moved)
    difference.add(one("same", (2, "agency:da-support"), (2, "agency:da-support")))
    assert difference.drivers == {
        "rule now fires: new rule": 1,
        "rule no longer fires: old rule": 1,
        "weight of domestic_abuse: 4 to 6": 1,
    }


def test_a_deadline_is_missed_when_the_decision_came_after_it() -> None:
    decided = AT + timedelta(hours=2)  # `one` decides two hours after receipt
    difference = Difference(top_level=4)
    difference.add(
        one("r1", (3, "hub"), (4, "mash"), decide_by=(decided, decided - timedelta(hours=1)))
    )
    difference.add(one("r2", (2, "hub"), (2, "hub"), decide_by=(None, None)))

    assert difference.summary()["deadlines_missed"] == {"stored": 0, "draft": 1}


def test_only_so_many_changed_referrals_are_kept_but_every_safety_case_is() -> None:
    difference = Difference(top_level=4, keep_changed=2)
    for n in range(5):
        difference.add(one(f"up{n}", (2, "hub"), (3, "hub")))
    for n in range(3):
        difference.add(one(f"down{n}", (4, "mash"), (3, "hub")))

    summary = json.loads(as_json(difference, {"draft_policy": "demoshire@draft"}))

    assert [r["referral_id"] for r in summary["changed_referrals"]] == ["up0", "up1"]
    assert summary["changed_referrals_left_out"] == 3
    assert len(summary["safety_review"]) == 3
    assert summary["about"] == {"draft_policy": "demoshire@draft"}
    assert summary["changed"]["level"] == 8  # every one counted, kept or not


def test_a_redecided_and_a_compared_referral_cross_the_wire_unchanged() -> None:
    stored = Outcome(
        3,
        "amber",
        "agency:safe-homes",
        AT + timedelta(days=1),
        12,
        ("r1",),
        ("domestic_abuse",),
        "scored 12",
    )
    draft = Outcome(4, "red", "mash", None, 20, (), ("domestic_abuse", "neglect"), "scored 20")
    redecided = Redecided(
        referral_id="ref_1",
        received_at=AT,
        decided_at=AT + timedelta(minutes=5),
        stored=stored,
        draft=draft,
        concern_codes=("domestic_abuse",),
        age_years=None,
        postcode_district="EX1",
        suspected_codes=(),
        in_period=False,
    )
    line = json.loads(json.dumps(redecided_to_dict(redecided)))
    assert redecided_from_dict(line) == redecided
    compared = Compared("ref_1", AT, AT + timedelta(minutes=5), stored, draft)
    assert compared_from_dict(json.loads(json.dumps(compared_to_dict(compared)))) == compared


def test_a_recorded_summary_gives_the_same_csv_as_the_difference_it_came_from() -> None:
    difference = Difference(top_level=4)
    difference.add(one("ref_safe", (4, "mash"), (3, "hub")))
    difference.add(one("ref_moved", (2, "agency:a"), (3, "hub")))
    summary = json.loads(json.dumps(difference.summary()))
    assert summary_csv(summary) == changed_csv(difference)
    assert [line.split(",")[:2] for line in changed_csv(difference).splitlines()[1:]] == [
        ["yes", "ref_safe"],
        ["no", "ref_moved"],
    ]
