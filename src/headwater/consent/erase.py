"""What erasing a person removes (issue 6): pure decisions over rows a store loaded.

A row that belongs to the person (by the rule events and consents follow: the userId's
person, else the profileId's) is deleted. A row of someone else that names one of the
person's identifiers (a shared device's profileId, a split alias) keeps its owner's data
and loses only those identifiers. Quarantined entries are deleted when they name any.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from headwater.identity.resolve import Person
from headwater.model.rules import is_identity


def identifiers_of(person: Person) -> frozenset[str]:
    return frozenset(person.user_ids) | frozenset(person.profile_ids)


def fate(
    person: Person, user_id: str | None, profile_id: str | None, columns: dict[str, str | None]
) -> list[str] | None:
    """None when the row belongs to the person (delete it); else the columns of `columns`
    (name → value) holding one of the person's identifiers, to clear."""
    if is_identity(user_id):
        if user_id in person.user_ids:
            return None
    elif profile_id in person.profile_ids:
        return None
    mine = identifiers_of(person)
    return [name for name, value in columns.items() if value in mine]


class Mentions:
    """Finds the person's identifiers in raw client text (quarantined JSON)."""

    def __init__(self, identifiers: Iterable[str]) -> None:
        self._ids = frozenset(identifiers)
        ordered = sorted(self._ids, key=len, reverse=True)
        self._pattern = re.compile("|".join(map(re.escape, ordered))) if ordered else None

    def named_in(self, raw: str) -> bool:
        """True when `raw` holds one of the identifiers as a whole JSON value (or, when it
        is not JSON at all, anywhere, however escaped: what cannot be read cannot be shown
        to be someone else's)."""
        if self._pattern is None:
            return False
        # Text without escapes holds an identifier only as written: skip the parse. With
        # escapes, any escape of any character may spell it (\/, \u00EB, \u003c, ...).
        if "\\" not in raw and not self._pattern.search(raw):
            return False
        try:
            document = json.loads(raw)
        except ValueError:
            return bool(self._pattern.search(raw) or self._pattern.search(_unescaped(raw)))
        return any(value in self._ids for value in _scalars(document))


_ESCAPE = re.compile(r"\\(?:u([0-9a-fA-F]{4})|(.))", re.DOTALL)
_SIMPLE = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f"}


def _unescaped(text: str) -> str:
    """JSON string escapes decoded, in text that is not JSON as a whole."""

    def one(match: re.Match[str]) -> str:
        code, char = match.groups()
        return chr(int(code, 16)) if code else _SIMPLE.get(char, char)

    return _ESCAPE.sub(one, text)


def _scalars(document: Any) -> Iterable[str]:
    """Every key and scalar of a JSON document, as text; iterative, so any depth."""
    stack = [document]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            yield from node.keys()
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, str):
            yield node
        elif isinstance(node, int | float) and not isinstance(node, bool):
            yield json.dumps(node)
