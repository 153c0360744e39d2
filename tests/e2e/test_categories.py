"""Issue 13's new concern categories, end to end in the embedded demo (Demoshire).

Each of the 19 categories vocabulary v2 added is raised in a realistic report by
whoever would raise it (a school's Designated Safeguarding Lead or a police officer),
posted through the public API, and followed to the referrer's journey and the hub's
routing record: the level under the Demoshire threshold policy, where the referral
went, and the statutory pathway told (or none).

The expected values come from the domain, not from the code: DOMAIN.md ("Thresholds:
the continuum of need", "Categories with a route of their own", "Timescales") and the
guidance each case cites in its `guidance`, shown in the test's id and repeated in
every failure message. The
level is a band where the domain gives one (an early-help matter is level 2 or 3, not
a number tuned to a weight); the destination follows DOMAIN.md's table for the level
found: level 4 children's social care (the MASH), level 3 the hub, level 2 a single
agency or the hub, level 1 universal services.

Every report's narrative and concern details are neutral: they name no synonym of a
concern code the report does not carry (checked before each report is sent), so a
scenario tests its category and not the narrative review.

One clock, no time bombs: the whole app reads a stopped clock (Monday 30 November
2026, 09:00 UTC) and every report and date of birth is fixed against it.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal, TypeVar

import httpx
import pytest
import pytest_asyncio

from services.apps import embedded_app
from shared.auth import ClientKind, KeyRegistry
from shared.clock import Clock
from shared.settings import embedded_settings
from tests.e2e.harness import ROOT
from tests.services.routing.conftest import eventually

T = TypeVar("T")

# Monday 30 November 2026, 09:00 UTC: the app's clock, stopped for the whole module.
START = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
REPORTED_AT = "2026-11-30T08:30:00Z"
SCHOOL = "100010"  # a Demoshire secondary school with a sixth form (its URN)
FORCE = "demo-police"
SECONDS = 20.0

VOCABULARY: dict[str, Any] = json.loads(
    (ROOT / "shared" / "data" / "concerns-v2.json").read_text(encoding="utf-8")
)
SYNONYMS: dict[str, list[str]] = {c["code"]: c["synonyms"] for c in VOCABULARY["concerns"]}

# DOMAIN.md, "Thresholds: the continuum of need": who responds at each level.
DESTINATIONS_AT_LEVEL: dict[int, frozenset[str]] = {
    4: frozenset({"mash"}),  # specialist / statutory: children's social care
    3: frozenset({"hub"}),  # complex: multi-agency early help (the hub)
    2: frozenset({"agency", "hub"}),  # single agency or targeted early help
    1: frozenset({"universal"}),  # universal services; no referral
}
# DOMAIN.md, "Timescales": the MASH RAG rating of each level (red: a decision within
# 4 hours, worked round the clock).
PRIORITY_AT_LEVEL = {4: "red", 3: "amber", 2: "green", 1: "blue"}
STATUTORY = frozenset({4})
EARLY_HELP = frozenset({2, 3})


@dataclass(frozen=True)
class Concern:
    code: str
    detail: str


@dataclass(frozen=True)
class Case:
    """One category's scenario, with the level band and pathway the domain expects."""

    category: str
    guidance: str  # the guidance the expected values follow
    source: Literal["police", "school"]
    concerns: tuple[Concern, ...]
    narrative: str
    given_name: str
    family_name: str
    date_of_birth: date
    postcode: str
    levels: frozenset[int]
    # (pathway, the directory's destination id) for each statutory pathway told.
    pathways: tuple[tuple[str, str], ...] = ()
    sen_status: str | None = None  # a school's MIS: none, sen_support or ehc_plan
    ppn_grade: str = "medium"  # a police officer's PPN grade
    # The destination the domain names outright, where it does (a directory id).
    destination: str | None = None

    @property
    def codes(self) -> set[str]:
        return {c.code for c in self.concerns}

    def why(self) -> str:
        return f"{self.category}: {self.guidance}"


def scenario(category: str, guidance: str, **kwargs: Any) -> Any:
    """A parametrize entry whose id names the category and the guidance it follows."""
    return pytest.param(
        Case(category=category, guidance=guidance, **kwargs), id=f"{category} [{guidance}]"
    )


