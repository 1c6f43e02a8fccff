"""Alembic migrations; applied by `userservice migrate` (and at start in development)."""
