"""Triage's loops: none. Triage decides each referral as its referral.received arrives
(`handlers`) and has no scheduled work."""

from __future__ import annotations

from collections.abc import Sequence

from shared.runtime import Loop

LOOPS: Sequence[tuple[str, Loop]] = ()
