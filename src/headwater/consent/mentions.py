"""Who a rejected client text names: the identifiers in a quarantined (or about to be
quarantined) body, group or item, for the privacy gate and for erasure.

Where the JSON has the shape the wire defines, a person is named by an item's `userId`,
`profileId` or `anotherUserId` (a string, or a number, which validation refuses but which
still names someone; every value of a key repeated in one object counts). Wherever it does
not — text that is not JSON, a body that is an array, an identifier field holding an object —
any string in it may be an identifier, and is returned as such.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from typing import Any, NamedTuple

FIELDS = ("userId", "profileId", "anotherUserId")
_ALL = ("all values",)  # a key no JSON object can have: every value of a repeated field


class Who(NamedTuple):
    """The person identifiers an item names (None where it names none)."""

    user_id: str | None
    profile_id: str | None
    another_user_id: str | None


def level_of(group: int | None, item: int | None) -> str:
    """What a rejected raw text holds: a whole body, one group, or one item."""
    return "body" if group is None else "group" if item is None else "item"


def mentions(raw: str, level: str) -> tuple[list[Who], list[str]]:
    """(who the items name, other strings that may be identifiers) of a rejected body,
    group or item (`level`)."""
    try:
        document = json.loads(raw, object_pairs_hook=_keeping_repeats)
    except (ValueError, RecursionError):
        return [], list(strings_in(raw))
    whos: list[Who] = []
    loose: list[str] = []
    if level == "body":
        track = document.get("track") if isinstance(document, dict) else None
        if not isinstance(track, list):
            return [], list(_scalars(document))
        groups = track
    else:
        groups = [document] if level == "group" else []
    items: list[Any] = [document] if level == "item" else []
    for group in groups:
        payload = group.get("payload") if isinstance(group, dict) else None
        if isinstance(payload, list):
            items += payload
        elif payload is not None or not isinstance(group, dict):
            loose += _scalars(group)
    for item in items:
        if not isinstance(item, dict):
            loose += _scalars(item)
            continue
        found: dict[str, list[str]] = {}
        for name in FIELDS:
            for value in item.get(_ALL, {}).get(name, [item.get(name)]):
                text = _text(value)
                if text is not None:
                    found.setdefault(name, []).append(text)
                elif value is not None:
                    loose += _scalars(value)
        firsts = [found.get(name, [None])[-1] for name in FIELDS]
        whos.append(Who(*firsts))
        for name, values in found.items():  # the other values of a repeated key
            for value in values[:-1]:
                whos.append(Who(*(value if n == name else None for n in FIELDS)))
    return whos, loose


def _keeping_repeats(pairs: list[tuple[str, Any]]) -> dict[Any, Any]:
    """A JSON object as `json` builds it (the last value of a repeated key wins), keeping
    every value of the identifier fields under `_ALL`."""
    found: dict[Any, Any] = dict(pairs)
    repeated = {name for name in FIELDS if sum(key == name for key, _ in pairs) > 1}
    if repeated:
        found[_ALL] = {name: [v for k, v in pairs if k == name] for name in repeated}
    return found


def _text(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def _scalars(document: Any) -> list[str]:
    """Every string and number of a JSON value, keys included; iterative, so any depth."""
    found: list[str] = []
    stack = [document]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            found += [k for k in node if isinstance(k, str)]
            stack += [v for k, v in node.items() if k != _ALL]
        elif isinstance(node, list):
            stack += node
        elif (text := _text(node)) is not None:
            found.append(text)
    return found


_REST = re.compile(r'(?:[^"\\]++|\\.)*+"', re.DOTALL)  # the rest of a string, possessive
_ESCAPE = re.compile(r"\\(?:u([0-9a-fA-F]{4})|(.))", re.DOTALL)
_SIMPLE = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f"}


def strings_in(text: str) -> Iterator[str]:
    """The JSON-style strings of text that is not JSON, unescaped, in linear time: each
    string is matched once from its opening quote, and an unterminated one ends the scan
    (everything after it is inside it)."""
    at = text.find('"')
    while at >= 0:
        rest = _REST.match(text, at + 1)
        if rest is None:
            return
        yield _unescaped(text[at + 1 : rest.end() - 1])
        at = text.find('"', rest.end())


def _unescaped(text: str) -> str:
    def one(match: re.Match[str]) -> str:
        code, char = match.groups()
        return chr(int(code, 16)) if code else _SIMPLE.get(char, char)

    return _ESCAPE.sub(one, text) if "\\" in text else text


def named_any(whos: Iterable[Who], loose: Iterable[str], identifiers: frozenset[str]) -> bool:
    """Whether any of `identifiers` is named, as an item's identifier or a loose string."""
    return any(v in identifiers for who in whos for v in who) or not identifiers.isdisjoint(loose)
