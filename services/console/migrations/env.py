"""Alembic environment for the console's database: people, their sessions, the outbox
and the inbox."""

from sqlmodel import SQLModel

from services.console import definition
from shared.db import table_of
from shared.migrations import run_environment
from shared.outbox import InboxEntry, OutboxMessage

models: list[type[SQLModel]] = [*definition.tables, OutboxMessage, InboxEntry]
run_environment([table_of(model) for model in models])
