"""How a change lands on a stored product: last writer wins, per field, by event time.

Every field remembers the version that last set (or removed) it: `(time ms, key, line)`,
where the key is the eventId of a track item or `import:<id>` for a feed. A change applies
to a field only when its version is newer, so the same changes in any order leave the same
product (ARCHITECTURE invariant 5). A feed import replaces the whole product at its
import time: fields the feed no longer carries are removed, unless a newer change set them.
A feed that changes nothing is not written at all (nightly syncs rewrite only what changed),
so an unchanged product keeps the time of the import that last changed it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, NamedTuple

from headwater.catalog import product

Version = tuple[int, str, int]
_EVERYTHING = "*"  # the version of every field without a version of its own
_NEVER: Version = (0, "", 0)


class ProductChange(NamedTuple):
    """Fields to set on a product (None removes one); `whole` replaces the product."""

    id: str
    fields: dict[str, Any]
    version: Version
    whole: bool


@dataclasses.dataclass(frozen=True)
class StoredProduct:
    id: str
    document: dict[str, Any]
    versions: dict[str, Version]
    removed_at: int | None = None
    encoded: str | None = None  # `document` as stored (canonical JSON), when read from a store

    def version_of(self, field: str) -> Version:
        return self.versions.get(field, self.versions.get(_EVERYTHING, _NEVER))


def apply(
    current: StoredProduct | None,
    id_: str,
    change: Mapping[str, Any],
    version: Version,
    whole: bool,
) -> StoredProduct:
    """`current` with `change` applied; a None value in `change` removes that field.

    `whole` (a feed) also removes the fields `change` lacks. The result is active: a
    product sent again is no longer removed.
    """
    if current is None or (
        whole and current.versions.keys() <= {_EVERYTHING} and version > current.version_of("")
    ):
        # Nothing newer to keep (a new product, or one only older feeds set): the change is
        # the product. The common case, taken without the walk over fields.
        document = {k: v for k, v in change.items() if v is not None}
        document["id"] = id_
        versions = {_EVERYTHING: version} if whole else dict.fromkeys(change, version)
        return StoredProduct(id_, document, versions, None)
    document = dict(current.document)
    versions = dict(current.versions)
    fields = set(change) | (set(document) if whole else set())
    for field in fields:
        if version <= current.version_of(field):
            continue  # a newer change set (or removed) this field
        value = change.get(field)
        if value is None:
            document.pop(field, None)
        else:
            document[field] = value
        versions[field] = version
    if whole and version > versions.get(_EVERYTHING, _NEVER):
        # The snapshot also says "absent" for every field no one mentioned: it becomes the
        # default version, and the entries it covers are dropped (each stays newer than it).
        versions = {k: v for k, v in versions.items() if v > version}
        versions[_EVERYTHING] = version
    document["id"] = id_
    return StoredProduct(id_, document, versions, None)


def same(a: StoredProduct, b: StoredProduct) -> bool:
    """True when a write of `b` over `a` would change nothing a reader sees."""
    if a.removed_at != b.removed_at:
        return False
    return (a.encoded or product.encode(a.document)) == product.encode(b.document)
