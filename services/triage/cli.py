"""Triage's commands: `signpost policy check FILE`, which validates a threshold policy
and checks that it is sound (`soundness.py`), as triage does when it starts."""

from __future__ import annotations

from services.triage.policy import PolicyError, ThresholdPolicy, parse_policy
from shared.cli import DataFileCheck


def _describe(policy: ThresholdPolicy) -> str:
    weighted = sum(len(weights) for weights in policy.weights.values())
    return (
        f"OK {policy.id} version {policy.version}: {policy.area}, "
        f"{len(policy.levels)} levels, {len(policy.statutory)} statutory indicators, "
        f"{weighted} weighted, {len(policy.informational)} informational"
    )


register = DataFileCheck(
    name="policy",
    help="threshold policies",
    check=(
        "validate a threshold policy file and check it is sound (every concern code "
        "handled, significant harm statutory, no single low-level indicator at the top "
        "level): OK, or each line and reason"
    ),
    parse=parse_policy,
    describe=_describe,
    error=PolicyError,
    located=True,
).register
