"""Catalog feeds parsed as streams: JSON, catalog XML and Google Merchant RSS 2.0.

A reader turns a binary stream into `FeedEntry`s, one product at a time, so memory stays
flat however large the feed. A feed that cannot be read as a whole (malformed, hostile,
wrong format) raises `FeedRefused`; one bad product is an entry with an `error`, rejected
alone.

XML is untrusted: any document type declaration is refused before expat reads it, which
rules out entity expansion (billion laughs, quadratic blowup) and external entities (XXE);
expat itself never opens a file or a socket.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from xml.parsers import expat

from headwater.catalog import jsonfeed
from headwater.catalog.entries import CHUNK, MAX_DEPTH, FeedEntry, FeedRefused, Readable

__all__ = ["FORMATS", "Feed", "FeedEntry", "FeedRefused", "Readable"]

FORMATS = ("json", "xml", "google")
GOOGLE_NS = "http://base.google.com/ns/1.0"
_NS = "}"  # expat joins namespace and local name with this


class _Prefixed:
    """A stream with its first bytes put back after peeking at them."""

    def __init__(self, head: bytes, rest: Readable, skipped: int) -> None:
        self._head = head
        self._rest = rest
        self.skipped = skipped  # bytes dropped before `head`: white space, a byte order mark

    def read(self, size: int = -1) -> bytes:
        if size == 0:  # a reader probing for bytes or text
            return b""
        if self._head:
            head, self._head = self._head, b""
            return head
        return self._rest.read(size if size > 0 else CHUNK)


def detect(stream: Readable) -> tuple[str, _Prefixed]:
    """("json" | "xml", the same stream) from the first byte that is not white space.

    The stream handed back starts at that byte: a UTF-8 byte order mark and leading white
    space are dropped (both are meaningless to either format)."""
    head = b""
    read = 0
    while True:
        more = stream.read(CHUNK)
        read += len(more)
        head = (head + more).lstrip()
        if len(head) >= 3 or not more:
            if head.startswith(b"\xef\xbb\xbf"):
                head = head[3:].lstrip()
                continue  # what follows the mark may still be white space
            if head or not more:
                break
    skipped = read - len(head)  # `head` is what was read, less what was dropped
    first = head[:1]
    if first in (b"{", b"["):
        return "json", _Prefixed(head, stream, skipped)
    if first == b"<":
        return "xml", _Prefixed(head, stream, skipped)
    if not first:
        raise FeedRefused("the feed is empty")
    raise FeedRefused(f"the feed is neither JSON nor XML: it starts with {head[:20]!r}", "format")


class Feed:
    """The products of one feed, read once; `format` is known once reading has begun."""

    def __init__(self, stream: Readable, fmt: str | None, max_product_bytes: int) -> None:
        if fmt is not None and fmt not in FORMATS:
            raise FeedRefused(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}", "format")
        found, prefixed = detect(stream)
        if fmt == "json" and found != "json":
            raise FeedRefused("format json was asked for, but the feed is XML", "format")
        if fmt in ("xml", "google") and found != "xml":
            raise FeedRefused(f"format {fmt} was asked for, but the feed is JSON", "format")
        self._xml = None if found == "json" else XMLProducts(fmt == "google", max_product_bytes)
        self._entries = (
            jsonfeed.entries(prefixed, prefixed.skipped, max_product_bytes)
            if self._xml is None
            else self._xml.entries(prefixed)
        )

    @property
    def format(self) -> str:
        if self._xml is None:
            return "json"
        return "google" if self._xml.google else "xml"

    def __iter__(self) -> Iterator[FeedEntry]:
        return self._entries


# -- XML ----------------------------------------------------------------------------------


class _Element:
    __slots__ = ("attrs", "children", "name", "text")

    def __init__(self, name: str, attrs: dict[str, str]) -> None:
        self.name = name
        self.attrs = attrs
        self.children: dict[str, Any] = {}
        self.text: list[str] = []

    def value(self) -> Any:
        """Text for a leaf; an object of its children (repeated names as lists) otherwise."""
        parts = self.text
        text = (parts[0] if len(parts) == 1 else "".join(parts)).strip()
        if not self.children and not self.attrs:
            return text
        value = {f"@{_local(k)}": v for k, v in self.attrs.items()}
        value.update({_local(k): v for k, v in self.children.items()})
        if text:
            value["#text"] = text
        return value


class _Repeated(list[Any]):
    """The values of an element name repeated inside one parent."""


def _repeat(children: dict[str, Any], name: str, value: Any) -> None:
    """A second (third, …) element of one name in a parent: its values become a list."""
    if isinstance(children[name], _Repeated):
        children[name].append(value)
    else:
        children[name] = _Repeated([children[name], value])


def _local(name: str) -> str:
    return name.rpartition(_NS)[2]


class XMLProducts:
    """Products of `<catalog><products><product>` or of RSS `<item>`s, as flat field maps."""

    def __init__(self, google: bool, max_product_bytes: int) -> None:
        self._google_asked = google
        self._max = max_product_bytes
        self._parser = expat.ParserCreate(namespace_separator=_NS)
        p = self._parser
        p.buffer_text = True
        p.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
        p.StartDoctypeDeclHandler = self._refuse_doctype
        p.EntityDeclHandler = self._refuse_entity
        p.ExternalEntityRefHandler = self._refuse_external
        p.StartElementHandler = self._start
        p.EndElementHandler = self._end
        p.CharacterDataHandler = self._data
        self._product_tag: str | None = None  # decided by the root element
        self.google = False  # an RSS or Atom root: Google Merchant fields
        self._stack: list[_Element] = []  # the open elements of the current product
        self._size = 0
        self._too_large = False
        self._ready: list[FeedEntry] = []
        self._count = 0

    def entries(self, stream: _Prefixed) -> Iterator[FeedEntry]:
        while True:
            chunk = stream.read(CHUNK)
            try:
                self._parser.Parse(chunk, not chunk)
            except expat.ExpatError as exc:
                raise FeedRefused(
                    f"the XML feed is malformed at line {exc.lineno}, column {exc.offset + 1}: "
                    f"{expat.ErrorString(exc.code)}"
                ) from None
            yield from self._ready
            self._ready.clear()
            if not chunk:
                break
        if not self._count:
            raise FeedRefused(
                f"the feed holds no products: expected <{self._product_tag or 'product'}> "
                "elements (<catalog><products><product>… or Google Merchant RSS <item>…)"
            )

    def _refused(self, what: str) -> FeedRefused:
        p = self._parser
        return FeedRefused(
            f"the XML feed is refused at line {p.CurrentLineNumber}, column "
            f"{p.CurrentColumnNumber + 1}: {what}"
        )

    def _refuse_doctype(self, *_: Any) -> None:
        raise self._refused(
            "document type declarations (<!DOCTYPE>) are not accepted: they enable entity "
            "expansion and external entities; export the feed without one"
        )

    def _refuse_entity(self, *_: Any) -> None:
        raise self._refused("entity declarations are not accepted")

    def _refuse_external(self, *_: Any) -> int:
        raise self._refused("external entities are not accepted")

    def _start(self, name: str, attrs: dict[str, str]) -> None:
        if self._product_tag is None:
            root = _local(name)
            if self._google_asked and root not in ("rss", "feed"):
                raise self._refused(f"format google expects an RSS 2.0 <rss> root, found <{root}>")
            self.google = root in ("rss", "feed")
            self._product_tag = {"rss": "item", "feed": "entry"}.get(root, "product")
        stack = self._stack
        if stack:
            if len(stack) > MAX_DEPTH:
                raise self._refused(
                    f"elements inside a product are nested more than {MAX_DEPTH} levels deep"
                )
            self._size += len(name) + (
                sum(len(k) + len(v) for k, v in attrs.items()) if attrs else 0
            )
            if self._size > self._max:
                self._overflow()
            stack.append(_Element(name, {} if self._too_large else attrs))
        elif _local(name) == self._product_tag:
            self._stack.append(_Element(name, attrs))
            self._size, self._too_large = sum(len(k) + len(v) for k, v in attrs.items()), False
            if self._size > self._max:
                self._overflow()

    def _data(self, text: str) -> None:
        if self._stack and not self._too_large:
            self._size += len(text)
            if self._size > self._max:
                self._overflow()
            else:
                self._stack[-1].text.append(text)

    def _overflow(self) -> None:
        """The product passed `max_product_bytes`: let go of what was collected (memory stays
        flat) and only look for its end."""
        self._too_large = True
        for element in self._stack:
            element.children.clear()
            element.text.clear()
            element.attrs = {}

    def _end(self, name: str) -> None:
        if not self._stack:
            return
        element = self._stack.pop()
        if self._stack:
            if not self._too_large:
                children = self._stack[-1].children
                if element.name in children:
                    _repeat(children, element.name, element.value())
                else:
                    children[element.name] = element.value()
            return
        index = self._count
        self._count += 1
        path = f"{self._product_tag}[{index}]"
        if self._too_large:
            self._ready.append(FeedEntry(index, path, None, f"is larger than {self._max} bytes"))
            return
        fields = {f"@{_local(k)}": v for k, v in element.attrs.items()}
        fields.update(element.children)
        self._ready.append(FeedEntry(index, path, _fields(fields, self.google)))


def _fields(children: dict[str, Any], google: bool) -> dict[str, Any]:
    """Element names → product fields. Attributes of the product element fill fields its
    children leave out (`<product id="…">`)."""
    elements = {k: v for k, v in children.items() if not k.startswith("@")}
    if google:
        out = _google_fields(elements)
    else:
        out = {_local(k): list(v) if isinstance(v, _Repeated) else v for k, v in elements.items()}
    for name, value in children.items():
        if name.startswith("@"):
            out.setdefault(name[1:], value)
    return out


_GOOGLE_RENAMED = {"link": "url", "summary": "description"}
# Where `category` comes from, in order: whatever order the elements came in.
_GOOGLE_CATEGORY = ("product_type", "google_product_category", "category")


def _google_fields(children: dict[str, Any]) -> dict[str, Any]:
    """Google Merchant fields: `g:` names win over the plain RSS ones, which are kept as
    `rss_<name>` when both are present; `category` gathers product_type, then
    google_product_category, then plain RSS categories."""
    out: dict[str, Any] = {}
    plain: dict[str, Any] = {}
    categories: dict[str, list[Any]] = {}
    for name, value in children.items():
        ns, _, local = name.rpartition(_NS)
        value = list(value) if isinstance(value, _Repeated) else value
        if local == "link" and isinstance(value, dict) and "@href" in value:
            value = value["@href"]  # Atom: <link href="…"/>
        if local in _GOOGLE_CATEGORY and (ns == GOOGLE_NS or local == "category"):
            categories.setdefault(local, []).extend(value if isinstance(value, list) else [value])
        elif ns == GOOGLE_NS:
            out[_GOOGLE_RENAMED.get(local, local)] = value
        else:
            plain[local] = value
    for local, value in plain.items():
        field = _GOOGLE_RENAMED.get(local, local)
        out[field if field not in out else f"rss_{local}"] = value
    found = [c for kind in _GOOGLE_CATEGORY for c in categories.get(kind, [])]
    if found:
        out["category"] = found
    return out
