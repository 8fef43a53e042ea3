"""Product items on the track path (reference §10.3, ARCHITECTURE §2).

An item with a real top-level `productId` is catalog ingestion: its `data` is a partial
update of that product, it links no identifiers (no person is created), and it is kept in
the event log like any item, so a re-sent item is a duplicate. A product the catalog does
not hold yet must be created whole: an update lacking required fields is rejected then.
"""

from __future__ import annotations

from typing import Any

from headwater.catalog import product
from headwater.catalog.merge import ProductChange
from headwater.model import jsontext, rules
from headwater.model.event import Batch, EventRow, Rejection


def is_product(row: EventRow) -> bool:
    return rules.is_identity(row.product_id)


def product_key(row: EventRow) -> str:
    """The catalog id a product item updates: its productId, trimmed as feed ids are."""
    return (row.product_id or "").strip()


def fields_of(product_id: str, data: str | None, max_id_length: int) -> dict[str, Any]:
    """The checked fields an item's `data` sets (None removes one); raises rules.Invalid
    with a path under `data`."""
    try:  # checked on arrival (rules.object_text); a stored row is read by the same rules
        fields = jsontext.decoded(data.encode(), "data") if data is not None else {}
    except jsontext.Unreadable as exc:
        raise rules.Invalid(*exc.problem) from None
    if "id" in fields and str(fields["id"]) != product_id:
        raise rules.Invalid(
            "data.id",
            f"must equal productId {product_id!r} when given, got {fields['id']!r}",
            "product",
        )
    fields["id"] = product_id
    try:
        return product.check(fields, max_id_length, partial=True)
    except rules.Invalid as bad:
        field = "productId" if bad.path == "id" else f"data.{bad.path}"
        raise rules.Invalid(field, bad.message, bad.reason) from None


def change_of(row: EventRow) -> ProductChange:
    """The update a stored product item makes (its fields were checked when it arrived)."""
    key = product_key(row)
    fields = fields_of(key, row.data, len(key))
    del fields["id"]
    return ProductChange(key, fields, (row.timestamp, row.event_id, row.line), False)


def screened_ids(batch: Batch) -> set[str]:
    """The catalog ids the batch's product items update (to look up before `screen`)."""
    return {product_key(batch.events[index]) for index, *_ in batch.products}


def screen(batch: Batch, known: set[str], max_id_length: int) -> None:
    """Move the items that would create a product without its required fields from
    `batch.events` to `batch.rejected`. `known`: the batch's products already stored."""
    created = set(known)
    refused: set[int] = set()
    for index, group, item, raw in batch.products:
        row = batch.events[index]
        key = product_key(row)
        if key in created:
            continue
        fields = fields_of(key, row.data, max_id_length)
        missing = product.missing_required(fields)
        if not missing:
            created.add(key)
            continue
        refused.add(index)
        batch.rejected.append(
            Rejection(
                group,
                item,
                f"track[{group}].payload[{item}].data.{missing[0]}",
                f"product {key!r} is not in the catalog yet, so this item creates "
                f"it and needs every required field ({', '.join(product.REQUIRED)}); "
                f"missing: {', '.join(missing)}",
                "product",
                raw,
                row.event_name,
                row.type,
                row.line,
            )
        )
    if refused:
        batch.keep(set(range(len(batch.events))) - refused)
    batch.products = []
