"""Reading children's personal data: what a partner may see, and the record of each read.

`project` cuts data down to the field paths a sharing policy grants (`child` grants the
whole object, `child.given_name` one field of it; a path through a list applies to each
item). `audit_read` records who read which fields of what, in the transaction that
serves the read, so a read that is answered is a read that is recorded.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, get_args

from pydantic import BaseModel
from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.auth import Principal
from shared.clock import as_utc
from shared.problems import Problem


def only_overseers() -> Problem:
    """403 for a partner asking for an audit trail (the hub's and administrators')."""
    return Problem(
        403,
        "Forbidden",
        "Only the hub and administrators see who has read a record.",
        type="overseers-only",
    )


def project(data: dict[str, Any], allowed: Iterable[str]) -> dict[str, Any]:
    """`data` with only the granted field paths (ids are the caller's to grant)."""
    granted = frozenset(allowed)
    kept: dict[str, Any] = {}
    for key, value in data.items():
        if key in granted:
            kept[key] = value
            continue
        prefix = key + "."
        inner = frozenset(p[len(prefix) :] for p in granted if p.startswith(prefix))
        if not inner:
            continue
        if isinstance(value, dict):
            kept[key] = project(value, inner)
        elif isinstance(value, list):
            kept[key] = [project(item, inner) for item in value if isinstance(item, dict)]
    return kept


def paths_of(data: dict[str, Any], prefix: str = "") -> set[str]:
    """Every leaf field path present in `data` (list items merged)."""
    paths: set[str] = set()
    for key, value in data.items():
        items = value if isinstance(value, list) else [value]
        nested = [item for item in items if isinstance(item, dict) and item]
        if nested:
            for item in nested:
                paths |= paths_of(item, f"{prefix}{key}.")
        else:
            paths.add(prefix + key)
    return paths


def model_paths(model: type[BaseModel], prefix: str = "") -> frozenset[str]:
    """Every field path of a model, through nested models and lists of them."""
    paths: set[str] = set()
    for name, info in model.model_fields.items():
        paths.add(prefix + name)
        for candidate in _nested(info.annotation):
            if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                paths |= model_paths(candidate, f"{prefix}{name}.")
    return frozenset(paths)


def _nested(annotation: Any) -> list[Any]:
    found = [annotation]
    for arg in get_args(annotation):
        found += _nested(arg)
    return found


class ReadAudit(SQLModel, table=True):
    """One read of personal data through the API: who, when, what, which fields."""

    __tablename__ = "read_audit"

    id: int | None = Field(default=None, primary_key=True)
    resource: str = Field(max_length=40)
    resource_id: str = Field(index=True, max_length=40)
    organisation: str = Field(max_length=100)
    client_kind: str = Field(max_length=16)
    client_id: str = Field(max_length=40)
    read_at: datetime
    fields: list[str] = Field(sa_column=Column(JSON, nullable=False))


class ReadPublic(BaseModel):
    """A read as the hub sees it in the audit trail."""

    organisation: str
    client_kind: str
    client_id: str
    read_at: datetime
    fields: list[str]


def audit_read(
    session: AsyncSession,
    principal: Principal,
    *,
    resource: str,
    resource_id: str,
    shown: dict[str, Any],
    at: datetime,
) -> None:
    """Record, in the caller's transaction, that `principal` was shown `shown`."""
    session.add(
        ReadAudit(
            resource=resource,
            resource_id=resource_id,
            organisation=principal.organisation,
            client_kind=principal.kind.value,
            client_id=principal.client_id,
            read_at=at,
            fields=sorted(paths_of(shown)),
        )
    )


async def reads_of(session: AsyncSession, resource: str, resource_id: str) -> list[ReadPublic]:
    """The audit trail of one resource, oldest first."""
    rows = (
        await session.exec(
            select(ReadAudit)
            .where(ReadAudit.resource == resource, ReadAudit.resource_id == resource_id)
            .order_by(col(ReadAudit.id))
        )
    ).all()
    return [
        ReadPublic(
            organisation=r.organisation,
            client_kind=r.client_kind,
            client_id=r.client_id,
            read_at=as_utc(r.read_at),
            fields=r.fields,
        )
        for r in rows
    ]
