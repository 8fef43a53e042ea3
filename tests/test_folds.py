"""Streaming folds (issue 11, Deliver 4): the one-pass folds of a person's events give exactly
what the folds that held every observation gave, on random events with ties on event time.

`Reference` below is the pre-issue-11 evaluator, kept as a plain from-scratch oracle
(ARCHITECTURE §3): it holds every observation and decides at the end, in arrival order.
"""

from __future__ import annotations

import math
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from headwater.model.event import EventRow
from headwater.model.rules import is_identity
from headwater.profiles.activity import Activity
from headwater.profiles.attributes import Fold, Order
from headwater.profiles.ordering import FOLD_COLUMNS, order_of
from headwater.profiles.sessions import CONTEXT

T = 1_714_631_904_000
NAMES = ["View Page", "Leave Page", "Session start", "Charge", "Product ordered", "Identify"]
VALUES = st.none() | st.sampled_from(["x", "y", 1, [1], {"k": 1}, {"k": [2]}])


# -- the reference: every observation held, decided at the end ---------------------------


def key(row: EventRow) -> Order:
    return (row.timestamp, row.event_id, row.line, row.event_name)


def reference_attributes(
    seen: list[tuple[Order, dict[str, Any]]], strategies: dict[str, str]
) -> dict[str, tuple[Any, Order]]:
    by_name: dict[str, list[tuple[Order, Any]]] = {}
    for order, attributes in seen:
        for name, value in attributes.items():
            by_name.setdefault(name, []).append((order, value))
    out = {}
    for name, observed in sorted(by_name.items()):
        unset = max((o for o, v in observed if v is None), default=None)
        live = [(o, v) for o, v in observed if v is not None and (unset is None or o > unset)]
        if not live:
            continue
        strategy = strategies.get(name, "latest")
        if strategy == "first":
            order, value = min(live, key=lambda s: s[0])
        elif strategy == "most_frequent":
            counts: dict[bytes, tuple[int, Order, Any]] = {}
            for o, v in live:
                key = msgspec.json.encode(v, order="sorted")
                count, latest, _ = counts.get(key, (0, o, v))
                counts[key] = (count + 1, max(latest, o), v)
            _, order, value = max(counts.values(), key=lambda c: (c[0], c[1]))
        else:
            order, value = max(live, key=lambda s: s[0])
        out[name] = (value, order)
    return out


def reference_sessions(rows: list[EventRow], timeout: int) -> list[dict[str, Any]]:
    client: dict[str, list[EventRow]] = {}
    loose: list[EventRow] = []
    for row in rows:
        if is_identity(row.session_id):
            client.setdefault(row.session_id, []).append(row)
        else:
            loose.append(row)
    groups = [(sid, events) for sid, events in client.items()]
    current: list[EventRow] = []
    for row in sorted(loose, key=key):
        if current and row.timestamp - max(r.timestamp for r in current) > timeout:
            groups.append((f"auto_{key(sorted(current, key=key)[0])[1]}", current))
            current = []
        current.append(row)
    if current:
        groups.append((f"auto_{key(sorted(current, key=key)[0])[1]}", current))
    views = []
    for sid, events in groups:
        ordered = sorted(events, key=key)
        pages = [r for r in ordered if r.event_name == "View Page"]
        starts = [r.user_attributes for r in ordered
                  if r.event_name == "Session start" and r.user_attributes]  # fmt: skip
        first_page = pages[0].data if pages else None
        landing = msgspec.json.decode(first_page).get("url") if first_page else None
        context = msgspec.json.decode(starts[0]) if starts and starts[0] else {}
        views.append({
            "id": sid, "start": ordered[0].timestamp, "end": ordered[-1].timestamp,
            "event_count": len(events), "pages_viewed": len(pages), "landing_page": landing,
            **{name: context.get(name) for name in CONTEXT},
        })  # fmt: skip
    return sorted(views, key=lambda v: (v["start"], v["id"]), reverse=True)


def reference(
    rows: list[EventRow], strategies: dict[str, str], timeout: int, recent: int | None
) -> dict[str, Any]:
    seen = [(key(r), msgspec.json.decode(r.user_attributes)) for r in rows
            if r.user_attributes is not None]  # fmt: skip
    values = reference_attributes(seen, strategies)
    revenue: dict[str | None, list[float]] = {}
    for row in rows:
        if row.event_name == "Charge" and row.data is not None:
            data = msgspec.json.decode(row.data)
            amount, status, currency = data.get("amount"), data.get("status"), data.get("currency")
            sign = {"succeeded": 1, "refunded": -1}.get(status if isinstance(status, str) else "")
            if isinstance(amount, int | float) and not isinstance(amount, bool) and sign:
                currency = currency if isinstance(currency, str) else None
                revenue.setdefault(currency, []).append(sign * abs(amount))
    totals = {c: math.fsum(a) for c, a in revenue.items()}
    ltv: Any = 0
    if len(totals) == 1:
        ltv = next(iter(totals.values()))
    elif totals:
        ltv = {c or "unknown": t for c, t in sorted(totals.items(), key=lambda i: i[0] or "")}
    sessions = reference_sessions(rows, timeout)
    times = [r.timestamp for r in rows]
    return {
        "attributes": {name: value for name, (value, _) in values.items()},
        "attributeSources": {
            name: {"eventId": o[1], "line": o[2], "eventName": o[3], "timestamp": o[0]}
            for name, (_, o) in values.items()
        },
        "accounts": sorted({r.account_id for r in rows if is_identity(r.account_id)}),
        "sessions": sessions[:recent],
        "computed": {
            "first_seen": min(times, default=None),
            "last_seen": max(times, default=None),
            "event_count": len(rows),
            "session_count": len(sessions),
            "ltv": ltv,
            "orders": len({r.event_id for r in rows if r.event_name == "Product ordered"}),
        },
        "unreadable": {"count": 0, "events": []},
    }