CASES = [
    scenario(
        "radicalisation",
        "KCSIE 2025 Annex B (preventing radicalisation); Prevent duty, Counter-Terrorism and "
        "Security Act 2015 s26; DOMAIN.md level 4 and 'Categories with a route of their own': "
        "a referral to the police Prevent team",
        source="school",
        concerns=(
            Concern(
                "radicalisation",
                "In a history lesson the pupil said attacks on a named faith group were "
                "justified, and has been showing classmates extremist videos at lunch.",
            ),
        ),
        narrative="The Designated Safeguarding Lead spoke with the pupil after the lesson "
        "and has kept a written record of what was said.",
        given_name="Callum",
        family_name="Ashdown",
        date_of_birth=date(2011, 5, 3),
        postcode="EX1 2AB",
        levels=STATUTORY,
        pathways=(("prevent", "prevent"),),
    ),
    scenario(
        "private_fostering",
        "Children Act 1989 s66-67; Children (Private Arrangements for Fostering) Regulations "
        "2005; KCSIE 2025 Annex B (private fostering); DOMAIN.md level 4: the local authority "
        "must be notified whatever the level of need",
        source="school",
        concerns=(
            Concern(
                "private_fostering",
                "Since early October the pupil has lived with the family of a school friend "
                "while her mother works overseas; it is expected to last until Easter.",
            ),
        ),
        narrative="The friend's mother told the school office when updating contact details. "
        "The pupil is settled and doing well in class.",
        given_name="Mia",
        family_name="Trelawny",
        date_of_birth=date(2013, 2, 11),
        postcode="EX2 4QT",
        levels=STATUTORY,
        pathways=(("private_fostering", "private-fostering"),),
    ),
    scenario(
        "forced_marriage",
        "KCSIE 2025 Annex B (forced marriage); Anti-social Behaviour, Crime and Policing Act "
        "2014 s121; Marriage and Civil Partnership (Minimum Age) Act 2022; DOMAIN.md level 4: "
        "police and children's social care the same day, never mediation",
        source="school",
        concerns=(
            Concern(
                "forced_marriage",
                "The pupil told her tutor that her family plan for her to marry a cousin in "
                "the summer holidays and that she does not agree to it.",
            ),
        ),
        narrative="The pupil asked that her family are not told she spoke to staff.",
        given_name="Samira",
        family_name="Quayle",
        date_of_birth=date(2010, 7, 19),
        postcode="EX4 1DE",
        levels=STATUTORY,
    ),
    scenario(
        "honour_based_abuse",
        "KCSIE 2025 Annex B (so-called honour-based abuse); Children Act 1989 s47; DOMAIN.md "
        "level 4: police and children's social care the same day, never mediation",
        source="police",
        ppn_grade="high",
        concerns=(
            Concern(
                "honour_based_abuse",
                "Her older brother has kept her inside the house for a week after relatives "
                "saw her with a boy, saying she has brought shame on the family.",
            ),
        ),
        narrative="A friend of the girl called the police. Officers spoke with the girl alone "
        "at the station; she asked not to go home tonight.",
        given_name="Noor",
        family_name="Pendeen",
        date_of_birth=date(2011, 1, 23),
        postcode="EX2 7HP",
        levels=STATUTORY,
    ),
    scenario(
        "child_on_child_sexual_violence",
        "KCSIE 2025 Part five (child-on-child sexual violence: children's social care and "
        "the police) and Annex B; Working Together 2023 ch.3; DOMAIN.md level 4 (suspected "
        "abuse)",
        source="school",
        concerns=(
            Concern(
                "child_on_child_sexual_violence",
                "The pupil disclosed that a boy in Year 11 raped her at a party at the weekend.",
            ),
        ),
        narrative="The Designated Safeguarding Lead recorded the disclosure in the pupil's "
        "words and has kept the two pupils' timetables apart.",
        given_name="Lily",
        family_name="Carbis",
        date_of_birth=date(2012, 4, 30),
        postcode="EX1 3FG",
        levels=STATUTORY,
    ),
    scenario(
        "child_on_child_sexual_harassment",
        "KCSIE 2025 Part five (sexual harassment a school may manage itself, with early help "
        "as needed) and Annex B; DOMAIN.md level 2-3: early help, not statutory",
        source="school",
        concerns=(
            Concern(
                "child_on_child_sexual_harassment",
                "Two boys in her class keep making sexual comments about her body and tried "
                "to lift her skirt in the corridor.",
            ),
        ),
        narrative="Both boys have been spoken to and their parents informed. The girl would "
        "like someone in school to talk to.",
        given_name="Erin",
        family_name="Polglaze",
        date_of_birth=date(2013, 6, 8),
        postcode="EX2 9LL",
        levels=EARLY_HELP,
    ),
    scenario(
        "nude_image_sharing_aggravated",
        "UKCIS, Sharing nudes and semi-nudes (2024): aggravated sharing (intent to harm, no "
        "consent to passing it on) to the police and children's social care; KCSIE 2025 "
        "Annex B; DOMAIN.md",
        source="school",
        concerns=(
            Concern(
                "nude_image_sharing_aggravated",
                "After she ended their relationship, a 17-year-old passed round a picture of "
                "the girl undressed to other pupils, to humiliate her.",
            ),
        ),
        narrative="The girl told her head of year at the start of the school day. Staff have "
        "not viewed the picture.",
        given_name="Grace",
        family_name="Nancarrow",
        date_of_birth=date(2011, 9, 14),
        postcode="EX4 8RW",
        levels=STATUTORY,
    ),
    scenario(
        "nude_image_sharing_experimental",
        "UKCIS, Sharing nudes and semi-nudes (2024): experimental sharing between peers a "
        "school may manage itself; KCSIE 2025 Annex B; DOMAIN.md: low, below multi-agency",
        source="school",
        concerns=(
            Concern(
                "nude_image_sharing_experimental",
                "Two Year 11 pupils of the same age, in a relationship, exchanged pictures of "
                "themselves with each other; neither passed them on.",
            ),
        ),
        narrative="Both pupils and their parents have been spoken to. The school is following "
        "its own procedure.",
        given_name="Owen",
        family_name="Tregear",
        date_of_birth=date(2011, 3, 2),
        postcode="EX2 5JD",
        levels=frozenset({1, 2}),
    ),
    scenario(
        "online_abuse",
        "KCSIE 2025 Part two (online safety) and Annex B; Working Together 2023 ch.3; "
        "DOMAIN.md level 2-3: early help, online harm that is not itself abuse",
        source="school",
        concerns=(
            Concern(
                "online_abuse",
                "Since joining a gaming server the pupil has been sent hateful messages and "
                "violent videos by adults he does not know.",
            ),
        ),
        narrative="The pupil's father told the school and has since changed the privacy "
        "settings on the account.",
        given_name="Rhys",
        family_name="Penhale",
        date_of_birth=date(2014, 8, 21),
        postcode="EX4 3TT",
        levels=EARLY_HELP,
    ),
    scenario(
        "sextortion",
        "NCA alert on financially motivated sexual extortion (2024); KCSIE 2025 Annex B; "
        "UKCIS 2024 (blackmail is aggravated); DOMAIN.md level 4: police and children's "
        "social care",
        source="police",
        ppn_grade="high",
        concerns=(
            Concern(
                "sextortion",
                "Someone posing as a girl his age got the boy to share an intimate picture, "
                "then demanded 500 pounds or it would go to all his contacts.",
            ),
        ),
        narrative="The boy came to the front counter himself. He has not paid, and the "
        "account has been reported to the platform.",
        given_name="Jack",
        family_name="Rosevear",
        date_of_birth=date(2010, 10, 5),
        postcode="EX3 0AA",
        levels=STATUTORY,
    ),
    scenario(
        "child_missing_education",
        "Education Act 1996 s436A; KCSIE 2025 Part one and Annex B (children missing "
        "education); DOMAIN.md level 3 example, an education and early-help matter by itself; "
        "the local authority's CME officer must be told",
        source="school",
        concerns=(
            Concern(
                "child_missing_education",
                "The pupil left our roll on 20 November when the family said they were moving "
                "out of the area; no school has asked for her records since.",
            ),
        ),
        narrative="The Designated Safeguarding Lead has checked with the family's last known "
        "contacts without finding a new school for her.",
        given_name="Poppy",
        family_name="Chenoweth",
        date_of_birth=date(2014, 1, 17),
        postcode="EX1 4PQ",
        levels=frozenset({3}),
        pathways=(("children_missing_education", "cme-e06099001"),),
    ),
    scenario(
        "serious_violence",
        "Working Together 2023 ch.3 (harm outside the home); KCSIE 2025 Annex B (serious "
        "violence); Serious Violence Duty (Police, Crime, Sentencing and Courts Act 2022); "
        "DOMAIN.md level 4 (significant harm)",
        source="police",
        ppn_grade="high",
        concerns=(
            Concern(
                "serious_violence",
                "The boy was stabbed in the leg in a park by another teenager and was found "
                "carrying a knife himself.",
            ),
        ),
        narrative="Officers attended at 19:40. The boy was taken to hospital and discharged "
        "the same night.",
        given_name="Tyler",
        family_name="Hocking",
        date_of_birth=date(2011, 2, 27),
        postcode="EX5 1BB",
        levels=STATUTORY,
    ),
    scenario(
        "modern_slavery",
        "Modern Slavery Act 2015; KCSIE 2025 Annex B; Working Together 2023 ch.3; DOMAIN.md "
        "level 4: trafficking and modern slavery",
        source="police",
        ppn_grade="high",
        concerns=(
            Concern(
                "modern_slavery",
                "The boy was found working unpaid in a car wash twelve hours a day, sleeping "
                "on site, with his documents held by the owner.",
            ),
        ),
        narrative="Officers found him during a licensing visit. He is somewhere safe tonight.",
        given_name="Andrei",
        family_name="Jago",
        date_of_birth=date(2010, 5, 12),
        postcode="EX6 7CC",
        levels=STATUTORY,
    ),
    scenario(
        "unaccompanied_asylum_seeking_child",
        "Children Act 1989 s20; Working Together 2023 ch.3; KCSIE 2025 Part one; DOMAIN.md "
        "level 4: accommodated by the local authority, children's social care",
        source="police",
        ppn_grade="high",
        concerns=(
            Concern(
                "unaccompanied_asylum_seeking_child",
                "The boy arrived alone in the back of a lorry, says he is 16 and has no parent "
                "or adult family in the UK, and wants to claim asylum.",
            ),
        ),
        narrative="The port operator called the police at 06:10. An interpreter was used.",
        given_name="Dawit",
        family_name="Kessell",
        date_of_birth=date(2010, 1, 1),
        postcode="EX2 8DD",
        levels=STATUTORY,
    ),
    scenario(
        "homeless_16_17",
        "R (G) v Southwark [2009] UKHL 26; Children Act 1989 s17 and s20; KCSIE 2025 Annex B "
        "(homelessness); DOMAIN.md: assessed as a child in need (level 4's s17)",
        source="school",
        concerns=(
            Concern(
                "homeless_16_17",
                "The student says her stepfather kicked her out two weeks ago; she has stayed "
                "with different friends each night since.",
            ),
        ),
        narrative="She asked the sixth form office for help finding somewhere to stay. She is "
        "still coming to lessons.",
        given_name="Chloe",
        family_name="Vosper",
        date_of_birth=date(2009, 9, 9),
        postcode="EX7 0EE",
        levels=STATUTORY,
    ),
    scenario(
        "sexual_activity_under_13",
        "Sexual Offences Act 2003 s5-8; Working Together 2023 ch.3; DOMAIN.md: a child under "
        "13 cannot consent in law, always a child protection referral",
        source="school",
        concerns=(
            Concern(
                "sexual_activity_under_13",
                "The 12-year-old told the school nurse that she has had sex with a 14-year-old "
                "boy from another school.",
            ),
        ),
        narrative="The Designated Safeguarding Lead spoke with her the same day and recorded "
        "her words.",
        given_name="Ruby",
        family_name="Menadue",
        date_of_birth=date(2014, 3, 25),
        postcode="EX8 2FF",
        levels=STATUTORY,
    ),
    scenario(
        "child_in_court_system",
        "KCSIE 2025 Annex B (children and the court system); DOMAIN.md level 2-3: support, "
        "early help",
        source="police",
        concerns=(
            Concern(
                "child_in_court_system",
                "The girl saw a man attacked on her street and is due to give evidence at the "
                "Crown Court in January.",
            ),
        ),
        narrative="The officer in the case asks for support for her before and during the trial.",
        given_name="Isla",
        family_name="Trevaskis",
        date_of_birth=date(2015, 6, 30),
        postcode="EX3 9GG",
        levels=EARLY_HELP,
    ),
    scenario(
        "disability_or_send",
        "KCSIE 2025 Part two (children with special educational needs and disabilities); "
        "Working Together 2023 ch.3; DOMAIN.md level 2 (bullying): a vulnerability that adds "
        "to another concern, never statutory by itself",
        source="school",
        concerns=(
            Concern(
                "bullying",
                "Other pupils take his lunch and call him names in the playground most days.",
            ),
            Concern(
                "disability_or_send",
                "He has an education, health and care plan for autism.",
            ),
        ),
        narrative="His parents have met the class teacher and the special educational needs "
        "coordinator.",
        given_name="Alfie",
        family_name="Rowse",
        date_of_birth=date(2015, 2, 14),
        postcode="EX4 5HH",
        levels=EARLY_HELP,
        sen_status="ehc_plan",
        # SEND adds to the bullying, it is not a need of its own: the agency that meets
        # the bullying still takes the referral.
        destination="family-support",
    ),
    scenario(
        "cybercrime",
        "KCSIE 2025 Annex B (cybercrime: a Cyber Choices referral); DOMAIN.md level 2-3: "
        "early help, not statutory",
        source="police",
        ppn_grade="low",
        concerns=(
            Concern(
                "cybercrime",
                "The boy used a tool bought online to knock a games server offline, and "
                "boasted about it to friends.",
            ),
        ),
        narrative="The games company reported it. Officers spoke with the boy and his mother "
        "at home.",
        given_name="Ethan",
        family_name="Bolitho",
        date_of_birth=date(2011, 11, 11),
        postcode="EX1 6JJ",
        levels=EARLY_HELP,
    ),
]

