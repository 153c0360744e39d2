"""Alembic environment for the key registry: the one table every service reads."""

from shared.auth import ApiKey
from shared.db import table_of
from shared.migrations import run_environment

run_environment([table_of(ApiKey)])
