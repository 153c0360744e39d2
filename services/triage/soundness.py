"""Is a threshold policy sound? What a valid policy must also keep to decide about a child.

Validation (`policy.py`) makes sure a policy is well formed and that its parts agree.
Soundness compares it with the guidance every threshold document follows:

a. every code of the published concern vocabulary is handled, once: statutory,
   weighted, or informational with a reason (a code nobody placed would silently
   score nothing);
b. every category of significant harm the vocabulary has is statutory
   (`SIGNIFICANT_HARM`);
c. no single non-statutory indicator reaches the top level, at any age from 0 to 17,
   through the bands, the age modifiers or a household member's weight: computed with
   the real decision (`scoring.decide`), so a future rule is checked too;
d. no indicator the threshold documents call an education and early-help matter by
   itself is statutory (`EDUCATION_AND_EARLY_HELP`).

Pure: a policy and a vocabulary in, plain sentences out. `parse_policy` runs these rules
after validation, so `signpost policy check FILE` and triage's start-up refuse an
unsound policy the same way, with the line at fault.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime
from zoneinfo import ZoneInfoNotFoundError

from services.triage.policy import Loc, ScoreBand, ThresholdPolicy, dotted
from services.triage.scoring import ReportFacts, decide
from shared.report import concern_codes

# The categories of significant harm: "reasonable cause to suspect that a child is
# suffering, or is likely to suffer, significant harm" (Children Act 1989 s47) as
# Working Together to Safeguard Children 2023 and Keeping Children Safe in Education
# (Part one, Annex B) name them, and as the level 4 lists of the threshold documents
# word them (Hampshire, Wirral, Northumberland, Newcastle, Cheshire West, Liverpool,
# East Sussex; DOMAIN.md "Thresholds"). Each must set a policy's top level by itself.
# One line per code; a code the vocabulary does not have yet is skipped, so a later
# vocabulary's codes go here as it is published. The categories with a route of their
# own (DOMAIN.md) are not here by themselves: radicalisation (Prevent), private
# fostering (a notification), an unaccompanied child (s20 accommodation) and a homeless
# 16- or 17-year-old (a child in need assessment) go to children's services whatever the
# level of need, which a policy says by making them statutory, not because each is
# significant harm; nor is serious violence, whose level the partnership decides.
SIGNIFICANT_HARM: dict[str, str] = {
    "physical_abuse": "suspected physical abuse",
    "sexual_abuse": "suspected sexual abuse",
    "emotional_abuse": "suspected emotional abuse",
    "physical_neglect": "suspected neglect",
    "emotional_neglect": "suspected neglect",
    "child_sexual_exploitation": "child sexual exploitation",
    "child_criminal_exploitation": "child criminal exploitation",
    "trafficking": "trafficking and modern slavery",
    "fgm": "female genital mutilation",
    # The vocabulary's "Gang involvement" is involvement, which the threshold documents
    # put at level 4 as "gang involvement with risk of harm"; being at risk of it is
    # level 3 and has no code of its own.
    "gang_involvement": "gang involvement with risk of harm",
    "missing_frequently": "a child frequently missing",
    "domestic_abuse_serious": "chronic or serious domestic abuse",
    "parental_mental_health_significant": "parental mental health significantly affecting care",
    "parental_substance_misuse_significant": (
        "parental substance misuse significantly affecting care"
    ),
    # Vocabulary v2 (Keeping Children Safe in Education 2025 Annex B; Working Together
    # 2023): the police and children's social care the same day, never mediation.
    "forced_marriage": "forced marriage",
    "honour_based_abuse": "so-called honour-based abuse",
    # A child under 13 cannot consent in law: always a child protection referral.
    "sexual_activity_under_13": "sexual activity involving a child under 13",
    "modern_slavery": "modern slavery",
    # UKCIS: an adult involved, coercion, threats or a child under 13 goes to the police
    # and social care (experimental sharing between peers a school may manage).
    "nude_image_sharing_aggravated": "aggravated sharing of nude or semi-nude images",
    "sextortion": "sexual extortion of a child (sextortion)",
    # Rape, assault by penetration or sexual assault (KCSIE Part five); sexual
    # harassment alone is not here.
    "child_on_child_sexual_violence": "child-on-child sexual violence",
}

# Indicators the threshold documents place below the statutory level by themselves,
# with their level in the usual four: "education and early-help matters by themselves;
# they become statutory only with an indicator of harm" (DOMAIN.md "Thresholds":
# Southwark sends risk of permanent exclusion to family early help; Wigan puts school
# non-attendance at level 2). In a policy the indicator of harm is statutory in its own
# right, so making one of these statutory as well can only send a child to children's
# social care, red, for an education matter. A fixed-term exclusion is below a
# permanent one. A child missing education is level 3 (the local authority's CME officer
# is told; early help or the MASH alongside only with other concerns).
EDUCATION_AND_EARLY_HELP: dict[str, tuple[int, str]] = {
    "absence_truancy": (2, "absence or truancy"),
    "fixed_term_exclusion": (2, "a fixed-term exclusion"),
    "chronic_non_attendance": (3, "persistent or chronic non-attendance"),
    "permanent_exclusion": (3, "permanent exclusion or the risk of it"),
    "child_missing_education": (3, "a child missing education"),
}

CHILD_AGES = range(18)
# Any instant: the level of a report does not depend on when it was made.
_AT = datetime(2026, 11, 10, 10, 0, tzinfo=UTC)


def soundness_problems(
    policy: ThresholdPolicy, vocabulary: Collection[str] | None = None
) -> list[str]:
    """Each way `policy` is unsound against `vocabulary` (default: the published concern
    codes), as a plain sentence naming the code or band; empty when it is sound."""
    return [why for _, why in located_soundness_problems(policy, vocabulary)]


def located_soundness_problems(
    policy: ThresholdPolicy, vocabulary: Collection[str] | None = None
) -> list[tuple[Loc, str]]:
    """`soundness_problems`, each at the place in the policy where the fix goes."""
    codes = frozenset(concern_codes() if vocabulary is None else vocabulary)
    problems: list[tuple[Loc, str]] = []
    placed = _placements(policy, codes, problems)
    for code in sorted(codes - set(placed)):
        problems.append(
            (
                ("weights",),
                f"{code!r} is not handled: make it statutory, give it a weight, or list it "
                "as informational with the reason it is not scored",
            )
        )
    for code in policy.notes:
        if code not in codes:
            problems.append((("notes", code), f"the note on {code!r}: {_unknown(code)}"))
    for i, code in enumerate(policy.household.shared_codes):
        if code not in codes:
            problems.append((("household", "shared_codes", i), _unknown(code)))

    statutory = set(policy.statutory)
    for code, harm in SIGNIFICANT_HARM.items():
        if code in codes and code not in statutory:
            problems.append(
                (
                    placed.get(code, ("statutory",)),
                    f"{code!r} is not statutory, but {harm} is reasonable cause to suspect "
                    "significant harm (Children Act 1989 s47; Working Together to Safeguard "
                    "Children 2023): it must set the top level by itself",
                )
            )
    for i, code in enumerate(policy.statutory):
        if code in EDUCATION_AND_EARLY_HELP and code in codes:
            level, what = EDUCATION_AND_EARLY_HELP[code]
            problems.append(
                (
                    ("statutory", i),
                    f"{code!r} is statutory, but the threshold documents put {what} at level "
                    f"{level} by itself, an education and early-help matter that becomes "
                    "statutory only with an indicator of harm (statutory in its own right): "
                    "give it a weight instead",
                )
            )
    if _scorable(policy):
        problems.extend(_single_indicators(policy, codes, placed))
    return problems


def _placements(
    policy: ThresholdPolicy, codes: frozenset[str], problems: list[tuple[Loc, str]]
) -> dict[str, Loc]:
    """Where each code is handled (its first place), recording codes the vocabulary does
    not have and codes handled twice."""
    places: list[tuple[str, Loc]] = [
        *((code, ("statutory", i)) for i, code in enumerate(policy.statutory)),
        *(
            (code, ("weights", domain, code))
            for domain, weights in policy.weights.items()
            for code in weights
        ),
        *((code, ("informational", code)) for code in policy.informational),
    ]
    placed: dict[str, Loc] = {}
    for code, loc in places:
        if code not in codes:
            problems.append((loc, _unknown(code)))
        elif code in placed:
            problems.append(
                (
                    loc,
                    f"{code!r} is already placed at {dotted(placed[code])}: a code is "
                    "statutory, weighted or informational, in one place",
                )
            )
        placed.setdefault(code, loc)
    return placed


def _unknown(code: str) -> str:
    return f"{code!r} is not in the vocabulary (a typo, or a code of a later vocabulary)"


def _scorable(policy: ThresholdPolicy) -> bool:
    """Whether `decide` can run on the policy at all; validation reports what stops it."""
    levels = [spec.level for spec in policy.levels]
    if levels != list(range(1, len(levels) + 1)):
        return False
    if any(band.level > len(levels) for band in policy.score_bands):
        return False
    if policy.working_hours.end <= policy.working_hours.start:
        return False
    try:
        policy.zone  # noqa: B018 - only whether the zone exists
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def _single_indicators(
    policy: ThresholdPolicy, codes: frozenset[str], placed: dict[str, Loc]
) -> list[tuple[Loc, str]]:
    """Rule c: one non-statutory concern code, or one household member's flag, alone in a
    report, decided by the real scorer for a child of every age."""
    top = policy.top_level
    statutory = set(policy.statutory)
    singles: list[tuple[str, Loc, tuple[str, ...], tuple[str, ...]]] = [
        (f"{code!r}", placed.get(code, ("weights",)), (code,), ())
        for code in sorted(codes - statutory)
    ]
    singles += [
        (
            f"the household member flag {flag!r}",
            ("household", "member_flags", flag, "weight"),
            (),
            (flag,),
        )
        for flag in sorted(policy.household.member_flags)
    ]
    problems: list[tuple[Loc, str]] = []
    for name, loc, concern_codes_, flags in singles:
        reached = []
        for age in CHILD_AGES:
            facts = ReportFacts(
                concern_codes=concern_codes_,
                immediate_risk=False,
                age_years=age,
                reported_at=_AT,
                received_at=_AT,
                member_flags=flags,
            )
            decision = decide(policy, facts, [])
            if decision.level >= top:
                reached.append((age, decision.score))
        if reached:
            # The plainest example: the lowest score that reaches it, at the oldest age.
            age, score = min(reached, key=lambda reach: (reach[1], -reach[0]))
            problems.append(
                (
                    loc,
                    f"{name} on its own reaches level {top}, the top level, for a child "
                    f"{_ages([a for a, _ in reached])} (at {age}, a needs score of {score}"
                    f"{_band(policy, score, top)}): only a statutory indicator may set the "
                    "top level",
                )
            )
    return problems


def _band(policy: ThresholdPolicy, score: int, top: int) -> str:
    bands: list[tuple[int, ScoreBand]] = [
        (i, band)
        for i, band in enumerate(policy.score_bands, start=1)
        if score >= band.min_score and band.level >= top
    ]
    if not bands:
        return ""
    i, band = bands[0]
    return f" meets score band {i}: min_score {band.min_score}, level {band.level}"


def _ages(ages: list[int]) -> str:
    if ages == list(CHILD_AGES):
        return "of any age"
    if ages == list(range(ages[0], ages[-1] + 1)):
        return f"aged {ages[0]}" if len(ages) == 1 else f"aged {ages[0]} to {ages[-1]}"
    return "aged " + ", ".join(str(a) for a in ages)