NEW_CATEGORIES = {
    "radicalisation",
    "private_fostering",
    "forced_marriage",
    "honour_based_abuse",
    "child_on_child_sexual_violence",
    "child_on_child_sexual_harassment",
    "nude_image_sharing_aggravated",
    "nude_image_sharing_experimental",
    "online_abuse",
    "sextortion",
    "child_missing_education",
    "serious_violence",
    "modern_slavery",
    "unaccompanied_asylum_seeking_child",
    "homeless_16_17",
    "sexual_activity_under_13",
    "child_in_court_system",
    "disability_or_send",
    "cybercrime",
}


def other_synonyms(text: str, carried: set[str]) -> list[str]:
    """The synonyms of codes the report does not carry that `text` names (whole words,
    any case, a plural allowed): words a review of the narrative could take for a
    concern the report does not name."""
    found = []
    for code, words in SYNONYMS.items():
        if code in carried:
            continue
        for word in words:
            if re.search(rf"(?<![a-z0-9]){re.escape(word.lower())}s?(?![a-z0-9])", text.lower()):
                found.append(f"{word!r} ({code})")
    return found


def body_of(case: Case, reference: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "source": {
            "kind": case.source,
            "organisation": FORCE if case.source == "police" else SCHOOL,
            "reference": reference,
        },
        "reported_at": REPORTED_AT,
        "child": {
            "given_name": case.given_name,
            "family_name": case.family_name,
            "date_of_birth": case.date_of_birth.isoformat(),
            "address": {"postcode": case.postcode},
        },
        "concerns": [{"code": c.code, "detail": c.detail} for c in case.concerns],
        "immediate_risk": False,
        "narrative": case.narrative,
    }
    if case.source == "police":
        body["police"] = {
            "incident_reference": "INC-" + reference,
            "occurred_at": "2026-11-29T19:40:00Z",
            "location": {"description": "Reported at the police station"},
            "officer": {
                "name": "PC Jo Harvey",
                "role": "Response officer",
                "phone": "01392 000500",
            },
            "ppn_grade": case.ppn_grade,
        }
    else:
        body["school"] = {
            "urn": SCHOOL,
            "dsl": {
                "name": "Jo Teacher",
                "role": "Designated Safeguarding Lead",
                "email": "dsl@demo-academy.sch.uk",
            },
        }
        if case.sen_status is not None:
            body["school"]["sen_status"] = case.sen_status
    return body


