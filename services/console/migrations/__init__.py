"""Alembic history for the console's database (run by shared.migrations)."""
