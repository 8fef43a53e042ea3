"""Replay quarantined input after a fix (a raised limit, an upgraded server, a corrected item).

An entry is decoded again with the current rules at the level it failed (item, group or
whole body), against its original receive time. Success writes its events and marks it
replayed in one transaction; failure records the new reason and leaves it pending.
"""

from __future__ import annotations

import dataclasses

import msgspec

from headwater.catalog import product
from headwater.catalog.merge import ProductChange
from headwater.catalog.track import is_product, screen, screened_ids
from headwater.clock import now_ms
from headwater.config import Settings
from headwater.errors import BadRequest, Conflict, NotFound
from headwater.ingest import normalize
from headwater.metrics import METRICS
from headwater.model import rules
from headwater.model.event import Batch, Context, raw_text
from headwater.store.base import ApplyCounts, QuarantineEntry, Store


@dataclasses.dataclass
class ReplayReport:
    replayed: int = 0
    accepted: int = 0
    duplicates: int = 0
    # Catalog products the replayed entries wrote: feed products and product items.
    products: ApplyCounts = dataclasses.field(default_factory=ApplyCounts)
    failed: list[dict[str, object]] = dataclasses.field(default_factory=list)
    # Events not stored for consent or suppression (consent/gate.py); the entry is resolved.
    refused: list[dict[str, object]] = dataclasses.field(default_factory=list)

    def wire(self) -> dict[str, object]:
        return dataclasses.asdict(self)


def _rebuild(
    store: Store, entry: QuarantineEntry, settings: Settings
) -> tuple[Batch, list[ProductChange]]:
    """The entry decoded anew, as events or (a feed's product) a product change; raises
    rules.Invalid when it fails at its own level again."""
    ctx = Context(entry.project_id, entry.source_id, entry.key_prefix, entry.received_at)
    raw = msgspec.Raw(entry.raw.encode())
    batch = Batch(ctx)
    if entry.kind == "product":
        return batch, [_product_change(entry, settings)]
    if entry.item is not None and entry.event_name is not None:
        item, extra = normalize.decode_item(raw)
        row = normalize.build_row(
            item, extra, entry.event_name, entry.type, entry.line, ctx, settings
        )
        if is_product(row):
            batch.products.append((0, entry.group or 0, entry.item, entry.raw))
        batch.events.append(row)
        batch.origins.append((entry.group, entry.item))
    elif entry.group is not None:
        group = normalize.decode_group(raw, entry.group, batch)
        if group is not None:
            normalize.parse_group(group, entry.group, raw, ctx, settings, batch)
        whole = [r for r in batch.rejected if r.item is None]
        if whole:
            raise rules.Invalid(whole[0].path, whole[0].message, whole[0].reason)
    else:
        try:
            batch = normalize.parse_body(entry.raw.encode(), ctx, settings)
        except BadRequest as exc:
            raise rules.Invalid(exc.path or "", exc.message, "malformed") from None
    if batch.products:  # a product item that would create a product must be complete
        known = store.known_products(entry.project_id, screened_ids(batch))
        screen(batch, known, settings.max_string_length)
        if entry.item is not None and not batch.events:  # an item fails at its own level
            first = batch.rejected[0]
            raise rules.Invalid(first.path, first.message, first.reason)
    return batch, []


def _product_change(entry: QuarantineEntry, settings: Settings) -> ProductChange:
    """A feed's rejected product, checked again; it replaces the product as of its import."""
    try:  # msgspec refuses a lone UTF-16 surrogate, which no store can hold
        fields = msgspec.json.decode(entry.raw)
    except msgspec.DecodeError:
        raise rules.Invalid("", "is not a JSON product in valid Unicode", "product") from None
    if not isinstance(fields, dict):
        raise rules.Invalid("", "must be a JSON object", "product")
    document = product.check(fields, settings.max_string_length)
    version = (entry.received_at, f"quarantine:{entry.id}", 0)
    return ProductChange(document["id"], document, version, True)


def replay_pending(
    store: Store,
    settings: Settings,
    project_id: int,
    ids: set[int] | None = None,
    replacement: bytes | None = None,
) -> ReplayReport:
    """Replay the project's pending entries (those in `ids`, or all), a page at a time.

    `replacement` swaps in corrected JSON, for exactly one id.
    """
    if replacement is not None and (ids is None or len(ids) != 1):
        raise BadRequest("a corrected item replaces exactly one entry: give one id", "ids")
    report = ReplayReport()
    seen: set[int] = set()
    after = 0
    # Entries a replay itself creates (the bad items of a replayed group) wait for the next run.
    ceiling = store.last_quarantine_id(project_id)
    while page := store.list_quarantine(project_id, "pending", after, 500):
        after = page[-1].id
        chosen = [e for e in page if e.id <= ceiling and (ids is None or e.id in ids)]
        seen.update(e.id for e in chosen)
        _replay(store, settings, chosen, replacement, report)
    missing = (ids or set()) - seen
    if missing:
        raise NotFound(f"no pending quarantine entry {min(missing)}", "ids")
    return report


def _replay(
    store: Store,
    settings: Settings,
    entries: list[QuarantineEntry],
    replacement: bytes | None,
    report: ReplayReport,
) -> None:
    for entry in entries:
        if replacement is not None:
            entry = dataclasses.replace(entry, raw=raw_text(replacement))
        try:
            batch, products = _rebuild(store, entry, settings)
        except rules.Invalid as bad:
            store.requarantine(entry, bad.path, bad.reason, bad.message)
            report.failed.append({"id": entry.id, "path": bad.path, "message": bad.message})
            continue
        try:
            result = store.resolve_quarantine(entry, batch, now_ms(), products, settings.caps)
        except Conflict:
            continue  # replayed by someone else meanwhile: counted there, not here
        report.replayed += 1
        report.refused += [{"id": entry.id, "path": r.path, "message": r.message}
                           for r in batch.refused]  # fmt: skip
        for refusal in batch.refused:
            METRICS.refused.labels(refusal.reason).inc()
        report.accepted += result.accepted
        report.duplicates += result.duplicates
        report.products.add(result.products)
