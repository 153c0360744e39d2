"""`signpost demo seed`: a history of synthetic referrals, made through the real pipeline.

A policy simulator re-decides stored history, and the partnership measures count it, so
the demo needs a past: months of police and school reports about children who come back
(re-referrals, the cumulative rules), siblings whose households link, agencies that
accept, decline, start and close, and requests left unanswered until they escalate.

`seed_history` makes that past the way partners would have: it runs an embedded
Signpost on the data folder in this process, on a stopped clock it moves day by day,
and posts each report to `POST /v1/reports` at its time of day. Intake, triage, routing
and notify do the rest, so every service's tables agree. Once a day, before the day's
reports, each agency of the directory reads its referrals (`GET /v1/referrals`) and
answers some with its own key, as an agency's case system would.

Everything is drawn from `random.Random(random_seed)` before the app starts (who is
reported, when, about what, and what an agency will do with each referral), and the
clock never moves on until routing has routed the report just posted and escalated
every request past its response time, so one seed makes one history, to the second,
in a fresh data folder. (A folder with referrals already in it changes the agencies'
load and the children's history: the same seed then makes another history.)
The people are obviously synthetic: invented family names ("Example", "Sample"...) and
"EX" postcodes of the demo directory's two authorities.

Only the seed's own app is changed: its rate limits are off (the seed posts far faster
than any partner) and routing's escalation scheduler looks every 50 ms (a stopped clock
that jumps a day would otherwise wait 15 s for it). The keys it makes ("seed-...") are
revoked when it finishes: nobody holds their secrets.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select

from services.apps import embedded_app
from services.routing.models import RoutingDeadline, RoutingDecision
from shared.auth import KIND_SCOPES, ClientKind, KeyRegistry
from shared.clock import Clock, as_utc
from shared.db import table_of
from shared.outbox import OutboxMessage
from shared.report import age_on, upn_check_letter
from shared.settings import embedded_settings

UK = ZoneInfo("Europe/London")

# Who reports, and the demo's schools (a school key's organisation is its URN).
POLICE_ORGANISATION = "demo-police"
SCHOOLS = ("100001", "100002", "100003", "100004", "100005", "100006")
# Police report any day; schools on weekdays, this share of the weekday reports.
SCHOOL_SHARE_ON_WEEKDAYS = 0.45
# A weekend day has this share of a weekday's reports.
WEEKEND_WEIGHT = 0.4

# The demo directory's districts (E06099001: EX1 EX2 EX4; E06099002: the rest), weighted
# roughly by population.
DISTRICTS = {"EX1": 14, "EX2": 16, "EX4": 18, "EX3": 8, "EX5": 9, "EX6": 8, "EX7": 10, "EX8": 12}
INWARD_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"

# Obviously invented family names; ordinary given names.
FAMILY_NAMES = (
    "Example", "Sample", "Specimen", "Placeholder", "Testwell", "Mockford", "Dummett",
    "Fictitious", "Madeup", "Notreal", "Pretendy", "Inventon", "Synthia", "Fakeham",
    "Demoson", "Trialby", "Stubbins", "Fixture", "Mockley", "Examplar",
)  # fmt: skip
CHILD_NAMES = (
    "Amira", "Leo", "Maya", "Noah", "Isla", "Oscar", "Freya", "Arlo", "Ruby", "Jude",
    "Ava", "Theo", "Zara", "Finn", "Nia", "Kai", "Elsie", "Rory", "Mabel", "Idris",
    "Lola", "Ezra", "Poppy", "Reuben", "Iris", "Milo", "Hana", "Felix", "Orla", "Sami",
)  # fmt: skip
MOTHERS = ("Ruth", "Kerry", "Dana", "Priya", "Lena", "Sasha", "Gemma", "Tara", "Joy", "Mina")
PARTNERS = ("Dan", "Lee", "Omar", "Craig", "Tom", "Rafe", "Gary", "Neil", "Sol", "Ben")

# What each kind of referrer reports, weighted; a code's youngest plausible age.
POLICE_CODES = {
    "domestic_abuse": 40, "missing_once": 14, "anti_social_behaviour": 14,
    "household_substance_misuse": 6, "early_substance_use": 5, "household_mental_illness": 4,
    "neighbourhood_anti_social_behaviour": 4, "parental_separation": 3,
    "household_member_in_prison": 3, "child_of_prisoner": 2, "online_abuse": 2, "cybercrime": 1,
}  # fmt: skip
SCHOOL_CODES = {
    "absence_truancy": 22, "low_level_mental_health": 18, "bullying": 14, "young_carer": 10,
    "self_harm": 8, "fixed_term_exclusion": 6, "missed_health_checks": 5, "low_income": 4,
    "poor_housing": 3, "chronic_non_attendance": 3, "parental_separation": 3,
    "household_mental_illness": 3, "disability_or_send": 3,
    "child_on_child_sexual_harassment": 2, "nude_image_sharing_experimental": 2,
    "child_missing_education": 1, "permanent_exclusion": 1,
}  # fmt: skip
# About 3% of reports carry a statutory code (or the referrer's immediate risk).
STATUTORY_SHARE = 0.03
POLICE_STATUTORY = (
    "domestic_abuse_serious", "physical_abuse", "missing_frequently",
    "child_criminal_exploitation", "parental_substance_misuse_significant", "serious_violence",
)  # fmt: skip
SCHOOL_STATUTORY = (
    "physical_neglect", "emotional_neglect", "child_sexual_exploitation", "radicalisation",
    "private_fostering",
)  # fmt: skip
MIN_AGE = {
    "missing_once": 8, "anti_social_behaviour": 8, "early_substance_use": 11,
    "online_abuse": 8, "cybercrime": 10, "self_harm": 10, "young_carer": 7,
    "fixed_term_exclusion": 5, "permanent_exclusion": 7, "absence_truancy": 5,
    "chronic_non_attendance": 5, "child_on_child_sexual_harassment": 9,
    "nude_image_sharing_experimental": 12, "missing_frequently": 10,
    "child_criminal_exploitation": 12, "serious_violence": 12, "child_sexual_exploitation": 12,
    "radicalisation": 11,
}  # fmt: skip
# Reports carry one code (70%), two (25%) or three (5%).
CODE_COUNTS = {1: 70, 2: 25, 3: 5}
# A vulnerability that adds to other concerns, never reported alone.
MODIFIERS = frozenset({"disability_or_send"})
# How often a report marks the household's adults with what its codes say of them (an
# abuser and a victim, drink or drugs, mental health), which weighs on the level.
MEMBER_FLAG_SHARE = 0.3
# The share of reports about a child reported before (same name, birth date, postcode),
# and of new children who are siblings of a child reported before.
REPEAT_SHARE = 0.25
SIBLING_SHARE = 0.12
# Re-referrals come back within months: a repeat is about one of the children of the
# last this many reports.
RECENT_REPORTS = 80

# The referrer's words, one sentence a code. No sentence names another code's concern
# (triage reads the narrative for concerns its codes leave out): except the hints below,
# put in on purpose now and then, which send the referral to the hub's review queue.
SENTENCES = {
    "domestic_abuse": "Officers attended a domestic incident between the adults at the home.",
    "missing_once": "The child was reported missing last night and found safe a few hours later.",
    "anti_social_behaviour": "The child was with a group causing anti-social trouble near the "
    "shops; words of advice were given.",
    "household_substance_misuse": "An adult at the address was drinking heavily when officers "
    "arrived.",
    "early_substance_use": "The child was found smelling of cannabis in the park.",
    "household_mental_illness": "An adult in the home has depression and is finding each day hard.",
    "neighbourhood_anti_social_behaviour": "The family have been targeted by neighbours for "
    "several weeks.",
    "parental_separation": "The parents have separated recently and the child moves between "
    "two homes.",
    "household_member_in_prison": "A household member is serving a sentence.",
    "child_of_prisoner": "The child's parent is in prison and visits have been hard.",
    "online_abuse": "The child has had online harassment from an account they do not know.",
    "cybercrime": "The child was involved in hacking a gaming account.",
    "absence_truancy": "Attendance has dropped this term with several unauthorised absences.",
    "low_level_mental_health": "Staff have noticed low mood and worry in class.",
    "bullying": "The child says a group in their year keep picking on them; bullying was "
    "reported twice.",
    "young_carer": "The child looks after a parent most evenings and is a young carer.",
    "self_harm": "The child told a teacher about self-harm over the weekend.",
    "fixed_term_exclusion": "The child had a suspension this term after an incident in class.",
    "missed_health_checks": "The child was not brought to two health appointments this year.",
    "low_income": "The family are struggling financially and use a food bank.",
    "poor_housing": "The family live in overcrowded housing.",
    "chronic_non_attendance": "The child has been persistently absent for most of the term.",
    "disability_or_send": "The child is on the SEND register.",
    "child_on_child_sexual_harassment": "A pupil reported sexual comments made by another pupil.",
    "nude_image_sharing_experimental": "Two pupils of a similar age swapped photos; "
    "experimental sharing with no adult involved.",
    "child_missing_education": "The child has left roll and no new school has asked for records.",
    "permanent_exclusion": "The child was permanently excluded this week.",
    "domestic_abuse_serious": "Officers attended a serious domestic violence incident; the "
    "adult victim went to hospital.",
    "physical_abuse": "Officers noticed an unexplained injury on the child's arm.",
    "missing_frequently": "This is the child's fourth missing episode this year.",
    "child_criminal_exploitation": "Officers believe the child is being used for county lines.",
    "parental_substance_misuse_significant": "The adult caring for the children was an "
    "intoxicated parent.",
    "serious_violence": "The child was threatened with a knife near the station.",
    "physical_neglect": "The child often arrives at school hungry and unwashed.",
    "emotional_neglect": "Staff describe emotional neglect at home.",
    "child_sexual_exploitation": "The child has an older boyfriend who collects them after school.",
    "radicalisation": "The child has been sharing extremist material with classmates.",
    "private_fostering": "The child has been living with a friend of the family for two months.",
}
OPENINGS = {
    "police": (
        "Call received from a member of the public.",
        "Officers on patrol were flagged down.",
        "Report taken at the front desk.",
        "Attended after a call from a relative.",
    ),
    "school": (
        "Raised by the class teacher.",
        "Raised by the head of year.",
        "The child spoke to a teaching assistant.",
        "Raised by the attendance officer.",
    ),
}
IMMEDIATE_RISK = "Officers judged the child to be at immediate risk and stayed at the address."
# Concerns the narrative names without a code (about 2% of reports): the hub reviews them.
HINT_SHARE = 0.02
HINTS = {
    "self_harm": "A friend said the child has been self-harming.",
    "household_substance_misuse": "A neighbour said a parent drinks heavily.",
    "bullying": "The child also said they are being bullied.",
}

# What an agency does with a referral it is sent (drawn for every report before the app
# starts, whether or not the referral reaches an agency): accept 75%, decline 10%, or
# leave it until the response time passes and it escalates to the hub.
ANSWERS = {"accept": 75, "decline": 10, "ignore": 15}
# Most answer at the first daily round at which the request is a day old, some a day
# later (past a 48-hour response time: those escalate first).
ANSWER_ROUNDS = {1: 85, 2: 15}
DECLINE_REASONS = {
    "no_capacity": 40,
    "not_eligible": 20,
    "already_supported": 20,
    "not_appropriate": 15,
    "outside_catchment": 5,
}
DECLINE_NOTES = {
    "no_capacity": "Our waiting list is closed this month.",
    "not_eligible": "The family does not meet our criteria.",
    "already_supported": "Another service is already working with the family.",
    "not_appropriate": "Our service cannot meet these needs.",
    "outside_catchment": "The family lives outside the area we cover.",
}
OUTCOMES: dict[tuple[str, str], int] = {
    ("completed", "got_help"): 55,
    ("completed", "no_further_action"): 10,
    ("completed", "no_longer_needed"): 5,
    ("failed", "unable_to_contact"): 12,
    ("failed", "client_refused"): 8,
    ("failed", "no_longer_interested"): 5,
    ("failed", "couldnt_get_help"): 5,
}
OUTCOME_NOTES = {
    "completed": "Support finished; the family was happy with it.",
    "failed": "The work could not go ahead.",
}

# Agencies read their referrals once a day, at this UK time, before the day's reports.
AGENCY_ROUND = (8, 30)
# Reports come in between these UK hours (schools until 16:30).
POLICE_HOURS = (9 * 60, 21 * 60)
SCHOOL_HOURS = (9 * 60, 16 * 60 + 30)

# The seed's app: no rate limits, and routing's escalation scheduler looks often.
SEED_SETTINGS: dict[str, object] = {
    "rate_limit_per_minute": 0,
    "intake_rate_per_minute": 0,
    "routing_escalation_interval_seconds": 0.05,
}
# Every commit of a service sets its wake-ups: the seed's own (WAKEUP) tells it to look
# again at what it waits for; it looks anyway every POLL_SECONDS.
WAKEUP = "demo-seed"
POLL_SECONDS = 0.1
# A wait that sees no progress for this long fails the seed.
STALL_SECONDS = 30.0
LIST_LIMIT = 500


class SeedError(RuntimeError):
    """The pipeline refused a report or an action, or stopped making progress: a bug in
    the generator or in Signpost, never something to retry."""


@dataclass(frozen=True)
class SeedSummary:
    """What a seed made."""

    referrals: int  # reports accepted (202)
    routed: int  # of them routed by the end
    children: int  # distinct synthetic children
    first_day: date
    last_day: date
    # {"accept": .., "decline": .., "start": .., "close": ..} by agencies, and the hub's
    # and the MASH's ("front door accept", "front door close").
    agency_actions: dict[str, int]


# ---------------------------------------------------------------- the plan


@dataclass
class Adult:
    given_name: str
    relationship: Literal["mother", "father", "parent_partner", "grandparent"]
    date_of_birth: date


@dataclass
class Family:
    family_name: str
    postcode: str
    adults: list[Adult]
    children: list[Child] = field(default_factory=list)


@dataclass
class Child:
    number: int
    given_name: str
    date_of_birth: date
    family: Family
    school_urn: str | None
    upn: str | None
    reported: bool = False


@dataclass(frozen=True)
class AgencyPlan:
    """What an agency will do with the referral, if one is sent it: answer at the
    `answer_round`-th daily round at which the request is a day old (accept or decline;
    or never: it escalates); when accepted, start after `start_after` days (or never) and
    close after `close_after` days."""

    answer: str
    answer_round: int
    decline_reason: str
    start_after: int | None
    close_after: int
    outcome: str
    outcome_code: str


@dataclass(frozen=True)
class PlannedReport:
    number: int
    at: datetime  # when it is posted (the clock then)
    key: str  # "police" or a school's URN
    body: dict[str, Any]
    child: int
    agency: AgencyPlan


def _weighted(rng: random.Random, weights: dict[Any, int] | dict[Any, float]) -> Any:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def uk_time(day: date, minutes: int) -> datetime:
    """`minutes` after midnight of a UK day, in UTC."""
    local = datetime(day.year, day.month, day.day, minutes // 60, minutes % 60, tzinfo=UK)
    return local.astimezone(UTC)


class Planner:
    """Draws the whole history from one random generator: the days' reports, the
    children and families they are about, and what agencies will do."""

    def __init__(self, rng: random.Random, tag: str) -> None:
        self.rng = rng
        self.tag = tag
        self.children: list[Child] = []
        self.recent: list[int] = []  # the child of each recent report

    # ---- people

    def postcode(self) -> str:
        district = _weighted(self.rng, DISTRICTS)
        letters = "".join(self.rng.choice(INWARD_LETTERS) for _ in range(2))
        return f"{district} {self.rng.randint(1, 9)}{letters}"

    def upn(self) -> str:
        body = "".join(str(self.rng.randint(0, 9)) for _ in range(12))
        return upn_check_letter(body) + body

    def family(self, day: date) -> Family:
        rng = self.rng
        name = rng.choice(FAMILY_NAMES)
        mother_born = day - timedelta(days=rng.randint(22 * 365, 45 * 365))
        adults = [Adult(rng.choice(MOTHERS), "mother", mother_born)]
        if rng.random() < 0.1:
            adults[0] = Adult(rng.choice(MOTHERS), "grandparent", mother_born - timedelta(9000))
        if rng.random() < 0.6:
            relationship: Literal["father", "parent_partner"] = (
                "father" if rng.random() < 0.7 else "parent_partner"
            )
            born = day - timedelta(days=rng.randint(22 * 365, 50 * 365))
            adults.append(Adult(rng.choice(PARTNERS), relationship, born))
        family = Family(name, self.postcode(), adults)
        count = rng.choices((1, 2, 3), weights=(40, 40, 20))[0]
        taken: set[str] = set()
        for _ in range(count):
            given = rng.choice([n for n in CHILD_NAMES if n not in taken])
            taken.add(given)
            # 0 to 16 on the family's first report: a child all year long.
            born = day - timedelta(days=rng.randint(40, 17 * 365 - 1))
            if any(abs((born - c.date_of_birth).days) < 330 for c in family.children):
                born -= timedelta(days=400)
            schooled = 4 <= age_on(born, day) <= 16
            child = Child(
                number=len(self.children),
                given_name=given,
                date_of_birth=born,
                family=family,
                school_urn=rng.choice(SCHOOLS) if schooled else None,
                upn=self.upn() if schooled else None,
            )
            family.children.append(child)
            self.children.append(child)
        return family

    def child_for(self, kind: str, day: date) -> Child:
        """A child reported before (a quarter of reports), a sibling of one, or a child
        of a new family; the school reports only its own pupils."""
        rng = self.rng

        def fits(child: Child) -> bool:
            age = age_on(child.date_of_birth, day)
            if not 0 <= age <= 17 or child.date_of_birth >= day:
                return False
            return kind == "police" or (child.school_urn is not None and 4 <= age <= 17)

        if self.recent and rng.random() < REPEAT_SHARE:
            candidates = [self.children[n] for n in self.recent[-RECENT_REPORTS:]]
            candidates = [c for c in candidates if fits(c)]
            if candidates:
                return rng.choice(candidates)
        if rng.random() < SIBLING_SHARE:
            # A child not yet reported whose brother or sister was: same family name,
            # address and adults, so triage links the two as one household.
            siblings = [
                c
                for c in self.children
                if not c.reported and any(s.reported for s in c.family.children) and fits(c)
            ]
            if siblings:
                return rng.choice(siblings[-60:])
        for _ in range(50):
            family = self.family(day)
            fitting = [c for c in family.children if fits(c)]
            if fitting:
                return rng.choice(fitting)
        raise AssertionError("no child of school age in fifty families")

    # ---- concerns

    def codes(self, kind: str, age: int) -> tuple[list[str], bool]:
        rng = self.rng
        table = POLICE_CODES if kind == "police" else SCHOOL_CODES
        allowed = {c: w for c, w in table.items() if age >= MIN_AGE.get(c, 0)}
        wanted = _weighted(rng, CODE_COUNTS)
        codes: list[str] = []
        immediate = False
        if rng.random() < STATUTORY_SHARE:
            statutory = POLICE_STATUTORY if kind == "police" else SCHOOL_STATUTORY
            fitting = [c for c in statutory if age >= MIN_AGE.get(c, 0)]
            if kind == "police" and rng.random() < 0.3:
                immediate = True
            elif fitting:
                codes.append(rng.choice(fitting))
        while len(codes) < wanted:
            code = _weighted(rng, allowed)
            if code not in codes and (codes or code not in MODIFIERS):
                codes.append(code)
        return codes, immediate

    # ---- reports

    def report(self, number: int, kind: str, at: datetime) -> PlannedReport:
        rng = self.rng
        day = at.astimezone(UK).date()
        child = self.child_for(kind, day)
        school = child.school_urn if kind == "school" else None
        child.reported = True
        self.recent.append(child.number)
        reported_at = at - timedelta(minutes=rng.randint(2, 90))
        age = age_on(child.date_of_birth, reported_at.date())
        codes, immediate = self.codes(kind, age)
        if kind == "police":
            body = self.police_report(number, child, codes, immediate, reported_at)
            key = "police"
        else:
            assert school is not None
            body = self.school_report(number, child, school, codes, reported_at)
            key = school
        answer = _weighted(rng, ANSWERS)
        outcome, outcome_code = _weighted(rng, OUTCOMES)
        plan = AgencyPlan(
            answer=answer,
            answer_round=_weighted(rng, ANSWER_ROUNDS),
            decline_reason=_weighted(rng, DECLINE_REASONS),
            start_after=rng.randint(1, 10) if rng.random() < 0.7 else None,
            close_after=rng.randint(14, 56),
            outcome=outcome,
            outcome_code=outcome_code,
        )
        return PlannedReport(number, at, key, body, child.number, plan)

    def narrative(self, kind: str, codes: list[str], immediate: bool) -> str:
        rng = self.rng
        parts = [rng.choice(OPENINGS[kind]), *(SENTENCES[c] for c in codes)]
        if immediate:
            parts.append(IMMEDIATE_RISK)
        if rng.random() < HINT_SHARE:
            hints = [h for c, h in HINTS.items() if c not in codes]
            parts.append(rng.choice(hints))
        return " ".join(parts)

    def child_body(self, child: Child, with_school: bool) -> dict[str, Any]:
        body: dict[str, Any] = {
            "given_name": child.given_name,
            "family_name": child.family.family_name,
            "date_of_birth": child.date_of_birth.isoformat(),
            "address": {"postcode": child.family.postcode},
        }
        if with_school and child.school_urn is not None:
            body["school_urn"] = child.school_urn
        return body

    def household(self, child: Child, codes: list[str], on: date) -> list[dict[str, Any]]:
        rng = self.rng
        family = child.family
        members: list[dict[str, Any]] = []
        da = "domestic_abuse" in codes or "domestic_abuse_serious" in codes
        flagged = da and rng.random() < MEMBER_FLAG_SHARE
        marked = rng.random() < MEMBER_FLAG_SHARE
        for adult in family.adults:
            member: dict[str, Any] = {
                "given_name": adult.given_name,
                "family_name": family.family_name,
                "relationship": adult.relationship,
                "date_of_birth": adult.date_of_birth.isoformat(),
            }
            partner = adult.relationship in ("father", "parent_partner")
            if flagged and partner:
                member["domestic_abuse_perpetrator"] = True
            if flagged and adult.relationship == "mother":
                member["domestic_abuse_victim"] = True
            if marked and partner and "household_substance_misuse" in codes:
                member["substance_misuse"] = True
            if marked and not partner and "household_mental_illness" in codes:
                member["mental_health"] = True
            members.append(member)
        for sibling in family.children:
            if sibling is child or sibling.date_of_birth > on:
                continue
            members.append(
                {
                    "given_name": sibling.given_name,
                    "family_name": family.family_name,
                    "relationship": "sibling",
                    "date_of_birth": sibling.date_of_birth.isoformat(),
                }
            )
        return members

    def police_report(
        self, number: int, child: Child, codes: list[str], immediate: bool, reported_at: datetime
    ) -> dict[str, Any]:
        rng = self.rng
        occurred = reported_at - timedelta(minutes=rng.randint(20, 12 * 60))
        at_home = (
            any(c.startswith(("domestic", "household", "parental")) for c in codes)
            or rng.random() < 0.3
        )
        da = any(c.startswith("domestic_abuse") for c in codes)
        family = child.family
        present: list[dict[str, Any]] = []
        if at_home:
            for someone in family.children:
                if someone.date_of_birth > occurred.date():
                    continue
                if someone is not child and rng.random() < 0.4:
                    continue
                entry = self.child_body(someone, with_school=True)
                del entry["address"]
                entry["whereabouts"] = rng.choice(
                    ["same_room", "elsewhere_in_the_home", "elsewhere_in_the_home"]
                )
                present.append(entry)
        statutory = immediate or any(c in POLICE_STATUTORY for c in codes)
        police: dict[str, Any] = {
            "incident_reference": f"DP-INC-{self.tag}-{number:05d}",
            "occurred_at": occurred.isoformat(),
            "location": (
                {"description": "Family home", "postcode": family.postcode}
                if at_home
                else {"description": rng.choice(["Near the shops", "In the park", "Bus station"])}
            ),
            "children_present": present,
            "domestic_abuse": da,
            "officer": {
                "name": f"PC {rng.choice(['Sam', 'Alex', 'Jo', 'Kim'])} Officer",
                "role": "Response officer",
                "email": "response.team@demo-police.example",
            },
            "ppn_grade": "high" if statutory else ("medium" if da else "low"),
        }
        if da:
            police["circumstances"] = (
                "Police were called to the home last night. The child may be tired or upset today."
            )
        body: dict[str, Any] = {
            "source": {
                "kind": "police",
                "organisation": POLICE_ORGANISATION,
                "reference": f"DP-SEED-{self.tag}-{number:05d}",
            },
            "reported_at": reported_at.isoformat(),
            "child": self.child_body(child, with_school=rng.random() < 0.8),
            "concerns": [{"code": c} for c in codes],
            "immediate_risk": immediate,
            "narrative": self.narrative("police", codes, immediate),
            "police": police,
            "household": self.household(child, codes, reported_at.date()),
        }
        if da or rng.random() < 0.3:
            body["consent"] = {
                "status": "not_sought",
                "lawful_basis": "public_task",
                "sharing_authorised_by": {
                    "name": "Sgt Demo Supervisor",
                    "role": "Duty sergeant",
                    "reason": "Seeking consent could increase the risk to the child.",
                    "decided_at": (reported_at - timedelta(minutes=1)).isoformat(),
                },
            }
        return body

    def school_report(
        self, number: int, child: Child, urn: str, codes: list[str], reported_at: datetime
    ) -> dict[str, Any]:
        rng = self.rng
        absent = {"absence_truancy", "chronic_non_attendance"} & set(codes)
        school: dict[str, Any] = {
            "urn": urn,
            "upn": child.upn,
            "dsl": {
                "name": f"DSL of school {urn}",
                "role": "Designated Safeguarding Lead",
                "email": f"dsl@school-{urn}.example",
            },
            "attendance_percent": round(rng.uniform(55, 88) if absent else rng.uniform(90, 100), 1),
            "sen_status": "sen_support" if "disability_or_send" in codes else "none",
        }
        if "fixed_term_exclusion" in codes:
            school["exclusions"] = {"fixed_term_count": rng.randint(1, 3)}
        body: dict[str, Any] = {
            "source": {
                "kind": "school",
                "organisation": urn,
                "reference": f"CPOMS-SEED-{self.tag}-{number:05d}",
            },
            "reported_at": reported_at.isoformat(),
            "child": self.child_body(child, with_school=False),
            "concerns": [{"code": c} for c in codes],
            "immediate_risk": False,
            "narrative": self.narrative("school", codes, False),
            "school": school,
            "household": self.household(child, codes, reported_at.date()),
        }
        if rng.random() < 0.7:
            body["consent"] = {"status": "given", "lawful_basis": "consent"}
        return body


def plan_history(
    *, referrals: int, first_day: date, days: int, random_seed: int, tag: str = "0"
) -> list[list[PlannedReport]]:
    """Every day's reports, in time order, drawn from `random_seed` alone: more on
    weekdays than at weekends; police between 09:00 and 21:00 UK, schools on weekdays
    until 16:30. `tag` makes the references unique to one run."""
    rng = random.Random(random_seed)
    calendar = [first_day + timedelta(days=n) for n in range(days)]
    weights = [WEEKEND_WEIGHT if d.weekday() >= 5 else 1.0 for d in calendar]
    per_day = Counter(rng.choices(range(days), weights=weights, k=referrals))
    slots: list[list[tuple[datetime, str]]] = []
    for n, day in enumerate(calendar):
        slots_of_day = []
        for _ in range(per_day[n]):
            school = day.weekday() < 5 and rng.random() < SCHOOL_SHARE_ON_WEEKDAYS
            low, high = SCHOOL_HOURS if school else POLICE_HOURS
            at = uk_time(day, rng.randint(low, high - 1))
            slots_of_day.append((at + timedelta(seconds=rng.randint(0, 59)), school * "school"))
        slots.append(sorted(slots_of_day))
    planner = Planner(rng, tag)
    planned: list[list[PlannedReport]] = []
    number = 0
    for slots_of_day in slots:
        today: list[PlannedReport] = []
        for at, kind in slots_of_day:
            today.append(planner.report(number, kind or "police", at))
            number += 1
        planned.append(today)
    return planned


# ---------------------------------------------------------------- the run


@dataclass
class Held:
    """A referral the seed posted, and what became of it at its agency."""

    report: PlannedReport
    rounds_waited: int = 0
    accepted_at: datetime | None = None
    # When the hub or the MASH took it on (after routing, a decline or an escalation).
    taken_on_at: datetime | None = None


class Seeder:
    """Drives one embedded Signpost through the planned history."""

    def __init__(
        self,
        app: FastAPI,
        client: httpx.AsyncClient,
        clock: Clock,
        step: Callable[[int], object] | None,
    ) -> None:
        self.app = app
        self.client = client
        self.clock = clock
        self.step = step
        self.registry: KeyRegistry = app.state.key_registry
        self.keys: dict[str, str] = {}  # "police", a URN, or an agency organisation → key
        self.key_ids: list[str] = []
        self.agencies: list[str] = []  # organisations of the directory's agencies
        self.front_door: list[str] = []  # the hub's and the MASH's organisations
        self.held: dict[str, Held] = {}  # referral id → what the seed knows of it
        self.actions: Counter[str] = Counter(
            {
                "accept": 0,
                "decline": 0,
                "start": 0,
                "close": 0,
                "front door accept": 0,
                "front door close": 0,
            }
        )
        self.routed_before = 0
        # No response deadline can fall due before this (see until_escalated).
        self.quiet_until = datetime.min.replace(tzinfo=UTC)
        self.shortest_response = timedelta(hours=1)

    # ---- keys

    async def key(self, label: str, kind: ClientKind, organisation: str) -> None:
        row, secret = await self.registry.create(
            name=f"seed-{label}",
            kind=kind,
            organisation=organisation,
            scopes=list(KIND_SCOPES[kind]),
        )
        self.keys[organisation if kind != ClientKind.POLICE else "police"] = secret
        self.key_ids.append(row.id)

    async def make_keys(self) -> None:
        await self.key("police", ClientKind.POLICE, POLICE_ORGANISATION)
        for urn in SCHOOLS:
            await self.key(f"school-{urn}", ClientKind.SCHOOL, urn)
        directory = await self.call("GET", "/v1/directory", self.keys["police"])
        agencies = [a for a in directory["agencies"] if a["kind"] == "agency"]
        self.agencies = sorted({a["organisation"] for a in agencies})
        hours = [a["response_sla_hours"] for a in agencies if a["response_sla_hours"]]
        self.shortest_response = timedelta(hours=min(hours, default=1))
        for organisation in self.agencies:
            await self.key(f"agency-{organisation}", ClientKind.AGENCY, organisation)
        front = {a["organisation"]: a["kind"] for a in directory["agencies"]}
        self.front_door = sorted(o for o, kind in front.items() if kind in ("hub", "mash"))
        for organisation in self.front_door:
            kind = ClientKind.HUB if front[organisation] == "hub" else ClientKind.AGENCY
            await self.key(f"front-door-{organisation}", kind, organisation)

    async def revoke_keys(self) -> None:
        for key_id in self.key_ids:
            await self.registry.revoke(key_id)

    # ---- HTTP

    async def call(
        self,
        method: str,
        url: str,
        key: str,
        *,
        body: dict[str, Any] | None = None,
        expect: int = 200,
    ) -> Any:
        response = await self.client.request(
            method, url, json=body, headers={"Authorization": f"Bearer {key}"}
        )
        if response.status_code != expect:
            raise SeedError(
                f"{method} {url} answered {response.status_code}, not {expect}: {response.text}"
            )
        return response.json()

    async def listing(self, key: str) -> list[dict[str, Any]]:
        """Every open referral addressed to the key's organisation (following `Link`)."""
        url: str | None = "/v1/referrals"
        params: httpx.QueryParams | None = httpx.QueryParams(
            [
                ("status", "requested"),
                ("status", "accepted"),
                ("status", "in-progress"),
                ("limit", LIST_LIMIT),
            ]
        )
        found: list[dict[str, Any]] = []
        while url is not None:
            response = await self.client.get(
                url, params=params, headers={"Authorization": f"Bearer {key}"}
            )
            if response.status_code != 200:
                raise SeedError(f"GET {url} answered {response.status_code}: {response.text}")
            found += response.json()
            url, params = response.links.get("next", {}).get("url"), None
        return found

    # ---- waiting for the pipeline

    async def until_none(
        self, remaining: Callable[[], Awaitable[int]], what: str, *, service: str = "routing"
    ) -> None:
        """Wait until `remaining()` is 0, looking again whenever `service` commits (or
        every POLL_SECONDS); fail once it has not fallen for STALL_SECONDS."""
        committed = self.app.state.runtimes[service].ctx.wakeup(WAKEUP)
        least: int | None = None
        since = time.monotonic()
        while True:
            committed.clear()  # before looking: a commit from now on wakes the wait
            now = await remaining()
            if now <= 0:
                return
            if least is None or now < least:
                least, since = now, time.monotonic()
            elif time.monotonic() - since > STALL_SECONDS:
                raise SeedError(f"{what}: {now} still waiting after {STALL_SECONDS:g} s")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(committed.wait(), POLL_SECONDS)

    async def routed(self) -> int:
        ctx = self.app.state.runtimes["routing"].ctx
        async with ctx.db.engine.connect() as conn:
            count = await conn.scalar(select(func.count()).select_from(table_of(RoutingDecision)))
        return int(count or 0) - self.routed_before

    async def until_routed(self) -> None:
        posted = len(self.held)

        async def unrouted() -> int:
            return posted - await self.routed()

        await self.until_none(unrouted, "reports not yet routed")

    async def until_escalated(self) -> None:
        """Every response deadline due by now fired (the escalation scheduler's work).

        Looked at only when one may be due: after each look the seed knows the earliest
        pending deadline, and any deadline made later falls due at least the directory's
        shortest response time after it."""
        now = self.clock.now()
        if now < self.quiet_until:
            return
        ctx = self.app.state.runtimes["routing"].ctx
        deadlines = table_of(RoutingDeadline)
        pending = deadlines.c.state == "pending"
        due = select(func.count()).select_from(deadlines).where(pending, deadlines.c.due_at <= now)

        async def overdue() -> int:
            async with ctx.db.engine.connect() as conn:
                return int(await conn.scalar(due) or 0)

        await self.until_none(overdue, "response deadlines due but not escalated")
        async with ctx.db.engine.connect() as conn:
            earliest = await conn.scalar(select(func.min(deadlines.c.due_at)).where(pending))
        self.quiet_until = now + self.shortest_response
        if earliest is not None:
            self.quiet_until = min(self.quiet_until, as_utc(earliest))

    async def until_settled(self) -> None:
        """Every service has published what it staged and consumed what it was sent."""
        outbox = table_of(OutboxMessage)
        unsent = select(func.count()).select_from(outbox).where(outbox.c.sent_at.is_(None))

        async def waiting() -> int:
            total = 0
            for runtime in self.app.state.runtimes.values():
                ctx = runtime.ctx
                async with ctx.db.engine.connect() as conn:
                    total += int(await conn.scalar(unsent) or 0)
                for consumer in runtime.consumers:
                    subscription = consumer.subscription
                    backlog = await ctx.bus.backlog(
                        group=subscription.group, topics=subscription.topics
                    )
                    total += sum(backlog.values())
            return total

        # Twice: a consumer may stage new events as it finishes the last record.
        for _ in range(2):
            await self.until_none(waiting, "events not yet published or consumed")
            await asyncio.sleep(0.05)

    # ---- a day

    async def post(self, report: PlannedReport) -> None:
        self.clock.set(report.at)
        answer = await self.call(
            "POST", "/v1/reports", self.keys[report.key], body=report.body, expect=202
        )
        if answer.get("duplicate_of") or answer.get("supersedes"):
            raise SeedError(f"report {report.number} was taken for a resubmission: {answer}")
        self.held[answer["referral_id"]] = Held(report)
        if self.step is not None:
            self.step(1)

    async def agency_round(self) -> None:
        """Each agency answers, starts and closes its referrals as their plans say."""
        now = self.clock.now()
        for organisation in self.agencies:
            key = self.keys[organisation]
            listed = [r for r in await self.listing(key) if r["referral_id"] in self.held]
            listed.sort(key=lambda r: self.held[r["referral_id"]].report.number)
            for referral in listed:
                await self.act(referral, key, now)

    async def front_door_round(self) -> None:
        """The hub and the MASH take on every referral waiting for them (the next
        morning: a MASH's 4 hours are often missed, as in life) and close each when its
        plan's time is up."""
        now = self.clock.now()
        for organisation in self.front_door:
            key = self.keys[organisation]
            # The hub sees every referral: it takes on those addressed to it.
            listed = [
                r
                for r in await self.listing(key)
                if r["referral_id"] in self.held
                and (r.get("destination") or {}).get("organisation") == organisation
            ]
            listed.sort(key=lambda r: self.held[r["referral_id"]].report.number)
            for referral in listed:
                held = self.held[referral["referral_id"]]
                plan = held.report.agency
                path = f"/v1/referrals/{referral['referral_id']}"
                if referral["status"] == "requested":
                    await self.call("POST", f"{path}/accept", key)
                    held.taken_on_at = now
                    self.actions["front door accept"] += 1
                elif held.taken_on_at and now >= held.taken_on_at + timedelta(
                    days=plan.close_after
                ):
                    body = {
                        "outcome": plan.outcome,
                        "outcome_code": plan.outcome_code,
                        "note": OUTCOME_NOTES[plan.outcome],
                    }
                    await self.call("POST", f"{path}/close", key, body=body)
                    self.actions["front door close"] += 1

    async def act(self, referral: dict[str, Any], key: str, now: datetime) -> None:
        referral_id = referral["referral_id"]
        held = self.held[referral_id]
        plan = held.report.agency
        path = f"/v1/referrals/{referral_id}"
        status = referral["status"]
        if status == "requested":
            routed_at = as_utc(datetime.fromisoformat(referral["routed_at"]))
            if now - routed_at < timedelta(days=1):
                return
            held.rounds_waited += 1
            if held.rounds_waited != plan.answer_round or plan.answer == "ignore":
                return
            if plan.answer == "accept":
                await self.call("POST", f"{path}/accept", key)
                held.accepted_at = now
            else:
                note = DECLINE_NOTES[plan.decline_reason]
                body = {"reason_code": plan.decline_reason, "note": note}
                await self.call("POST", f"{path}/decline", key, body=body)
            self.actions[plan.answer] += 1
            return
        if held.accepted_at is None:
            return  # accepted before this seed (not ours to close)
        if now >= held.accepted_at + timedelta(days=plan.close_after):
            body = {
                "outcome": plan.outcome,
                "outcome_code": plan.outcome_code,
                "note": OUTCOME_NOTES[plan.outcome],
            }
            await self.call("POST", f"{path}/close", key, body=body)
            self.actions["close"] += 1
        elif (
            status == "accepted"
            and plan.start_after is not None
            and now >= held.accepted_at + timedelta(days=plan.start_after)
        ):
            await self.call("POST", f"{path}/start", key)
            self.actions["start"] += 1

    async def day(self, day: date, reports: list[PlannedReport]) -> None:
        """The agencies' round in the morning, then the day's reports, each routed
        before the clock moves on to the next.

        Waiting for each report, not only for the day's last, costs about a tenth more
        time and makes the history exactly the same from one seed: routing times, the
        agencies' load when the next report is routed (which of two suitable agencies
        gets it), and what is still requested at the next round."""
        self.clock.set(uk_time(day, AGENCY_ROUND[0] * 60 + AGENCY_ROUND[1]))
        await self.until_escalated()
        await self.agency_round()
        await self.front_door_round()
        for report in reports:
            self.clock.set(report.at)
            # Deadlines that fell due before this report escalate first, as they would
            # have: the next routing decision sees the agencies' load as it was.
            await self.until_escalated()
            await self.post(report)
            await self.until_routed()


