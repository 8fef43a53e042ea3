"""Product items on the track path (reference §10.3, ARCHITECTURE §2).

An item with a real top-level `productId` is catalog ingestion: its `data` is a partial
update of that product, it links no identifiers (no person is created), and it is kept in
the event log like any item, so a re-sent item is a duplicate. A product the catalog does
not hold yet must be created whole: an update lacking required fields is rejected then.
"""

from __future__ import annotations

import json
from typing import Any

from headwater.catalog import product
from headwater.catalog.merge import ProductChange
from headwater.model import rules
from headwater.model.event import Batch, EventRow, Rejection


def is_product(row: EventRow) -> bool:
    return rules.is_identity(row.product_id)


def fields_of(product_id: str, data: str | None, max_id_length: int) -> dict[str, Any]:
    """The checked fields an item's `data` sets (None removes one); raises rules.Invalid
    with a path under `data`."""
    fields = json.loads(data) if data is not None else {}
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
    assert row.product_id is not None
    fields = fields_of(row.product_id, row.data, len(row.product_id))
    del fields["id"]
    return ProductChange(row.product_id, fields, (row.timestamp, row.event_id, row.line), False)


def screen(batch: Batch, known: set[str], max_id_length: int) -> None:
    """Move the items that would create a product without its required fields from
    `batch.events` to `batch.rejected`. `known`: the batch's products already stored."""
    created = set(known)
    refused: set[int] = set()
    for index, group, item, raw in batch.products:
        row = batch.events[index]
        assert row.product_id is not None
        if row.product_id in created:
            continue
        fields = fields_of(row.product_id, row.data, max_id_length)
        missing = product.missing_required(fields)
        if not missing:
            created.add(row.product_id)
            continue
        refused.add(index)
        batch.rejected.append(
            Rejection(
                group,
                item,
                f"track[{group}].payload[{item}].data.{missing[0]}",
                f"product {row.product_id!r} is not in the catalog yet, so this item creates "
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
        batch.events = [row for i, row in enumerate(batch.events) if i not in refused]
    batch.products = []
