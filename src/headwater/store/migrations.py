"""Numbered SQL migrations shipped inside the package (`NNNN_name.sql`), and the schema
they add up to (`schema.sql`)."""

from __future__ import annotations

from importlib import resources


def schema(backend: str) -> str:
    """The current schema of `backend` in one script, for empty databases."""
    return resources.files("headwater.store").joinpath(backend, "schema.sql").read_text("utf-8")


def migrations(backend: str) -> list[tuple[int, str]]:
    """(version, sql) of every migration of `backend`, in order."""
    folder = resources.files("headwater.store").joinpath(backend, "migrations")
    found = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            found.append((int(entry.name.split("_", 1)[0]), entry.read_text("utf-8")))
    return sorted(found)
