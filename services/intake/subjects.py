"""The pseudonymous subject key: the same child gives the same key, and the key
reveals nothing without the partnership's secret."""

from __future__ import annotations

import hashlib
import hmac
import unicodedata
from datetime import date


def _normalise(name: str) -> str:
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return "".join(ch for ch in folded.lower() if ch.isalnum())


def subject_key(*, secret: str, given_name: str, family_name: str, date_of_birth: date) -> str:
    """A keyed hash of the child's normalised names and date of birth.

    Name order is ignored (swapped given/family names give the same key); fuzzier
    matching across sources is triage's job.
    """
    names = sorted([_normalise(given_name), _normalise(family_name)])
    material = "|".join([*names, date_of_birth.isoformat()]).encode()
    return "sub_" + hmac.new(secret.encode(), material, hashlib.sha256).hexdigest()[:32]
