"""The storage contract every backend implements, and the records it speaks in.

Stores are thin: they load and write rows. Every rule (validation, dedup key,
line numbering, scopes) is decided in Python before a store sees the data.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Protocol

from headwater.catalog.merge import ProductChange
from headwater.consent.records import ConsentRecord
from headwater.consent.status import Consent
from headwater.identity.links import Link
from headwater.identity.resolve import DEFAULT_CAPS, Caps, Person
from headwater.model.event import EVENT_COLUMNS, Batch, WriteResult
from headwater.store.identity import Bound


@dataclasses.dataclass(frozen=True)
class Project:
    id: int
    org: str
    slug: str


@dataclasses.dataclass(frozen=True)
class ProjectInfo:
    project: Project
    created_at: int


@dataclasses.dataclass(frozen=True)
class Source:
    project_id: int
    id: str
    name: str


@dataclasses.dataclass(frozen=True)
class KeyRecord:
    prefix: str
    project: Project
    secret_sha256: str
    scopes: frozenset[str]
    revoked: bool


@dataclasses.dataclass(frozen=True)
class KeySummary:
    prefix: str
    scopes: list[str]
    created_at: int
    revoked_at: int | None


@dataclasses.dataclass(frozen=True)
class EventQuery:
    project_id: int
    user_id: str | None = None
    profile_id: str | None = None
    account_id: str | None = None
    event_name: str | None = None
    event_id: str | None = None
    since: int | None = None
    until: int | None = None
    after: tuple[int, int] | None = None  # (timestamp, seq) of the last row already seen
    descending: bool = False
    limit: int = 100
    # A person's identifiers: the events they own (`model.event.owner_of`): those of these
    # userIds, and those of these profileIds that carry no real userId.
    owner_users: tuple[str, ...] = ()
    owner_profiles: tuple[str, ...] = ()
    # An account's ids: the events carrying any of them.
    any_account_id: tuple[str, ...] = ()
    # What a row holds (then `seq`): a fold reads only what it needs.
    columns: tuple[str, ...] = EVENT_COLUMNS


@dataclasses.dataclass(frozen=True)
class QuarantineEntry:
    id: int
    project_id: int
    source_id: str | None
    key_prefix: str
    received_at: int
    group: int | None
    item: int | None
    event_name: str | None
    type: str | None
    line: int
    path: str
    reason: str
    message: str
    raw: str
    kind: str  # "event" (a track body, group or item) or "product" (from a catalog feed)
    status: str
    resolved_at: int | None


@dataclasses.dataclass
class ApplyCounts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0

    def add(self, other: ApplyCounts) -> None:
        self.created += other.created
        self.updated += other.updated
        self.unchanged += other.unchanged


@dataclasses.dataclass(frozen=True)
class Resolved:
    """What replaying one quarantine entry wrote: events and catalog products."""

    accepted: int
    duplicates: int
    products: ApplyCounts


@dataclasses.dataclass(frozen=True)
class Horizon:
    """How far a reader following the events by `seq` may go (events/tail.py): the highest
    committed seq, and the transaction ids of the snapshot that saw it (the oldest still in
    flight, the next to start; both 0 where commits happen in seq order, as on SQLite)."""

    max_seq: int
    oldest_in_flight: int = 0
    next_transaction: int = 0


@dataclasses.dataclass(frozen=True)
class ProductRecord:
    id: str
    document: dict[str, Any]
    removed_at: int | None
    created_at: int
    updated_at: int


@dataclasses.dataclass(frozen=True)
class ProductFilter:
    status: str = "active"  # active | removed | all
    category: str | None = None
    availability: str | None = None
    brand: str | None = None
    text: str | None = None  # in the title, case-insensitively
    after: str | None = None  # the last product id already seen
    limit: int = 100


@dataclasses.dataclass
class ImportRecord:
    """One feed import: what it read and what it did (its report)."""

    id: int
    project_id: int
    format: str
    source: str
    full: bool
    status: str  # running | completed | failed
    started_at: int
    finished_at: int | None = None
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    rejected: int = 0
    error: str | None = None
    rejections: list[dict[str, Any]] = dataclasses.field(default_factory=list)


class Store(Protocol):
    def migrate(self) -> list[int]:
        """Apply pending numbered migrations; the versions applied."""

    def close(self) -> None: ...

    # tenancy
    def ensure_project(self, org: str, project: str, now: int) -> tuple[Project, bool]:
        """The project, created with its org when missing; True when created."""

    def find_project(self, org: str, project: str) -> Project | None: ...

    def has_projects(self) -> bool: ...

    def list_projects(self) -> list[ProjectInfo]:
        """Every project of the store, by org and project slug."""

    def has_schema(self) -> bool:
        """Whether the database holds a Headwater schema (`migrate` has run)."""

    def ensure_source(self, project_id: int, name: str, source_id: str, now: int) -> Source:
        """The source named `name`, created with `source_id` when missing."""

    def find_source(self, project_id: int, source_id: str) -> Source | None: ...

    def list_sources(self, project_id: int) -> list[Source]: ...

    def create_key(
        self, project_id: int, prefix: str, secret_sha256: str, scopes: Sequence[str], now: int
    ) -> None: ...

    def find_key(self, prefix: str) -> KeyRecord | None: ...

    def list_keys(self, project_id: int) -> list[KeySummary]: ...

    def revoke_key(self, prefix: str, now: int) -> bool:
        """Revoke the key; False when no unrevoked key has that prefix."""

    # ingest
    def write(self, batches: Sequence[Batch], caps: Caps = DEFAULT_CAPS) -> list[WriteResult]:
        """Insert every batch's events (duplicates skipped) and rejections in one transaction;
        events the privacy gate refuses move to `batch.refused` first (consent/gate.py)."""

    # identity
    def identity_links(
        self, project_id: int, users: Iterable[str], profiles: Iterable[str]
    ) -> list[Link]:
        """The links that decide the persons of these identifiers and their identity
        histories, but the conflicts of other users on their profiles (`profile_link_pages`)."""

    def person_links(
        self, project_id: int, users: Iterable[str], profiles: Iterable[str], max_profiles: int
    ) -> list[Link]:
        """The links that decide who the persons of these identifiers are (not their whole
        history), bounded by the caps rather than by the devices those persons used."""

    def alias_links(self, project_id: int, kind: str, start: Iterable[str]) -> list[Link]:
        """The closure of `user` or `account` alias links from `start`."""

    def profile_link_pages(
        self, project_id: int, bounds: Sequence[Bound], limit: int, excluding: Sequence[str]
    ) -> list[Link]:
        """Per (profile, timestamp, eventId, line, userId), the next `limit` links of the
        profile, in link order, but those to `excluding` userIds."""

    def splits(
        self, project_id: int, users: Iterable[str], profiles: Iterable[str]
    ) -> set[tuple[str, str]]:
        """(kind, identifier) of those of these identifiers an operator split off."""

    def add_split(self, project_id: int, kind: str, identifier: str, now: int) -> None: ...

    def attribute_strategies(
        self, project_id: int, names: Iterable[str] | None = None
    ) -> dict[str, str]:
        """Attribute name → strategy, for the attributes that have one set (among `names`
        when given)."""

    def set_attribute_strategy(
        self, project_id: int, name: str, strategy: str, now: int
    ) -> None: ...

    # reads
    def query_events(self, query: EventQuery) -> list[tuple[Any, ...]]:
        """Rows of `query.columns` (all by default) followed by `seq`, at most
        `query.limit`."""

    def stream_events(self, query: EventQuery) -> Iterator[tuple[Any, ...]]:
        """Every row `query` matches (no limit, no cursor order: `after` and `descending`
        do not apply), as `query_events` shapes them, in fold order: (timestamp, eventId,
        line, eventName), text by code point; read as it is consumed, so memory stays flat.
        Consume it promptly: it holds a read (a snapshot) open."""

    def account_members(
        self, project_id: int, account_ids: Sequence[str], after: tuple[str, str] | None,
        limit: int,
    ) -> list[tuple[str, str]]:  # fmt: skip
        """(kind, identifier) of the distinct owners (`user` or `profile`) of the events
        carrying one of `account_ids`: users then profiles, each by identifier bytewise;
        the first `limit` after `after`."""

    def members_among(
        self, project_id: int, account_ids: Sequence[str], users: Sequence[str],
        profiles: Sequence[str],
    ) -> set[tuple[str, str]]:  # fmt: skip
        """Which of these identifiers own an event carrying one of `account_ids`."""

    def list_quarantine(
        self, project_id: int, status: str | None, after_id: int, limit: int
    ) -> list[QuarantineEntry]: ...

    def last_quarantine_id(self, project_id: int) -> int:
        """The highest quarantine entry id of the project, 0 when there is none."""

    def resolve_quarantine(
        self,
        entry: QuarantineEntry,
        batch: Batch,
        now: int,
        products: Sequence[ProductChange] = (),
        caps: Caps = DEFAULT_CAPS,
    ) -> Resolved:
        """Mark a pending entry replayed and write its events, product changes and new
        rejections, atomically; Conflict (nothing written) when it is no longer pending."""

    def requarantine(self, entry: QuarantineEntry, path: str, reason: str, message: str) -> None:
        """Record why a replayed entry failed again; it stays pending."""

    def count_quarantine(self, project_id: int, status: str | None) -> int: ...

    def dismiss_quarantine(
        self, project_id: int, status: str | None, ids: Sequence[int] | None, up_to: int,
        limit: int, now: int,
    ) -> list[int]:  # fmt: skip
        """Mark `dismissed` and empty the raw content of up to `limit` of the project's
        entries with ids up to `up_to` (with `status`, among `ids` when given; not dismissed
        already), oldest first, in one transaction; their ids."""

    # events leaving the store
    def event_horizon(self) -> Horizon: ...

    def events_after(
        self, query: EventQuery, after_seq: int, up_to_seq: int, limit: int
    ) -> list[tuple[Any, ...]]:
        """Up to `limit` rows matching `query`'s filters with `after_seq < seq <= up_to_seq`,
        in seq order; rows in `EVENT_COLUMNS` order followed by `seq`."""

    def count_events(self, query: EventQuery) -> int:
        """How many events match `query`'s filters and time bounds (not its cursor)."""

    def prune_events(self, project_id: int, before: int, limit: int) -> int:
        """Delete up to `limit` of the project's events with an event time before `before`,
        oldest first, in one transaction; how many."""

    # catalog
    def apply_products(
        self,
        project_id: int,
        changes: Sequence[ProductChange],
        now: int,
        quarantine: Sequence[Sequence[object]] = (),
        seen: tuple[int, Iterable[str]] | None = None,
    ) -> ApplyCounts: ...

    def remove_product(self, project_id: int, product_id: str, now: int) -> bool: ...

    def analyze_catalog(self) -> None: ...

    def known_products(self, project_id: int, ids: Iterable[str]) -> set[str]: ...

    def get_product(self, project_id: int, product_id: str) -> ProductRecord | None: ...

    def list_products(self, project_id: int, where: ProductFilter) -> list[ProductRecord]: ...

    def start_import(self, project_id: int, fmt: str, source: str, full: bool, now: int) -> int: ...

    def remove_unseen(self, project_id: int, import_id: int, now: int) -> int: ...

    def finish_import(self, record: ImportRecord) -> None: ...

    def list_imports(
        self, project_id: int, before_id: int | None, limit: int
    ) -> list[ImportRecord]: ...

    # consent and privacy
    def record_consent(
        self, project_id: int, record: ConsentRecord, received_at: int, key_prefix: str
    ) -> bool:
        """Store a consent record; False when the same record is stored already."""

    def consents_of(
        self, project_id: int, users: Iterable[str], profiles: Iterable[str],
        read: Any = None, latest: bool = False,
    ) -> list[Consent]:  # fmt: skip
        """Every consent record naming one of these userIds or profileIds; `latest`: only
        those that can decide a status (bounded per identifier and category)."""

    def consent_history(
        self, project_id: int, users: Sequence[str], profiles: Sequence[str],
        before: tuple[int, int, int] | None, limit: int,
    ) -> list[Consent]:  # fmt: skip
        """A page of the records naming these identifiers, newest first."""

    def required_categories(self, project_id: int) -> list[str]: ...

    def set_required_categories(
        self, project_id: int, categories: Sequence[str], now: int
    ) -> None: ...

    def erase_person(
        self,
        project_id: int,
        user_id: str | None,
        profile_id: str | None,
        caps: Caps,
        suppressing: bool,
        requested_by: str,
        now: int,
    ) -> tuple[Person, dict[str, Any]]:
        """Erase the person of the identifier; the person and the erasure's report."""

    def list_erasures(self, project_id: int) -> list[dict[str, Any]]: ...

    def scrub_erased(self, lock_timeout: float) -> dict[str, Any]:
        """Rewrite whatever still holds the bytes of erased rows (docs/privacy.md)."""

    def ping(self) -> None:
        """Raise StoreError unless the store answers."""