def days_of(end: datetime, days: int) -> Iterator[date]:
    """The `days` whole UK days before the day of `end`."""
    end_day = end.astimezone(UK).date()
    for n in range(days, 0, -1):
        yield end_day - timedelta(days=n)


async def seed_history(
    *,
    data_dir: Path,
    referrals: int,
    days: int = 365,
    random_seed: int = 1,
    end: datetime | None = None,
    step: Callable[[int], object] | None = None,
) -> SeedSummary:
    """Seed `data_dir` with `referrals` synthetic reports over the `days` UK days before
    `end` (default: now), through the API of an embedded Signpost running on it; agencies
    act on their referrals once a day. `step(1)` is called as each report is accepted.
    The same `random_seed` makes the same history (in a fresh data folder)."""
    if referrals < 1 or days < 1:
        raise ValueError("referrals and days must be at least 1")
    end = as_utc(end) if end is not None else Clock().now()
    calendar = list(days_of(end, days))
    tag = f"{random.SystemRandom().getrandbits(24):06x}"
    planned = plan_history(
        referrals=referrals,
        first_day=calendar[0],
        days=days,
        random_seed=random_seed,
        tag=tag,
    )
    with _quiet():
        return await _seed(data_dir, planned, calendar, end, step)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """The services log as they work (a missed Operation Encompass notice is a warning);
    with nowhere configured for their logs, Python would print warnings on stderr. The
    seed prints nothing: without a handler of the caller's, the logs go nowhere."""
    root = logging.getLogger()
    if root.handlers:
        yield
        return
    silent = logging.NullHandler()
    root.addHandler(silent)
    try:
        yield
    finally:
        root.removeHandler(silent)


async def _seed(
    data_dir: Path,
    planned: list[list[PlannedReport]],
    calendar: list[date],
    end: datetime,
    step: Callable[[int], object] | None,
) -> SeedSummary:
    """The planned days through an embedded Signpost on `data_dir`, then on to `end`
    (deadlines due by then escalated, every event consumed)."""
    # Stopped at the start of the first day; each step of the seed moves it on.
    clock = Clock(uk_time(calendar[0], 0))
    app = embedded_app(embedded_settings(data_dir, **SEED_SETTINGS), clock=clock)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://signpost") as client:
            seeder = Seeder(app, client, clock, step)
            seeder.routed_before = await seeder.routed()
            await seeder.make_keys()
            try:
                for day, reports in zip(calendar, planned, strict=True):
                    await seeder.day(day, reports)
                clock.set(end)
                await seeder.until_escalated()
                await seeder.until_settled()
                routed = await seeder.routed()
            finally:
                await seeder.revoke_keys()
    children = {r.child for day_reports in planned for r in day_reports}
    return SeedSummary(
        referrals=len(seeder.held),
        routed=routed,
        children=len(children),
        first_day=calendar[0],
        last_day=calendar[-1],
        agency_actions=dict(seeder.actions),
    )
