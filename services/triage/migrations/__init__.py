"""Alembic history for triage's database (run by shared.migrations)."""
