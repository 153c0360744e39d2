"""Alembic history for intake's database (run by shared.migrations)."""