# -- random events ------------------------------------------------------------------------


@st.composite
def events(draw: st.DrawFn) -> list[EventRow]:
    count = draw(st.integers(0, 40))
    keys = draw(st.lists(st.tuples(st.sampled_from(["e1", "e2", "e3", "e4"]),
                                   st.sampled_from(NAMES), st.integers(0, 1)),
                         min_size=count, max_size=count, unique=True))  # fmt: skip
    rows = []
    for event_id, name, line in keys:
        # Few distinct times: ties are the case a streaming fold must get right.
        timestamp = T + draw(st.sampled_from([0, 1, 5, 3_600_000, 3_600_001, 9_000_000]))
        data: Any = None
        if name == "View Page":
            data = draw(st.none() | st.just({}) | st.builds(dict, url=st.sampled_from("ab")))
        elif name == "Charge":
            data = {"amount": draw(st.sampled_from([0.1, 0.2, 0.3, 7, -2.5, "1", True])),
                    "status": draw(st.sampled_from(["succeeded", "refunded", "pending"])),
                    "currency": draw(st.sampled_from([None, "EUR", "USD"]))}  # fmt: skip
        names = st.sampled_from(["plan", "tags", "deviceType", "referrer"])
        attributes = draw(st.none() | st.dictionaries(names, VALUES, max_size=3))
        rows.append(EventRow(
            1, None, name, event_id, line, None, "p1", "u1",
            draw(st.sampled_from([None, "acme", "undefined"])),
            draw(st.sampled_from([None, "s1", "s2", "undefined"])), None, None, None, None,
            timestamp, T, None if data is None else msgspec.json.encode(data).decode(),
            None if attributes is None else msgspec.json.encode(attributes).decode(),
            None, None, None, "key",
        ))  # fmt: skip
    return rows


def stream(rows: list[EventRow]) -> list[tuple[Any, ...]]:
    """The rows as `Store.stream_events` gives them (tests/test_person_events.py checks
    it on both stores): in fold order, with a `seq`."""
    read = [(*(getattr(row, c) for c in FOLD_COLUMNS), seq) for seq, row in enumerate(rows)]
    return sorted(read, key=order_of)


@settings(max_examples=300, deadline=None)
@given(
    rows=events(),
    strategies=st.dictionaries(st.sampled_from(["plan", "tags", "deviceType"]),
                               st.sampled_from(["latest", "first", "most_frequent"])),
    recent=st.none() | st.integers(1, 3),
)  # fmt: skip
def test_streaming_folds_equal_the_folds_that_held_everything(
    rows: list[EventRow], strategies: dict[str, str], recent: int | None
) -> None:
    asked: list[set[str]] = []

    def load(names: Any) -> dict[str, str]:
        asked.append(set(names))
        return {n: s for n, s in strategies.items() if n in asked[-1]}

    activity = Activity(load, 30 * 60_000, recent)
    for row in stream(rows):
        activity.observe(row)
    assert activity.view() == reference(rows, strategies, 30 * 60_000, recent)
    # issue 11: strategies are asked for the attributes involved, each name once
    names = [n for names in asked for n in names]
    assert len(names) == len(set(names))


def test_a_fold_fed_out_of_order_refuses() -> None:
    # The streaming fold is exact only in ascending order: a bug feeding it otherwise fails.
    fold = Fold(lambda names: {})
    fold.observe((T, "b", 0, "E"), {"plan": "x"})
    with pytest.raises(ValueError, match="ascending"):
        fold.observe((T, "a", 0, "E"), {"plan": "y"})


@pytest.mark.parametrize(
    "text",
    ['{"plan": 1e400}', '{"a": "\\ud800"}', '{"a": ' + "[" * 5000 + "]" * 5000 + "}", "[1]",
     "1", '"text"', '{"a": 1'],
)  # fmt: skip
def test_stored_json_that_cannot_be_read_is_skipped_and_counted(text: str) -> None:
    # issue 11 Deliver 4: one helper decodes stored JSON for every profile read
    from headwater.profiles.stored import Unreadable, read_object

    unreadable = Unreadable()
    assert read_object(text, (T, "e1", 0, "E"), "data", unreadable) is None
    assert read_object('{"ok": 1}', (T, "e2", 0, "E"), "data", unreadable) == {"ok": 1}
    assert read_object(None, (T, "e3", 0, "E"), "data", unreadable) is None
    assert unreadable.view() == {
        "count": 1, "events": [{"eventId": "e1", "line": 0, "eventName": "E", "field": "data"}]
    }  # fmt: skip