# ---------------------------------------------------------------- the embedded demo


@dataclass
class Demo:
    client: httpx.AsyncClient
    registry: KeyRegistry

    async def key(self, kind: ClientKind, organisation: str, *scopes: str) -> dict[str, str]:
        _, plain = await self.registry.create(
            name=f"categories {kind}", kind=kind, organisation=organisation, scopes=scopes
        )
        return {"Authorization": f"Bearer {plain}"}

    async def submitter(self, source: str) -> dict[str, str]:
        if source == "police":
            return await self.key(ClientKind.POLICE, FORCE, "reports:write", "reports:read")
        return await self.key(ClientKind.SCHOOL, SCHOOL, "reports:write", "reports:read")

    async def hub(self) -> dict[str, str]:
        return await self.key(ClientKind.HUB, "demoshire-hub", "referrals:read")


@asynccontextmanager
async def running(data_dir: Path) -> AsyncIterator[Demo]:
    """The embedded demo (the four services, the Demoshire policy and directory) in
    this process, every service reading one clock stopped at START."""
    # Escalation ticks every 50 ms, as in the routing tests.
    settings = embedded_settings(
        data_dir / "var", auth_cache_seconds=0, routing_escalation_interval_seconds=0.05
    )
    app = embedded_app(settings, clock=Clock(START))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://signpost") as client:
            yield Demo(client, app.state.key_registry)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def demo(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Demo]:
    """One embedded demo for the module's scenarios: each is about a child of its own,
    so no report is another's history."""
    async with running(tmp_path_factory.mktemp("categories")) as started:
        yield started


