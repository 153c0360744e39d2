"""The console's queries and statements on its own tables. No rules: what to write and
when is the service's."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, or_, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.console.models import ConsoleSession, OidcLogin, Person, QueueAlert


async def person(session: AsyncSession, person_id: str) -> Person | None:
    return await session.get(Person, person_id)


async def person_by_email(session: AsyncSession, email: str) -> Person | None:
    return (await session.exec(select(Person).where(Person.email == email))).first()


async def people(session: AsyncSession) -> list[Person]:
    """Everyone, by organisation then name."""
    query = select(Person).order_by(col(Person.organisation), col(Person.name))
    return list((await session.exec(query)).all())


async def people_of(session: AsyncSession, organisation: str) -> list[Person]:
    """The people of one organisation whose account is not disabled, by name."""
    query = (
        select(Person)
        .where(Person.organisation == organisation)
        .where(col(Person.disabled_at).is_(None))
        .order_by(col(Person.name), col(Person.id))
    )
    return list((await session.exec(query)).all())


async def add_person(session: AsyncSession, row: Person) -> None:
    session.add(row)
    await session.flush()


async def add_session(session: AsyncSession, row: ConsoleSession) -> None:
    session.add(row)
    await session.flush()


async def session_by_id(session: AsyncSession, session_id: str) -> ConsoleSession | None:
    return await session.get(ConsoleSession, session_id)


async def end_sessions_of(session: AsyncSession, person_id: str, *, at: datetime) -> None:
    """End every open session of a person."""
    await session.exec(
        update(ConsoleSession)
        .where(col(ConsoleSession.person_id) == person_id)
        .where(col(ConsoleSession.ended_at).is_(None))
        .values(ended_at=at)
    )


async def forget_sessions(session: AsyncSession, *, before: datetime) -> int:
    """Delete sessions that expired or ended before `before`; how many went."""
    result = await session.exec(
        delete(ConsoleSession).where(
            or_(
                col(ConsoleSession.expires_at) < before,
                col(ConsoleSession.ended_at) < before,
            )
        )
    )
    return int(result.rowcount or 0)


async def person_by_oidc_subject(session: AsyncSession, subject: str) -> Person | None:
    return (await session.exec(select(Person).where(Person.oidc_subject == subject))).first()


async def add_oidc_login(session: AsyncSession, row: OidcLogin) -> None:
    session.add(row)
    await session.flush()


async def use_oidc_login(session: AsyncSession, state: str, *, at: datetime) -> OidcLogin | None:
    """Mark the sign-in begun with `state` used, and return it, if it was unused and
    unexpired at `at`; None otherwise. One statement, so two callbacks racing with the
    same state cannot both have it."""
    result = await session.exec(
        update(OidcLogin)
        .where(col(OidcLogin.state) == state)
        .where(col(OidcLogin.used_at).is_(None))
        .where(col(OidcLogin.expires_at) > at)
        .values(used_at=at)
    )
    if not result.rowcount:
        return None
    return await session.get(OidcLogin, state)


async def forget_oidc_logins(session: AsyncSession, *, before: datetime) -> None:
    """Delete the sign-ins that expired before `before` (used or not)."""
    await session.exec(delete(OidcLogin).where(col(OidcLogin.expires_at) < before))


async def people_with_email_alerts(session: AsyncSession) -> list[Person]:
    """The people who asked for queue emails and whose account is not disabled."""
    query = (
        select(Person)
        .where(col(Person.email_alerts).is_(True))
        .where(col(Person.disabled_at).is_(None))
        .order_by(col(Person.id))
    )
    return list((await session.exec(query)).all())


async def queue_alerts_sent(
    session: AsyncSession, person_id: str, referral_ids: list[str]
) -> set[tuple[str, str]]:
    """Which (referral id, kind) of these referrals this person was emailed about."""
    if not referral_ids:
        return set()
    query = (
        select(QueueAlert.referral_id, QueueAlert.kind)
        .where(col(QueueAlert.person_id) == person_id)
        .where(col(QueueAlert.referral_id).in_(referral_ids))
    )
    return {(referral_id, kind) for referral_id, kind in (await session.exec(query)).all()}


async def add_queue_alert(session: AsyncSession, row: QueueAlert) -> None:
    session.add(row)
    await session.flush()
