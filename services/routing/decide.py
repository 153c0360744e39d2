"""Choosing where a referral goes, as a pure function that explains every candidate."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from services.routing.directory import Agency, DirectoryContent
from shared.events import DestinationKind, ReasonCode
from shared.pathways import PATHWAYS, pathways_needed
from shared.report import concern_words, modifier_codes


@dataclass(frozen=True)
class Candidate:
    """An agency routing looked at, whether it could take the referral, and why."""

    agency_id: str
    suitable: bool
    reason: str
    name: str = ""
    meets_every_need: bool = False


@dataclass(frozen=True)
class Routing:
    destination: Agency | None  # None: universal services, no referral
    destination_kind: DestinationKind
    reason_codes: list[ReasonCode]
    considered: list[Candidate] = field(default_factory=list)
    explanation: str = ""


def _catchment(agency: Agency) -> str:
    areas = [*agency.postcode_districts, *agency.local_authority_codes]
    return ", ".join(areas)


def in_catchment(
    agency: Agency, postcode_district: str | None, local_authority_code: str | None
) -> bool:
    """An agency with no districts and no authorities covers the whole area."""
    if not agency.postcode_districts and not agency.local_authority_codes:
        return True
    district = (postcode_district or "").upper()
    authority = (local_authority_code or "").upper()
    return (bool(district) and district in agency.postcode_districts) or (
        bool(authority) and authority in agency.local_authority_codes
    )


def _load_words(agency: Agency, load: int) -> str:
    if agency.capacity is None:
        return f"{load} referral{'s' if load != 1 else ''} open, no set limit"
    return f"{load} of {agency.capacity} referrals open"


def route(
    *,
    level: int,
    concern_codes: list[str],
    age: int | None,
    postcode_district: str | None,
    open_referrals: Mapping[str, int],
    directory: DirectoryContent,
    top_level: int = 4,
    local_authority_code: str | None = None,
    suspected_codes: list[str] | None = None,
) -> Routing:
    """Where a triaged referral goes, and why, in words: by its level (`by_level`),
    unless triage found its narrative naming concerns its codes do not
    (`suspected_codes`). Then, below the top level, it goes to the hub's review queue
    (reason `needs_review`) with what it would otherwise have done: never silently up
    or down. At the top level it goes to the MASH as ever, the review named."""
    decided = by_level(
        level=level,
        concern_codes=concern_codes,
        age=age,
        postcode_district=postcode_district,
        open_referrals=open_referrals,
        directory=directory,
        top_level=top_level,
        local_authority_code=local_authority_code,
    )
    if not suspected_codes:
        return decided
    named = concern_words(suspected_codes)
    if decided.destination_kind == "mash":
        return Routing(
            decided.destination,
            decided.destination_kind,
            decided.reason_codes,
            decided.considered,
            explanation=(
                f"{decided.explanation} The narrative also names concerns the report's "
                f"codes do not ({named}): the MASH should consider them too."
            ),
        )
    hub = directory.of_kind("hub")
    otherwise = (
        "no referral (universal services)"
        if decided.destination is None
        else decided.destination.name
    )
    return Routing(
        hub,
        "hub",
        [ReasonCode.NEEDS_REVIEW, *decided.reason_codes],
        decided.considered,
        explanation=(
            f"Triage found the narrative naming concerns the report's codes do not "
            f"({named}): the referral goes to {hub.name} to review before anything else, "
            f"its level ({level}) unchanged. Without the review it would have gone to "
            f"{otherwise}: {decided.explanation}"
        ),
    )


def by_level(
    *,
    level: int,
    concern_codes: list[str],
    age: int | None,
    postcode_district: str | None,
    open_referrals: Mapping[str, int],
    directory: DirectoryContent,
    top_level: int = 4,
    local_authority_code: str | None = None,
) -> Routing:
    """The single best-placed destination for a triaged referral, and why, in words.

    The top (statutory) level of the area's policy → the MASH at once; levels between
    2 and the top → the hub; level 1 → no referral, universal services advised;
    level 2 → the agency that meets every need, in catchment, in age range and with
    room (best fit first: the most needs met, then the least loaded share of its
    capacity, then the fewest open referrals), else the hub. Every agency looked at
    is kept with the reason it could or could not take the referral.
    """
    if level >= top_level:
        mash = directory.of_kind("mash")
        return Routing(
            mash,
            "mash",
            [ReasonCode.STATUTORY_LEVEL],
            explanation=(
                f"Level {level} is the top (statutory) level of the area's threshold policy: "
                f"the referral goes at once to {mash.name}, who decide on statutory action."
            ),
        )
    hub = directory.of_kind("hub")
    if level >= 3:
        return Routing(
            hub,
            "hub",
            [ReasonCode.MULTI_AGENCY_LEVEL],
            explanation=(
                f"Level {level} calls for a multi-agency response below the statutory "
                f"threshold: the referral goes to {hub.name}, who agree the right support "
                "with the family."
            ),
        )
    if level <= 1:
        return Routing(
            None,
            "universal",
            [ReasonCode.UNIVERSAL_SERVICES_ADVISED],
            explanation=(
                f"Level {level} means no additional needs: no referral is made to any "
                "agency, and the referrer is told that universal services (school, GP, "
                "health visitor) are advised."
            ),
        )

    # A vulnerability that adds to other concerns (SEND) is not a need an agency
    # meets: with other needs it is left out of the fit; alone, it is the need.
    given = list(dict.fromkeys(concern_codes))
    needs = [c for c in given if c not in modifier_codes()] or given
    authority = local_authority_code or directory.authority_of(postcode_district)
    where = postcode_district or "an unknown district"
    considered: list[Candidate] = []
    suitable: list[tuple[int, float, int, Agency]] = []
    for agency in directory.agencies:
        if agency.kind != "agency":
            continue
        met = [n for n in needs if n in agency.concern_codes]
        load = open_referrals.get(agency.id, 0)
        fit = False
        if not met:
            reason = f"does not meet any of the needs ({concern_words(needs)})"
        elif age is not None and not agency.min_age <= age <= agency.max_age:
            reason = (
                f"takes children aged {agency.min_age} to {agency.max_age}; this child is {age}"
            )
        elif not in_catchment(agency, postcode_district, authority):
            reason = f"covers {_catchment(agency)} only; this child lives in {where}"
        elif agency.capacity is not None and load >= agency.capacity:
            reason = f"is full ({_load_words(agency, load)})"
        else:
            fit = len(met) == len(needs)
            share = load / agency.capacity if agency.capacity else 0.0
            suitable.append((len(met), -share, -load, agency))
            which = "every need" if fit else f"{len(met)} of {len(needs)} needs"
            reason = f"meets {which} ({concern_words(met)}); {_load_words(agency, load)}"
        considered.append(
            Candidate(
                agency.id,
                suitable=reason.startswith("meets "),
                reason=reason,
                name=agency.name,
                meets_every_need=fit,
            )
        )
    others = "; ".join(f"{c.name} {c.reason}" for c in considered)
    if not suitable:
        return Routing(
            hub,
            "hub",
            [ReasonCode.NO_SINGLE_AGENCY_SUITABLE],
            considered,
            explanation=(
                f"Level {level} (early help), but no single agency could take it: {others}. "
                f"The referral goes to {hub.name} to find the right support."
            ),
        )
    # Best fit first, then the least loaded share of capacity, then the fewest open
    # referrals; the id last keeps the choice deterministic.
    met_count, _, _, best = max(suitable, key=lambda s: (s[0], s[1], s[2], s[3].id))
    if met_count < len(needs):
        return Routing(
            hub,
            "hub",
            [ReasonCode.NEEDS_SPAN_AGENCIES],
            considered,
            explanation=(
                f"Level {level} (early help), but no single agency meets every need "
                f"({concern_words(needs)}): {others}. The referral goes to {hub.name}, "
                "who coordinate the agencies around the family."
            ),
        )
    rivals = [c for c in considered if c.meets_every_need and c.agency_id != best.id]
    compared = (
        f"; it is the least loaded of {len(rivals) + 1} agencies that meet every need"
        if rivals
        else "; no other agency meets every need"
    )
    chosen = next(c for c in considered if c.agency_id == best.id)
    return Routing(
        best,
        "agency",
        [ReasonCode.SINGLE_AGENCY_BEST_PLACED],
        considered,
        explanation=(
            f"Level {level} (early help): {best.name} is best placed. It {chosen.reason}, "
            f"takes children aged {best.min_age} to {best.max_age} and covers "
            f"{_catchment(best) or 'the whole area'}{compared}. Also considered: "
            + (
                "; ".join(f"{c.name} {c.reason}" for c in considered if c.agency_id != best.id)
                or "no other agency"
            )
            + "."
        ),
    )


@dataclass(frozen=True)
class PathwayRoute:
    """A statutory pathway a referral needs, and who is told: the pathway's destination
    covering the child, or the hub (who make the notification) when none does."""

    pathway: str
    concern_codes: list[str]
    destination: Agency
    reason_code: ReasonCode
    explanation: str


def pathways(
    *,
    concern_codes: list[str],
    postcode_district: str | None,
    directory: DirectoryContent,
    local_authority_code: str | None = None,
) -> list[PathwayRoute]:
    """Every statutory pathway the referral's concern codes need, whatever its level
    and wherever it goes, each with who is told and why, in words.

    A pathway's destination must cover the child (catchment as for agencies); age,
    capacity and needs do not matter, since the duty to tell does not depend on them.
    With none covering the child the hub is told, so that the notification is made by
    a person rather than lost: the explanation says so.
    """
    authority = local_authority_code or directory.authority_of(postcode_district)
    where = postcode_district or authority or "an unknown area"
    found: list[PathwayRoute] = []
    for name, codes in pathways_needed(concern_codes).items():
        pathway = PATHWAYS[name]
        because = f"because the report names {concern_words(codes)}"
        covering = [
            a
            for a in directory.pathway_destinations(name)
            if in_catchment(a, postcode_district, authority)
        ]
        if covering:
            # Most specific first: one whose catchment names the child's district or
            # authority over one covering the whole area; then by id.
            best = min(
                covering,
                key=lambda a: (not (a.postcode_districts or a.local_authority_codes), a.id),
            )
            found.append(
                PathwayRoute(
                    name,
                    codes,
                    best,
                    ReasonCode.STATUTORY_PATHWAY,
                    f"{pathway.label}: {best.name} ({pathway.recipient}) is told {because} "
                    f"({pathway.source}).",
                )
            )
            continue
        hub = directory.of_kind("hub")
        found.append(
            PathwayRoute(
                name,
                codes,
                hub,
                ReasonCode.PATHWAY_DESTINATION_MISSING,
                f"{pathway.label} is owed {because} ({pathway.source}), but the directory "
                f"names no destination for it covering {where}: {hub.name} is told, to "
                f"make it to {pathway.recipient}.",
            )
        )
    return found


def pathway_words(routes: list[PathwayRoute]) -> str:
    """The pathways told, as the routing explanation ends: '' when there are none."""
    if not routes:
        return ""
    return " Statutory pathways, told as well: " + " ".join(r.explanation for r in routes)
