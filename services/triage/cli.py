"""Triage's commands: `signpost policy check FILE`."""

from __future__ import annotations

from services.triage.policy import PolicyError, ThresholdPolicy, parse_policy
from shared.cli import DataFileCheck


def _describe(policy: ThresholdPolicy) -> str:
    return (
        f"OK {policy.id} version {policy.version}: {policy.area}, "
        f"{len(policy.levels)} levels, {len(policy.statutory)} statutory indicators"
    )


register = DataFileCheck(
    name="policy",
    help="threshold policies",
    check="validate a threshold policy file: OK, or each line and reason",
    parse=parse_policy,
    describe=_describe,
    error=PolicyError,
    located=True,
).register
