"""Resubmissions: a report from an organisation whose `source.reference` is already
stored is the same concern again.

Byte-for-byte the same as the latest version (after validation and normalisation) it
is a duplicate: nothing is stored or emitted, and the answer names the original
referral. Changed, it is stored as a new version that supersedes the previous one, and
its `referral.received` event lists every earlier version so downstream counts the
concern once.

Pure functions: digests of reports and bodies, and the order of stored versions.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any, Protocol, TypeVar

from shared.report import ConcernReport


class Version(Protocol):
    """What the resubmission rules read of a stored version."""

    @property
    def referral_id(self) -> str: ...
    @property
    def body_sha256(self) -> str: ...
    @property
    def supersedes(self) -> str: ...


V = TypeVar("V", bound=Version)


def report_sha256(report: ConcernReport) -> str:
    """A digest of the validated, normalised report (stable across key order, spacing).

    Fields left at their defaults are left out, so an optional field added to the
    contract later does not change the digest of a report that does not use it (a
    resubmission across an upgrade is still recognised as the same report), and an
    explicit default means the same as an omitted one.
    """
    return hashlib.sha256(report.model_dump_json(exclude_defaults=True).encode()).hexdigest()


def batch_sha256(media_type: str, body: bytes) -> str:
    """A digest of a batch as sent (its content type and raw body), for its
    Idempotency-Key."""
    return hashlib.sha256(b"batch\n" + media_type.encode() + b"\n" + body).hexdigest()


# The report's shape before Operation Encompass added fields: the digest reports
# stored before it were given, so an unchanged resubmission is still recognised.
_BEFORE_ENCOMPASS: Any = {
    "child": {"school_urn", "home_educated"},
    "police": {
        "circumstances": True,
        "children_present": {"__all__": {"school_urn", "home_educated"}},
    },
}


def earlier_digests(report: ConcernReport) -> set[str]:
    """Digests an unchanged report was stored under by earlier versions of intake."""
    police = report.police
    schooling = [report.child, *(police.children_present if police is not None else [])]
    if (police is not None and police.circumstances is not None) or any(
        child.school_urn is not None or child.home_educated for child in schooling
    ):
        return set()  # it uses the new fields: no earlier version could have stored it
    legacy = report.model_dump_json(exclude=_BEFORE_ENCOMPASS)
    return {hashlib.sha256(legacy.encode()).hexdigest()}


def newest_first(versions: Sequence[V]) -> list[V]:
    """The versions under one reference, newest first, by following the supersedes
    links rather than trusting clocks (the first supersedes "")."""
    by_previous = {v.supersedes: v for v in versions}
    chain: list[V] = []
    current = by_previous.get("")
    while current is not None and len(chain) < len(versions):
        chain.append(current)
        current = by_previous.get(current.referral_id)
    return list(reversed(chain))


def is_duplicate(report: ConcernReport, digest: str, latest: Version | None) -> bool:
    """True when `report` (whose digest is `digest`) repeats the latest stored version."""
    return latest is not None and latest.body_sha256 in {digest, *earlier_digests(report)}
