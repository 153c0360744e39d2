"""The console's queries and statements on its own tables. No rules: what to write and
when is the service's."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, or_, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.console.models import ConsoleSession, Person


async def person(session: AsyncSession, person_id: str) -> Person | None:
    return await session.get(Person, person_id)


async def person_by_email(session: AsyncSession, email: str) -> Person | None:
    return (await session.exec(select(Person).where(Person.email == email))).first()


async def people(session: AsyncSession) -> list[Person]:
    """Everyone, by organisation then name."""
    query = select(Person).order_by(col(Person.organisation), col(Person.name))
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
