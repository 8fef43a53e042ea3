"""The privacy gate's pure parts (issue 6): decisions in order, with persons that follow the
links of accepted items (identity/incremental.py), and who a rejected text names
(consent/mentions.py)."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from headwater.consent.gate import Gate
from headwater.consent.mentions import Who, mentions, strings_in
from headwater.consent.status import Consent, latest, owned_by, refused_category
from headwater.identity.incremental import Persons
from headwater.identity.links import PROFILE, USER, Link, links_of
from headwater.identity.resolve import Caps, Person, resolve
from headwater.model.event import Batch, Context, EventRow


def event(i: int, user: str | None, profile: str | None, another: str | None, ts: int) -> EventRow:
    return EventRow(1, None, "E", f"ev{i:03d}", 0, None, profile, user, None, None, None,
                    another, None, None, ts, 0, None, None, None, None, None, "k")  # fmt: skip


def owner(
    links: list[Link], row: EventRow, caps: Caps, splits: set[tuple[str, str]]
) -> Person | None:
    resolution = resolve(links, caps, splits)
    if row.user_id is not None:
        return resolution.person(user_id=row.user_id)
    if row.profile_id is not None:
        return resolution.person(profile_id=row.profile_id)
    return None


def naive(
    stored: list[Link], splits: set[tuple[str, str]], caps: Caps,
    consents: list[Consent], rows: list[EventRow], now: int,
) -> list[bool]:  # fmt: skip
    """Refused or not, per row: everything resolved anew before every row, with the links
    the store would hold (per pair the earliest) after the rows accepted before it."""
    held = {(link.kind, link.a, link.b): link for link in stored}
    refused = []
    for row in rows:
        person = owner(list(held.values()), row, caps, splits)
        why = None
        if person is not None:
            mine = [c for c in consents if owned_by(person, c)]
            why = refused_category(latest(mine), ["c"], now)
        refused.append(why is not None)
        if why is None:
            for link in links_of([row]):
                pair = (link.kind, link.a, link.b)
                if pair not in held or link.order < held[pair].order:
                    held[pair] = link
    return refused


def case(rng: random.Random) -> tuple[Any, ...]:
    users = [f"u{i}" for i in range(rng.randint(2, 4))]
    profiles = [f"p{i}" for i in range(rng.randint(1, 4))]
    held: dict[tuple[str, str, str], Link] = {}
    for j in range(rng.randint(0, 7)):
        if rng.random() < 0.6:
            link = Link(1, PROFILE, rng.choice(profiles), rng.choice(users), rng.randint(0, 99),
                        f"s{j}", 0)  # fmt: skip
        else:
            a, b = sorted(rng.sample(users, 2))
            link = Link(1, USER, a, b, rng.randint(0, 99), f"s{j}", 0)
        pair = (link.kind, link.a, link.b)
        if pair not in held or link.order < held[pair].order:
            held[pair] = link
    splits: set[tuple[str, str]] = set()
    if rng.random() < 0.3:
        splits.add((USER, rng.choice(users)) if rng.random() < 0.5 else (PROFILE, profiles[0]))
    consents = []
    for j in range(rng.randint(0, 5)):
        by_user = rng.random() < 0.5
        consents.append(Consent(
            j + 1, rng.choice(users) if by_user else None,
            rng.choice(profiles) if not by_user or rng.random() < 0.5 else None, None,
            rng.choice([None, "c"]), rng.choice(["accept", "reject"]), rng.randint(0, 50),
            None, 0, "{}", f"d{j}",
        ))  # fmt: skip
    rows = []
    for i in range(rng.randint(1, 8)):
        user = rng.choice([*users, None])
        profile = rng.choice([*profiles, None, None])
        another = rng.choice([*users, None, None, None]) if user else None
        rows.append(event(i, user, profile or (None if user else profiles[0]), another,
                          rng.randint(0, 99)))  # fmt: skip
    return list(held.values()), splits, Caps(rng.randint(1, 3), rng.randint(1, 3)), consents, rows


def test_a_batch_decides_as_resolving_anew_before_every_item() -> None:
    # rule: deciding in order, with persons re-resolved only where a learnt link touches
    # them, gives what re-resolving everything before every item gives (aliases, conflicts,
    # the profile cap, splits, links redrawn earlier than the stored ones)
    rng = random.Random(20261129)
    for n in range(4000):
        stored, splits, caps, consents, rows = case(rng)
        gate = Gate(set(), ["c"], stored, splits, caps, consents)
        batch = Batch(Context(1, None, "k", 1000), events=list(rows))
        gate.apply(batch, 1000)
        got = [row not in batch.events for row in rows]
        assert got == naive(stored, splits, caps, consents, rows, 1000), n


@pytest.mark.parametrize(
    ("raw", "level", "whos", "loose"),
    [
        ('{"userId":"ada","profileId":7,"data":{"qty":42}}', "item",
         [Who("ada", "7", None)], []),
        ('{"userId":"x","userId":"ada"}', "item",
         [Who("ada", None, None), Who("x", None, None)], []),
        ('{"userId":{"id":"ada"}}', "item", [Who(None, None, None)], ["ada", "id"]),
        ('{"name":"E","payload":[{"anotherUserId":"ada"},"bob"]}', "group",
         [Who(None, None, "ada")], ["bob"]),
        ('{"track":[{"payload":[{"userId":"ada"}]},["bob"]]}', "body",
         [Who("ada", None, None)], ["bob"]),
        ('[{"userId":"ada"}]', "body", [], ["ada", "userId"]),
        ('"ada"', "body", [], ["ada"]),
        ('{"track":{"userId":"ada"}}', "body", [], ["ada", "userId", "track"]),
        ('{"track":[{"payload":[{"userId":"te\\/am"}', "body", [],
         ["track", "payload", "userId", "te/am"]),
    ],
)  # fmt: skip
def test_who_a_rejected_text_names(raw: str, level: str, whos: list[Who], loose: list[str]) -> None:
    # rule: in the wire's shape, only an item's identifier fields name a person (every
    # value of a repeated key); anywhere else, any string may be an identifier
    found, strings = mentions(raw, level)
    assert sorted(found) == sorted(whos)
    assert sorted(strings) == sorted(loose)


def test_strings_of_adversarial_text() -> None:
    # rule: text that is not JSON is read once, whatever its quotes and escapes: strings
    # are found up to an unterminated one (linear time; measured in docs/benchmarks.md)
    text = '"' + '\\"' * 200_000
    assert list(strings_in(text)) == []
    text = '{"a":"ada","b":"x\\u00EBy"' + ', "unterminated' * 3
    assert list(strings_in(text)) == ["a", "ada", "b", "xëy", "unterminated, "]
    assert json.loads('"x\\u00EBy"') == "xëy"


def _links(rng: random.Random, users: list[str], profiles: list[str], count: int) -> list[Link]:
    """Links in adversarial orders: times drawn from a narrow range (ties, and links that
    arrive before ones they precede), pairs drawn again (a pair redrawn earlier)."""
    found = []
    for _ in range(count):
        at, event = rng.randint(0, 30), f"e{rng.randint(0, 3)}"
        if rng.random() < 0.55:
            found.append(Link(1, PROFILE, rng.choice(profiles), rng.choice(users), at, event, 0))
        else:
            a, b = sorted(rng.sample(users, 2))
            found.append(Link(1, USER, a, b, at, event, rng.randint(0, 1)))
    if rng.random() < 0.5:  # time order, reversed: every alias arrives before those it follows
        found.sort(key=lambda link: link.order, reverse=True)
    return found


def test_persons_follow_links_as_resolving_anew() -> None:
    # finding 5: Persons.learn changes only what a link changes, and every answer after
    # every link equals resolving all the links learnt so far (both caps, splits, aliases
    # and profiles out of order, pairs redrawn earlier)
    rng = random.Random(20261130)
    for n in range(3000):
        users = [f"u{i}" for i in range(rng.randint(2, 7))]
        profiles = [f"p{i}" for i in range(rng.randint(1, 7))]
        caps = Caps(rng.randint(1, 4), rng.randint(1, 4))
        splits: set[tuple[str, str]] = set()
        for _ in range(rng.choice([0, 0, 1, 2])):
            splits.add((USER, rng.choice(users)) if rng.random() < 0.5 else
                       (PROFILE, rng.choice(profiles)))  # fmt: skip
        stored = _links(rng, users, profiles, rng.randint(0, 10))
        learnt = _links(rng, users, profiles, rng.randint(1, 12))
        persons = Persons(stored, caps, splits)
        held: dict[tuple[str, str, str], Link] = {}
        for at, link in enumerate([*stored, *learnt]):
            pair = (link.kind, link.a, link.b)
            if pair not in held or link.order < held[pair].order:
                held[pair] = link
            if at < len(stored):
                continue
            persons.learn(link)
            expected = resolve(held.values(), caps, splits)
            for user in users:
                assert persons.person(user_id=user) == expected.person(user_id=user), n
            for profile in profiles:
                got = persons.person(profile_id=profile)
                assert got == expected.person(profile_id=profile), n
