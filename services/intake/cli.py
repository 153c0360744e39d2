"""Intake's commands: `signpost access check FILE` (the report-access policy)."""

from __future__ import annotations

from services.intake.access import ReportAccessPolicy, parse_access_policy
from shared.cli import DataFileCheck


def _describe(policy: ReportAccessPolicy) -> str:
    kinds = ", ".join(f"{kind.value} {len(paths)}" for kind, paths in policy.kinds.items())
    return f"OK {policy.id} version {policy.version}: {policy.area}; fields by kind: {kinds}"


register = DataFileCheck(
    name="access",
    help="report-access policies (what each kind of partner may read of a report)",
    check="validate a report-access policy file: OK, or each reason",
    parse=parse_access_policy,
    describe=_describe,
).register
