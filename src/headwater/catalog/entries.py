"""What a feed reader yields: one `FeedEntry` per product, or `FeedRefused` for the feed."""

from __future__ import annotations

import dataclasses
from typing import Any, Protocol

import msgspec

from headwater.errors import BadRequest

CHUNK = 1 << 16  # bytes per read from the feed's stream
MAX_DEPTH = 32  # levels of nesting inside one product, in either format


class Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


class FeedRefused(BadRequest):
    """The feed as a whole cannot be imported; nothing past this point was read."""


@dataclasses.dataclass(frozen=True)
class FeedEntry:
    index: int  # position among the feed's products, from 0
    path: str  # where the product sits in the feed, for error messages
    fields: dict[str, Any] | None  # None when `error` says why it cannot be read
    error: str | None = None
    unreadable: Any = None  # what stood in the feed instead of a product, when it is small
    field: str = ""  # where inside the product `error` lies ("" for the product as a whole)
    id: str | None = None  # the id of a product that cannot be read, when its id can be
    text: str | None = None  # the product as sent, when it is small but cannot be decoded

    def raw(self) -> str:
        """The product as JSON, to keep in quarantine ("" when it was too large to hold)."""
        if self.text is not None:
            return self.text
        kept = self.fields if self.fields is not None else self.unreadable
        return "" if kept is None else msgspec.json.encode(kept).decode()
