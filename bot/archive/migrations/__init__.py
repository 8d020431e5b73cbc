"""Alembic migrations of the archive schema (run by ArchiveDatabase.upgrade)."""
