"""Persistence: SQLModel tables and the async engine for SQLite and PostgreSQL."""
