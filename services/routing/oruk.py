"""Agencies from Open Referral UK / HSDS 3 JSON, as a pure mapping.

Accepted shapes: a paginated service list (`{"contents": [...]}`, as HSDS 3's
`/services` answers), a single service, an organization with its `services`, or a
JSON array of either. For each service:

- `service.id` → `id` = `oruk-<id>` and `source` = `oruk:<id>`; `service.name` → `name`;
- `organization.id` (the service's own, or the organization it is listed under) →
  `organisation`: the API-key organisation that answers for the agency's referrals;
- `minimum_age` / `maximum_age` (the service's, or its `eligibility` entries) →
  `min_age` / `max_age`, capped at 25;
- `service_areas[]`: GSS codes (E06000059) in `uri`, `name` or `extent` →
  `local_authority_codes`; a `name` that is only a list of postcode districts
  ("EX1, EX2") → `postcode_districts`; free text alone → the whole area (noted);
- `capacities[]` (HSDS 3.1 service_capacity) `.maximum` → `capacity`;
- `email`, `url`, the first `phones[].number` → `contact`;
- `attributes[].taxonomy_term` (and ORUK 1's `service_taxonomys[].taxonomy`) →
  `concern_codes`, as follows.

Concern codes: a term in the taxonomy `signpost-concern` is a concern code itself;
any other term is looked up (lower case, by `term` then `name`) in the directory's
`taxonomy_concerns` map, which the partnership owns and versions with its directory.
A service that is not active, serves adults only, or meets no concern code is
skipped, with the reason. ORUK has no response time, so every imported agency gets
the `response_sla_hours` the importer gives (default 72).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from services.routing.directory import Agency, Contact, DirectoryContent
from shared.report import concern_codes as known_concern_codes

T = TypeVar("T")

SIGNPOST_TAXONOMY = "signpost-concern"
MAX_AGE = 25
_GSS = re.compile(r"\b([EWSN]\d{8})\b")
_DISTRICT_LIST = re.compile(r"^\s*[A-Z]{1,2}\d[A-Z\d]?(\s*[,;/ ]\s*[A-Z]{1,2}\d[A-Z\d]?)*\s*$")
_DISTRICT = re.compile(r"[A-Z]{1,2}\d[A-Z\d]?")


@dataclass(frozen=True)
class Skipped:
    service_id: str
    name: str
    reason: str


@dataclass
class Imported:
    agencies: list[Agency] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _services(
    document: Any, organization: Mapping[str, Any] | None = None
) -> Iterator[tuple[Mapping[str, Any], Mapping[str, Any] | None]]:
    if isinstance(document, list):
        for item in document:
            yield from _services(item, organization)
    elif isinstance(document, Mapping):
        if isinstance(document.get("contents"), list):
            yield from _services(document["contents"], organization)
        elif isinstance(document.get("services"), list):
            yield from _services(document["services"], document)
        elif "name" in document and "id" in document:
            yield document, organization


def _text(value: Any) -> str:
    """A published text value on one line: runs of whitespace (line breaks and tabs
    in a name, as published directories have) become one space. Other control
    characters stay, and the agency is then skipped as not valid."""
    return " ".join(value.split()) if isinstance(value, str) else ""


def _terms(service: Mapping[str, Any]) -> Iterator[tuple[str, str, str]]:
    """(taxonomy, term, name) for each taxonomy term the service is tagged with."""
    for attribute in service.get("attributes") or []:
        term = attribute.get("taxonomy_term") if isinstance(attribute, Mapping) else None
        if isinstance(term, Mapping):
            yield _text(term.get("taxonomy")), _text(term.get("term")), _text(term.get("name"))
    for tagged in service.get("service_taxonomys") or []:
        term = tagged.get("taxonomy") if isinstance(tagged, Mapping) else None
        if isinstance(term, Mapping):
            yield _text(term.get("vocabulary")), _text(term.get("id")), _text(term.get("name"))


def concerns_of(
    service: Mapping[str, Any], taxonomy_concerns: Mapping[str, list[str]]
) -> list[str]:
    """The concern codes a service meets, from its taxonomy terms (see the module doc)."""
    known = known_concern_codes()
    codes: list[str] = []
    for taxonomy, term, name in _terms(service):
        if taxonomy.lower() == SIGNPOST_TAXONOMY:
            codes += [c for c in (term, name) if c in known]
            continue
        for key in (term.lower(), name.lower()):
            if key and key in taxonomy_concerns:
                codes += taxonomy_concerns[key]
                break
    return list(dict.fromkeys(codes))


def _ages(service: Mapping[str, Any]) -> tuple[int | None, int | None]:
    lows, highs = [service.get("minimum_age")], [service.get("maximum_age")]
    for rule in service.get("eligibility") or service.get("eligibilitys") or []:
        if isinstance(rule, Mapping):
            lows.append(rule.get("minimum_age"))
            highs.append(rule.get("maximum_age"))
    low = [int(v) for v in lows if isinstance(v, int | float)]
    high = [int(v) for v in highs if isinstance(v, int | float)]
    return (min(low) if low else None, max(high) if high else None)


def _catchment(service: Mapping[str, Any]) -> tuple[list[str], list[str], bool]:
    """(local authority codes, postcode districts, whether any area was unreadable)."""
    authorities: list[str] = []
    districts: list[str] = []
    unreadable = False
    for area in service.get("service_areas") or []:
        if not isinstance(area, Mapping):
            continue
        texts = [_text(area.get(k)) for k in ("uri", "name", "service_area", "extent")]
        found = [code for t in texts for code in _GSS.findall(t)]
        listed = [
            d
            for t in (_text(area.get("name")), _text(area.get("service_area")))
            if t and _DISTRICT_LIST.match(t.upper())
            for d in _DISTRICT.findall(t.upper())
        ]
        authorities += found
        districts += listed
        unreadable = unreadable or not (found or listed)
    return list(dict.fromkeys(authorities)), list(dict.fromkeys(districts)), unreadable


def _capacity(service: Mapping[str, Any]) -> int | None:
    for key in ("capacities", "service_capacity", "capacity"):
        entries = service.get(key)
        for entry in entries if isinstance(entries, list) else []:
            maximum = entry.get("maximum") if isinstance(entry, Mapping) else None
            if isinstance(maximum, int | float) and maximum >= 0:
                return int(maximum)
    return None


def _contact(service: Mapping[str, Any]) -> Contact | None:
    phones = [p for p in service.get("phones") or [] if isinstance(p, Mapping)]
    contact = Contact(
        email=_text(service.get("email"))[:200] or None,
        url=_text(service.get("url"))[:500] or None,
        phone=_text(phones[0].get("number"))[:40] or None if phones else None,
    )
    return contact if contact.model_dump(exclude_none=True) else None


# How far a long import has come: (services read, services in the document).
Progress = Callable[[int, int], None]


def _counted(items: list[T], progress: Progress | None) -> Iterator[T]:
    """`items`, telling `progress` after each one is dealt with."""
    for done, item in enumerate(items, 1):
        yield item
        if progress is not None:
            progress(done, len(items))


def agencies_from_oruk(
    document: Any,
    *,
    taxonomy_concerns: Mapping[str, list[str]],
    response_sla_hours: int = 72,
    progress: Progress | None = None,
) -> Imported:
    """The agencies an ORUK / HSDS 3 document describes, and the services skipped;
    `progress` hears how many of its services have been read, after each."""
    result = Imported()
    for service, parent in _counted(list(_services(document)), progress):
        service_id = _text(service.get("id"))
        name = _text(service.get("name"))
        if not service_id or not name:
            continue

        def skip(reason: str, service_id: str = service_id, name: str = name) -> None:
            result.skipped.append(Skipped(service_id, name, reason))

        status = _text(service.get("status")).lower()
        if status and status != "active":
            skip(f"its status is {status!r}, not active")
            continue
        organization = service.get("organization") or parent or {}
        organisation = _text(organization.get("id")) or _text(service.get("organization_id"))
        if not organisation:
            skip("it names no organization")
            continue
        low, high = _ages(service)
        if low is not None and low > 17:
            skip(f"it serves people aged {low} and over, not children")
            continue
        codes = concerns_of(service, taxonomy_concerns)
        if not codes:
            skip("none of its taxonomy terms maps to a concern code")
            continue
        authorities, districts, unreadable = _catchment(service)
        if unreadable and not (authorities or districts):
            result.notes.append(
                f"{name}: its service area is free text, so it is taken to cover the whole area"
            )
        try:
            agency = Agency(
                id=f"oruk-{service_id}"[:64],
                kind="agency",
                name=name[:200],
                organisation=organisation[:64],
                concern_codes=codes,
                min_age=max(0, min(low if low is not None else 0, MAX_AGE)),
                max_age=max(0, min(high if high is not None else 17, MAX_AGE)),
                postcode_districts=districts,
                local_authority_codes=authorities,
                capacity=_capacity(service),
                response_sla_hours=response_sla_hours,
                contact=_contact(service),
                source=f"oruk:{service_id}"[:200],
            )
        except ValueError as exc:
            skip(f"it is not a valid agency: {exc}")
            continue
        result.agencies.append(agency)
    return result


def merged(directory: DirectoryContent, imported: list[Agency]) -> DirectoryContent:
    """The directory with the imported agencies added, replacing those of the same id."""
    ids = {a.id for a in imported}
    return directory.with_agencies([a for a in directory.agencies if a.id not in ids] + imported)