@dataclass(frozen=True)
class Outcome:
    record: dict[str, Any]  # routing's record, as the hub reads it
    view: dict[str, Any]  # the referrer's view of the report: its journey

    @property
    def pathways(self) -> list[tuple[str, str]]:
        """(pathway, destination id) of each statutory pathway routing told."""
        return sorted((p["pathway"], p["destination"]["id"]) for p in self.record["pathways"])

    @property
    def pathway_steps(self) -> list[str]:
        return [s["summary"] for s in self.view["journey"] if s["status"] == "pathway"]

    @property
    def own_steps(self) -> list[str]:
        """The report's own steps, the pathways told beside them left out."""
        return [s["status"] for s in self.view["journey"] if s["status"] != "pathway"]


async def submit_and_follow(demo: Demo, body: dict[str, Any]) -> Outcome:
    """Post `body` as its source would, then wait until routing has decided and the
    referrer's journey shows the routing and every pathway routing told."""
    submitter = await demo.submitter(body["source"]["kind"])
    hub = await demo.hub()
    answer = await demo.client.post("/v1/reports", headers=submitter, json=body)
    assert answer.status_code == 202, answer.text
    referral_id = answer.json()["referral_id"]

    async def routed() -> dict[str, Any] | None:
        r = await demo.client.get(f"/v1/referrals/{referral_id}/routing", headers=hub)
        return r.json() if r.status_code == 200 else None

    record = await eventually(routed, within=SECONDS)

    async def journey() -> dict[str, Any] | None:
        r = await demo.client.get(f"/v1/reports/{referral_id}", headers=submitter)
        assert r.status_code == 200, r.text
        view: dict[str, Any] = r.json()
        statuses = [s["status"] for s in view["journey"]]
        told = statuses.count("pathway")
        return view if "routed" in statuses and told >= len(record["pathways"]) else None

    return Outcome(record, await eventually(journey, within=SECONDS))


