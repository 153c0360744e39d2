"""Choosing where a referral goes, as a pure function that explains every candidate."""

from __future__ import annotations

from dataclasses import dataclass, field

from services.routing.directory import Agency, Directory
from shared.events import DestinationKind


@dataclass(frozen=True)
class Candidate:
    agency_id: str
    suitable: bool
    reason: str


@dataclass(frozen=True)
class Routing:
    destination: Agency | None  # None: universal services, no referral
    destination_kind: DestinationKind
    reason_codes: list[str]
    considered: list[Candidate] = field(default_factory=list)


def route(
    *,
    level: int,
    concern_codes: list[str],
    age: int | None,
    postcode_district: str | None,
    open_referrals: dict[str, int],
    directory: Directory,
    top_level: int = 4,
) -> Routing:
    """The single best-placed destination for a triaged referral.

    The top (statutory) level of the area's policy → the MASH at once; levels between
    2 and the top → the hub; level 2 → the agency that meets the most needs, in
    catchment, age range and with capacity (least loaded on a tie), else the hub;
    level 1 → no referral, universal services advised.
    """
    if level >= top_level:
        return Routing(directory.of_kind("mash"), "mash", ["statutory_level"])
    if level >= 3:
        return Routing(directory.of_kind("hub"), "hub", ["multi_agency_level"])
    if level <= 1:
        return Routing(None, "universal", ["universal_services_advised"])

    needs = set(concern_codes)
    considered: list[Candidate] = []
    suitable: list[tuple[int, int, Agency]] = []
    for agency in directory.agencies:
        if agency.kind != "agency":
            continue
        met = needs & set(agency.concern_codes)
        load = open_referrals.get(agency.id, 0)
        if not met:
            reason = "meets none of the needs"
        elif age is not None and not agency.min_age <= age <= agency.max_age:
            reason = f"age {age} outside {agency.min_age}-{agency.max_age}"
        elif agency.postcode_districts and postcode_district not in agency.postcode_districts:
            reason = "outside catchment"
        elif agency.capacity is not None and load >= agency.capacity:
            reason = f"at capacity ({load}/{agency.capacity})"
        else:
            reason = f"meets {len(met)} of {len(needs)} needs; {load} open"
            suitable.append((len(met), -load, agency))
        considered.append(
            Candidate(agency.id, reason.startswith("meets ") and "of" in reason, reason)
        )
    if not suitable:
        return Routing(directory.of_kind("hub"), "hub", ["no_single_agency_suitable"], considered)
    met_count, _, best = max(suitable, key=lambda s: (s[0], s[1], s[2].id))
    if met_count < len(needs):
        return Routing(directory.of_kind("hub"), "hub", ["needs_span_agencies"], considered)
    return Routing(best, "agency", ["single_agency_best_placed"], considered)
