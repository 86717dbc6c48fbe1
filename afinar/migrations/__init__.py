"""Alembic migrations of the registry database (run by :mod:`afinar.database`)."""