# ---------------------------------------------------------------- the tests


def test_there_is_one_scenario_for_each_category_vocabulary_v2_added() -> None:
    v1 = json.loads((ROOT / "shared" / "data" / "concerns-v1.json").read_text(encoding="utf-8"))
    added = {c["code"] for c in VOCABULARY["concerns"]} - {c["code"] for c in v1["concerns"]}
    assert added == NEW_CATEGORIES
    categories = [p.values[0].category for p in CASES]
    assert sorted(categories) == sorted(NEW_CATEGORIES)


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize("case", CASES)
async def test_a_new_category_reaches_the_level_destination_and_pathway_its_guidance_sets(
    demo: Demo, case: Case
) -> None:
    """A report naming the category (disability_or_send, a modifier, beside the concern
    it adds to) reaches the level band and destination DOMAIN.md and the guidance cited
    in the case's id (`case.guidance`) set under the Demoshire policy, is told to the
    statutory pathway that guidance requires (or to none), and the referrer's journey
    shows received, triaged, routed and each pathway told."""
    why = case.why()
    assert case.codes == {case.category} or (
        case.category == "disability_or_send" and len(case.codes) == 2
    ), "a scenario names only its category"
    for text in (case.narrative, *(c.detail for c in case.concerns)):
        assert other_synonyms(text, case.codes) == [], f"not neutral: {text!r}"

    outcome = await submit_and_follow(demo, body_of(case, f"CAT-{case.category[:50]}"))
    record, view = outcome.record, outcome.view

    # Neutral words: the narrative review found nothing the codes do not name.
    assert "needs_review" not in record["reason_codes"], f"{why}\n{record['explanation']}"
    level, kind = record["level"], record["destination"]["kind"]
    assert level in case.levels, f"{why}\nlevel {level}: {record['explanation']}"
    assert kind in DESTINATIONS_AT_LEVEL[level], f"{why}\n{kind}: {record['explanation']}"
    if case.destination is not None:
        assert record["destination"]["id"] == case.destination, f"{why}\n{record['explanation']}"
    assert outcome.pathways == sorted(case.pathways), f"{why}\n{record['explanation']}"
    assert {p["reason_code"] for p in record["pathways"]} <= {"statutory_pathway"}, why

    # The referrer's journey: the same level and destination, every step in order,
    # and each pathway told, by name.
    assert (view["level"], view["destination"]["kind"]) == (level, kind), why
    assert view["priority"] == PRIORITY_AT_LEVEL[level], why
    assert outcome.own_steps[:3] == ["received", "triaged", "routed"], why
    told = {p["pathway"]: p["destination"]["name"] for p in record["pathways"]}
    assert {p["pathway"]: p["destination"]["name"] for p in view["pathways"]} == told, why
    assert len(outcome.pathway_steps) == len(case.pathways), why
    for name in told.values():
        assert any(name in step for step in outcome.pathway_steps), f"{why}\n{name}"


