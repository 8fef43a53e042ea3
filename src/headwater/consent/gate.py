"""The ingest gate (issue 6): which items of a batch must not be stored, and why.

Two rules, both decided when the batch is written, in its transaction, so a consent or an
erasure acknowledged before a request arrived always applies to it:

- **suppression**: an item naming a suppressed identifier (userId, profileId or
  anotherUserId of an erased person) is refused;
- **consent**: when the project requires categories, an item of a person whose deciding
  record for one of them is a reject, or has expired, is refused. A person with no record
  for a category is not refused (consent is opt-out here; docs/privacy.md).

Items are decided in the order they arrived, each against the stored identity links plus the
links of the items accepted before it, so a commit decides exactly what committing its items
one by one would: how requests happen to be grouped into commits never matters. The gate
sees valid events and invalid items alike: an invalid item of a suppressed or non-consenting
person is refused rather than quarantined. Items naming no person (product items without
person fields, account-only events) pass. Refused items are reported and counted, and their
content is stored nowhere, not even in quarantine.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, NamedTuple

from headwater.consent.status import Consent, latest, owned_by, refused_category
from headwater.identity.links import PROFILE, USER, Link, links_of
from headwater.identity.resolve import Person, Resolution, resolve
from headwater.model.event import Batch, EventRow, Rejection
from headwater.model.rules import format_ms, is_identity


class Who(NamedTuple):
    """The person identifiers an item names (None where it names none)."""

    user_id: str | None
    profile_id: str | None
    another_user_id: str | None


_FIELDS = (("userId", USER, 0), ("profileId", PROFILE, 1), ("anotherUserId", USER, 2))
_STRING = re.compile(r'"((?:[^"\\]|\\.)*)"', re.DOTALL)  # a JSON string literal, roughly


def who_of(row: EventRow) -> Who:
    return Who(row.user_id, row.profile_id, row.another_user_id)


def level_of(group: int | None, item: int | None) -> str:
    """What a quarantined raw text holds: a whole body, one group, or one item."""
    return "body" if group is None else "group" if item is None else "item"


def who_in(raw: str, level: str) -> tuple[list[Who], list[str]]:
    """Who the items of a rejected body, group or item name, from its JSON; for text that
    is not JSON, instead every string in it (any of which may be an identifier)."""
    try:
        document = json.loads(raw)
    except (ValueError, RecursionError):
        return [], [_unescaped(s) for s in _STRING.findall(raw)]
    items: list[Any] = [document]
    if level == "body":
        groups = document.get("track") if isinstance(document, dict) else None
        items = [g.get("payload") for g in groups if isinstance(g, dict)] if groups else []
    elif level == "group":
        items = [document.get("payload")] if isinstance(document, dict) else []
    found = []
    for item in _flat(items):
        if isinstance(item, dict):
            found.append(Who(*(_text(item.get(name)) for name, _, _ in _FIELDS)))
    return found, []


def _flat(values: Iterable[Any]) -> Iterator[Any]:
    for value in values:
        if isinstance(value, list):
            yield from value
        else:
            yield value


def _text(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)  # a numeric id is refused by validation, but still names someone
    return None


_ESCAPE = re.compile(r"\\(?:u([0-9a-fA-F]{4})|(.))", re.DOTALL)
_SIMPLE = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f"}


def _unescaped(text: str) -> str:
    """JSON string escapes decoded, in text that is not JSON as a whole."""

    def one(match: re.Match[str]) -> str:
        code, char = match.groups()
        return chr(int(code, 16)) if code else _SIMPLE.get(char, char)

    return _ESCAPE.sub(one, text)


def identifiers(who: Who) -> Iterator[tuple[str, str, str]]:
    """(wire field, kind, value) of every person identifier `who` holds."""
    for field, kind, at in _FIELDS:
        value = who[at]
        if is_identity(value):
            yield field, kind, value


def named(batch: Batch) -> Iterator[tuple[Who | None, list[str]]]:
    """Who every event and every invalid item of the batch names (and, for text that is
    not JSON, the strings in it)."""
    for row in batch.events:
        yield who_of(row), []
    for r in batch.rejected:
        whos, strings = who_in(r.raw, level_of(r.group, r.item))
        yield from ((who, []) for who in whos)
        if strings:
            yield None, strings


class Gate:
    def __init__(
        self,
        suppressed: set[tuple[str, str]],
        required: Sequence[str],
        links: Iterable[Link] = (),
        splits: Iterable[tuple[str, str]] = (),
        max_profiles: int = 0,
        consents: Iterable[Consent] = (),
    ) -> None:
        """`suppressed`: (kind, identifier) of the batch's suppressed identifiers;
        `links`, `splits` and `consents`: what is stored about the batch's persons."""
        self._suppressed = suppressed
        self._required = required
        self._links = set(links)
        self._pairs = {(link.kind, link.a, link.b) for link in self._links}
        self._splits = set(splits)
        self._max_profiles = max_profiles
        self._by_id: dict[str, list[Consent]] = {}
        for consent in consents:
            for value in {consent.user_id, consent.profile_id} - {None}:
                assert value is not None
                self._by_id.setdefault(value, []).append(consent)
        self._pending: set[str] = set()  # identifiers of links added since the resolution
        self._resolution = resolve(self._links, max_profiles, self._splits) if required else None
        self._decided: dict[str, dict[str | None, Consent]] = {}

    def apply(self, batch: Batch, now: int) -> None:
        """Move the batch's refused events and invalid items to `batch.refused`, deciding
        in order; `now` decides expiry."""
        refused = {}
        for index, row in enumerate(batch.events):
            why = self._check(who_of(row), now)
            if why is not None:
                group, item = batch.origins[index] if batch.origins else (None, None)
                refused[index] = _refusal(group, item, why, row.event_name, row.type, row.line)
            elif self._required:
                self._learn(links_of([row]))
        if refused:
            batch.refuse(refused)
        kept = []
        for r in batch.rejected:
            whos, strings = who_in(r.raw, level_of(r.group, r.item))
            why = next(filter(None, (self._check(who, now) for who in whos)), None)
            why = why or self._check_strings(strings)
            if why is None:
                kept.append(r)
            else:
                batch.refused.append(_refusal(r.group, r.item, why, r.event_name, r.type, r.line))
        batch.rejected = kept

    def _learn(self, links: Iterable[Link]) -> None:
        """The links of an accepted item: later items are decided with them."""
        for link in links:
            if (link.kind, link.a, link.b) not in self._pairs:
                self._pairs.add((link.kind, link.a, link.b))
                self._links.add(link)
                self._pending |= {link.a, link.b}

    def _person(self, who: Who) -> Person | None:
        """The person an item belongs to (its userId's, else its profileId's), resolved
        again first when a link learnt since touches them."""
        assert self._resolution is not None
        person = _owner(self._resolution, who)
        if person is not None and self._pending:
            touched = self._pending.intersection(person.user_ids, person.profile_ids)
            if touched or self._pending.intersection(who):
                self._resolution = resolve(self._links, self._max_profiles, self._splits)
                self._pending.clear()
                self._decided.clear()
                person = _owner(self._resolution, who)
        return person

    def _consent(self, person: Person) -> dict[str | None, Consent]:
        """The person's deciding record per category (cached until links change)."""
        found = self._decided.get(person.id)
        if found is None:
            mine = {c.id: c for i in (*person.user_ids, *person.profile_ids)
                    for c in self._by_id.get(i, ()) if owned_by(person, c)}  # fmt: skip
            found = self._decided[person.id] = latest(mine.values())
        return found

    def _check(self, who: Who, now: int) -> tuple[str, str, str] | None:
        for field, kind, value in identifiers(who):
            if (kind, value) in self._suppressed:
                return _suppressed(field)
        if not self._required:
            return None
        person = self._person(who)
        if person is None:
            return None
        found = refused_category(self._consent(person), self._required, now)
        if found is None:
            return None
        category, consent = found
        state = "rejected" if consent.action == "reject" else "expired"
        since = consent.timestamp if state == "rejected" else consent.valid_until or 0
        field = "userId" if is_identity(who.user_id) else "profileId"
        return (
            field,
            (
                f"not stored: the person's consent for {category!r}, which this project requires, "
                f"was {state} at {format_ms(since)}"
            ),
            "consent",
        )

    def _check_strings(self, strings: Sequence[str]) -> tuple[str, str, str] | None:
        """Text that is not JSON names a suppressed identifier when any string in it is one
        (which field it stands in cannot be told, so consent is not judged on it)."""
        for value in strings:
            if (USER, value) in self._suppressed or (PROFILE, value) in self._suppressed:
                return _suppressed("userId")
        return None


def _owner(resolution: Resolution, who: Who) -> Person | None:
    if is_identity(who.user_id):
        return resolution.person(user_id=who.user_id)
    if is_identity(who.profile_id):
        return resolution.person(profile_id=who.profile_id)
    return None


def _suppressed(field: str) -> tuple[str, str, str]:
    return field, f"not stored: this {field} belongs to an erased person and is suppressed", \
        "suppressed"  # fmt: skip


def _refusal(
    group: int | None, item: int | None, why: tuple[str, str, str],
    event_name: str | None, type_: str | None, line: int,
) -> Rejection:  # fmt: skip
    """A refusal in the shape of a rejection, without the raw content (never stored)."""
    field, message, reason = why
    path = field if group is None else f"track[{group}].payload[{item}].{field}"
    if group is not None and item is None:
        path = f"track[{group}].payload"
    return Rejection(group, item, path, message, reason, "", event_name, type_, line)
