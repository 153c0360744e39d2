"""Triage's scheduled work: reading the approved threshold policy versions again.

Triage decides each referral as its referral.received arrives (`handlers`), with the
policy in force from this process's schedule in memory (`service.policy_of`). The
schedule is read as triage starts, changed at once by an approval or a withdrawal made
in this process, and read again every TRIAGE_POLICY_REFRESH_SECONDS by this loop, so
what another replica approved or withdrew reaches this one well before it takes effect
(an approval leaves a minute: `service.policies.MIN_NOTICE`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence

from services.triage import service
from services.triage.settings import settings_of
from shared.db import is_transient
from shared.logging import OutageLog
from shared.runtime import Loop, ServiceContext

log = logging.getLogger(__name__)


async def policy_refresh(ctx: ServiceContext) -> None:
    """Every TRIAGE_POLICY_REFRESH_SECONDS until stopping, read the approved versions
    again (one read-only unit of work). Not woken by the service's commits: a referral
    decided is no reason to read them. Failed reads are logged once (with the traceback
    unless the database was away), and once more when a read succeeds again; meanwhile
    the schedule stays as last read."""
    failing = OutageLog(
        "policy refresh",
        log,
        down="reading the approved policy versions failed; retrying",
        up="reading the approved policy versions again",
    )
    while not ctx.stopping.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(
                ctx.stopping.wait(), settings_of(ctx).triage_policy_refresh_seconds
            )
        if ctx.stopping.is_set():
            return
        try:
            await service.refresh_policies(ctx)
            failing.recovered()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            failing.failed(exc, traceback=not is_transient(exc))


LOOPS: Sequence[tuple[str, Loop]] = (("policy-refresh", policy_refresh),)