# The child of the two-pathway scenario, in each catchment: the CME officer the
# directory lists for the child's local authority, or the hub when none is listed.
TWO_PATHWAYS = [
    pytest.param("EX1 7LP", "Kit", "cme-e06099001", "statutory_pathway", id="EX1-E06099001"),
    pytest.param("EX3 8NR", "Zac", "cme-e06099002", "statutory_pathway", id="EX3-E06099002"),
    pytest.param("PL4 8AA", "Finn", "hub", "pathway_destination_missing", id="PL4-no-authority"),
]


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize(("postcode", "given_name", "cme", "cme_reason"), TWO_PATHWAYS)
async def test_a_report_needing_the_mash_and_two_pathways_is_told_to_each(
    demo: Demo, postcode: str, given_name: str, cme: str, cme_reason: str
) -> None:
    """Suspected physical abuse, radicalisation and a child missing education at once:
    the MASH for the significant harm (DOMAIN.md level 4; Working Together 2023), a
    Prevent referral to the police Prevent team (Counter-Terrorism and Security Act
    2015 s26; KCSIE 2025 Annex B), and the children missing education officer of the
    child's local authority (Education Act 1996 s436A), or the hub, who make the
    notification, where the directory lists none for the child's area."""
    report = Case(
        category="physical_abuse, radicalisation and child_missing_education",
        guidance="DOMAIN.md level 4 and 'Categories with a route of their own'",
        source="police",
        ppn_grade="high",
        concerns=(
            Concern("physical_abuse", "Bruising to both upper arms his father could not explain."),
            Concern(
                "radicalisation",
                "He repeated extremist slogans and showed officers propaganda videos he says "
                "he watches every day.",
            ),
            Concern(
                "child_missing_education",
                "He has not been on any school roll since the family moved here in the "
                "summer, and is not being taught at home.",
            ),
        ),
        narrative="Officers attended after a neighbour's call at 11:00 on a weekday. The "
        "father was arrested; the boy is staying with his aunt tonight.",
        given_name=given_name,
        family_name="Angwin",
        date_of_birth=date(2013, 4, 4),
        postcode=postcode,
        levels=STATUTORY,
    )
    for text in (report.narrative, *(c.detail for c in report.concerns)):
        assert other_synonyms(text, report.codes) == [], f"not neutral: {text!r}"

    outcome = await submit_and_follow(demo, body_of(report, f"MULTI-{given_name}"))
    record = outcome.record

    assert (record["level"], record["destination"]["kind"]) == (4, "mash"), record["explanation"]
    assert outcome.pathways == sorted(
        [("children_missing_education", cme), ("prevent", "prevent")]
    ), record["explanation"]
    reasons = {p["pathway"]: p["reason_code"] for p in record["pathways"]}
    assert reasons == {"prevent": "statutory_pathway", "children_missing_education": cme_reason}

    assert outcome.own_steps[:3] == ["received", "triaged", "routed"]
    assert outcome.view["destination"]["kind"] == "mash"
    assert sorted(p["pathway"] for p in outcome.view["pathways"]) == sorted(reasons)
    assert len(outcome.pathway_steps) == 2
    if cme == "hub":
        assert any(
            "early intervention hub will make it" in step for step in outcome.pathway_steps
        ), outcome.pathway_steps


