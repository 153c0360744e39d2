"""Alembic history for the key registry every service reads (run by shared.migrations)."""
