"""Alembic history for routing's database (run by shared.migrations)."""
