"""Alembic migrations of the relay's schema (shipped with the package; see server/migrate.py)."""