async def test_every_v2_code_is_accepted_through_the_json_api_and_the_csv_batch(
    tmp_path: Path,
) -> None:
    """All 55 codes of vocabulary v2, as GET /v1/vocabulary publishes them, are accepted
    one per report through POST /v1/reports (JSON) and one per row through the CSV
    batch import; a code outside the vocabulary in the same batch is that row's error,
    naming its column."""
    codes = [c["code"] for c in VOCABULARY["concerns"]]
    assert len(codes) == len(set(codes)) == 55
    async with running(tmp_path) as demo:
        published = (await demo.client.get("/v1/vocabulary")).json()
        assert sorted(c["code"] for c in published["concerns"]) == sorted(codes)

        school = await demo.submitter("school")
        header = (
            "source.reference,reported_at,child.given_name,child.family_name,"
            "child.date_of_birth,child.address.postcode,concerns\n"
        )
        rows = [
            f"CSV-{i:02d},{REPORTED_AT},Sam,Vocabulary,2012-05-05,EX1 1AA,{code}\n"
            for i, code in enumerate([*codes, "not_a_v2_code"])
        ]
        answer = await demo.client.post(
            "/v1/reports/batch",
            content=(header + "".join(rows)).encode(),
            headers={**school, "content-type": "text/csv"},
        )
        assert answer.status_code == 200, answer.text
        batch = answer.json()
        assert batch["rows"] == 56
        assert [a["row"] for a in batch["accepted"]] == list(range(55))
        assert [(e["row"], [f["field"] for f in e["errors"]]) for e in batch["errors"]] == [
            (55, ["concerns"])
        ]

        police = await demo.submitter("police")
        refused = {}
        for code in codes:
            body = {
                "source": {"kind": "police", "organisation": FORCE, "reference": f"API-{code}"},
                "reported_at": REPORTED_AT,
                "child": {
                    "given_name": "Sam",
                    "family_name": "Vocabulary",
                    "date_of_birth": "2012-05-05",
                    "address": {"postcode": "EX1 1AA"},
                },
                "concerns": [{"code": code}],
            }
            r = await demo.client.post("/v1/reports", headers=police, json=body)
            if r.status_code != 202:
                refused[code] = r.text
        assert refused == {}
