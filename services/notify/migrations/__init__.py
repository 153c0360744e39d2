"""Alembic history for notify's database (run by shared.migrations)."""
