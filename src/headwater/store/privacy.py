"""The privacy SQL common to both backends (issue 6): consent records, the ingest gate's
reads, the project's consent requirements, erasure and suppression.

Thin on purpose: who a person is comes from `identity.resolve`, what a consent decides from
`consent.status`, what the gate refuses from `consent.gate`, what an erasure removes from
`consent.erase`. This module loads rows for them and writes back the outcome.
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Iterable, Sequence
from typing import Any

import msgspec

from headwater.consent import erase, gate, suppress
from headwater.consent.mentions import Who, level_of
from headwater.consent.records import ConsentRecord
from headwater.consent.status import CONSENT_COLUMNS, Consent
from headwater.consent.suppress import KINDS
from headwater.errors import BadRequest
from headwater.identity.links import PROFILE, USER, named_by
from headwater.identity.resolve import Caps, Person, resolve
from headwater.model.event import Batch
from headwater.model.rules import is_identity
from headwater.store.identity import IdentitySQL
from headwater.store.statements import (
    Connection,
    Read,
    in_lists,
    matching,
    placeholders,
    reader,
)

_INSERT_CONSENT = (
    "INSERT INTO consents (project_id, digest, user_id, profile_id, source_id, category, "
    "action, timestamp, valid_until, received_at, details, key_prefix) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (project_id, digest) DO NOTHING"
)
_PAGE = 1000  # quarantine entries read at a time while erasing
#: The tables an erasure deletes from: what a scrub rewrites, smallest first.
PERSONAL_TABLES = ("quarantine", "consents", "identity_splits", "identity_links", "events")
# The ranking of `consents_of(latest=True)`: Consent.order but the digest, per owner and category.
_LATEST = (
    "PARTITION BY user_id IS NULL, COALESCE(user_id, profile_id), category "
    "ORDER BY timestamp DESC, received_at DESC, "
    "CASE WHEN action = 'reject' THEN 1 ELSE 0 END DESC, "
    "COALESCE(valid_until, 9223372036854775807) DESC"
)


@dataclasses.dataclass(frozen=True)
class Policy:
    """A project's privacy settings, as the gate reads them once per commit."""

    required: tuple[str, ...] = ()
    suppressed: int = 0
    salt: str | None = None

    @classmethod
    def of(cls, required: str, suppressed: int, salt: str) -> Policy:
        """From a `privacy_policies` row's columns."""
        return cls(tuple(msgspec.json.decode(required)), suppressed, salt)


class PrivacySQL(IdentitySQL):
    @abc.abstractmethod
    def _erasing(self, conn: Connection) -> None:
        """Scrub, inside the erasure's transaction, what deleting rows leaves behind."""

    @abc.abstractmethod
    def _after_erasure(self) -> dict[str, Any]:
        """Scrub what the backend keeps outside its tables (SQLite: the WAL file); what it
        reports is added to the erasure's report."""

    @abc.abstractmethod
    def scrub_erased(self, lock_timeout: float) -> dict[str, Any]:
        """Rewrite whatever still holds the bytes of erased rows; `scrub` in the report is
        `complete`, or `busy` when a lock was not had within `lock_timeout` seconds."""

    # -- consent records -------------------------------------------------------------

    def record_consent(
        self, project_id: int, record: ConsentRecord, received_at: int, key_prefix: str
    ) -> bool:
        """Store the record (once: a re-sent one is a duplicate); False for a duplicate.
        BadRequest when it names a suppressed identifier: nothing is stored."""
        with self._transaction() as conn:
            self._lock_privacy(conn, [project_id], exclusive=False)
            read = reader(conn)
            policy = self._policies(read, [project_id]).get(project_id, Policy())
            if policy.suppressed and policy.salt:
                for field, kind, value in (
                    ("userId", USER, record.user_id),
                    ("profileId", PROFILE, record.profile_id),
                ):
                    found = value and self._suppressed(
                        read, project_id, {suppress.digest(policy.salt, kind, value)}
                    )
                    if found:
                        raise BadRequest(
                            f"not stored: this {field} belongs to an erased person and is "
                            "suppressed",
                            field,
                        )
            inserted = conn.execute(
                _INSERT_CONSENT,
                (project_id, record.digest, record.user_id, record.profile_id, record.source_id,
                 record.category, record.action, record.timestamp, record.valid_until,
                 received_at, msgspec.json.encode(record.details).decode(), key_prefix),
            ).rowcount  # fmt: skip
        return inserted == 1

    def consents_of(
        self, project_id: int, users: Iterable[str], profiles: Iterable[str],
        read: Read | None = None, latest: bool = False,
    ) -> list[Consent]:  # fmt: skip
        """Every record naming one of `users` (userId) or `profiles` (profileId), by id.

        `latest`: only the candidates to decide a status, bounded however many records a
        person sent: per owner (the userId, else the profileId) and category, the records
        first by consent time, receive time, reject and expiry (`Consent.order`; ties all
        kept, `consent.status.latest` decides among them)."""
        read = read or self._read
        source = "consents"
        if latest:
            source = f"(SELECT {CONSENT_COLUMNS}, RANK() OVER ({_LATEST}) AS position FROM consents"
        found: dict[int, Consent] = {}
        for column, values in (("user_id", users), ("profile_id", profiles)):
            for condition, params in matching(column, values, self.arrays):
                sql = f"SELECT {CONSENT_COLUMNS} FROM {source} WHERE project_id = ? AND {condition}"
                if latest:
                    sql += ") AS ranked WHERE position = 1"
                rows = read(sql, [project_id, *params])
                found.update((row[0], Consent(*row)) for row in rows)
        return [found[i] for i in sorted(found)]

    def consent_history(
        self, project_id: int, users: Sequence[str], profiles: Sequence[str],
        before: tuple[int, int, int] | None, limit: int,
    ) -> list[Consent]:  # fmt: skip
        """Up to `limit` records naming the identifiers, newest first by (consent time,
        receive time, id), after the cursor `before` (those three of the last one shown)."""
        found: list[Consent] = []
        for column, values in (("user_id", users), ("profile_id", profiles)):
            for condition, params in matching(column, values, self.arrays):
                sql = f"SELECT {CONSENT_COLUMNS} FROM consents WHERE project_id = ? AND {condition}"
                args: list[object] = [project_id, *params]
                if before is not None:
                    sql += " AND (timestamp, received_at, id) < (?, ?, ?)"
                    args += before
                sql += " ORDER BY timestamp DESC, received_at DESC, id DESC LIMIT ?"
                found += [Consent(*row) for row in self._read(sql, [*args, limit])]
        unique = {c.id: c for c in found}.values()
        return sorted(unique, key=_newest, reverse=True)[:limit]

    # -- settings ----------------------------------------------------------------------

    def required_categories(self, project_id: int) -> list[str]:
        policy = self._policies(self._read, [project_id]).get(project_id, Policy())
        return list(policy.required)

    def set_required_categories(self, project_id: int, categories: Sequence[str], now: int) -> None:
        text = msgspec.json.encode(sorted(set(categories))).decode()
        with self._transaction() as conn:
            conn.execute(
                "INSERT INTO privacy_policies (project_id, required_categories, salt, "
                "updated_at) VALUES (?, ?, ?, ?) ON CONFLICT (project_id) DO UPDATE SET "
                "required_categories = excluded.required_categories, "
                "updated_at = excluded.updated_at",
                (project_id, text, suppress.new_salt(), now),
            )

    def _locked_policies(self, conn: Connection, project_ids: Sequence[int]) -> dict[int, Policy]:
        """The projects' policies, holding their privacy locks shared: what every write
        transaction starts with. A backend may do both in one statement (each statement of
        the writer can wait a GIL switch interval under load: measured)."""
        self._lock_privacy(conn, project_ids, exclusive=False)
        return self._policies(reader(conn), project_ids)

    def _policies(self, read: Read, project_ids: Iterable[int]) -> dict[int, Policy]:
        ids = sorted(set(project_ids))
        rows = read(
            "SELECT project_id, required_categories, suppressed, salt FROM privacy_policies "
            f"WHERE project_id IN ({placeholders(ids)})",
            ids,
        )
        return {p: Policy.of(r, n, s) for p, r, n, s in rows}

    def _suppressed(self, read: Read, project_id: int, digests: set[str]) -> set[str]:
        found: set[str] = set()
        for condition, params in matching("digest", digests, self.arrays):
            rows = read(
                f"SELECT digest FROM suppressions WHERE project_id = ? AND {condition}",
                [project_id, *params],
            )
            found.update(d for (d,) in rows)
        return found

    # -- the ingest gate -----------------------------------------------------------------

    def _gate(
        self, conn: Connection, batches: Sequence[Batch], caps: Caps, now: int | None = None
    ) -> None:
        """Move every event and invalid item the gate refuses from its batch to
        `batch.refused`, reading inside the write transaction `conn` (consent/gate.py).
        Consent expiry is judged at `now`, by default each batch's receive time."""
        projects = sorted({b.ctx.project_id for b in batches if b.events or b.rejected})
        if not projects:
            return
        read = reader(conn)
        for project_id, policy in self._locked_policies(conn, projects).items():
            if not policy.required and not policy.suppressed:
                continue
            mine = [b for b in batches if b.ctx.project_id == project_id]
            texts = gate.read_rejected(mine)
            named = [pair for b in mine for pair in gate.named(b, texts)]
            whos = [who for who, _ in named if who is not None]
            suppressed: set[tuple[str, str]] = set()
            if policy.suppressed and policy.salt:
                pairs = {(kind, value) for who in whos for _, kind, value in gate.identifiers(who)}
                pairs |= {(kind, s) for _, strings in named for s in strings for kind in KINDS}
                digests = {suppress.digest(policy.salt, *pair): pair for pair in pairs}
                found = self._suppressed(read, project_id, set(digests))
                suppressed = {digests[digest] for digest in found}
            check = gate.Gate(suppressed, policy.required)
            if policy.required:
                check = self._consent_gate(read, project_id, whos, suppressed, policy.required,
                                           caps)  # fmt: skip
            for batch in mine:
                check.apply(batch, batch.ctx.received_at if now is None else now, texts)

    def _consent_gate(
        self, read: Read, project_id: int, whos: Sequence[Who],
        suppressed: set[tuple[str, str]], required: Sequence[str], caps: Caps,
    ) -> gate.Gate:  # fmt: skip
        """A gate that knows the links deciding the persons `whos` name (`person_links`:
        bounded by what the batch names, not by how many devices those persons ever used),
        and the consent records of the identifiers those links reach."""
        users = {who.user_id for who in whos if is_identity(who.user_id)}
        users |= {who.another_user_id for who in whos if is_identity(who.another_user_id)}
        profiles = {who.profile_id for who in whos if is_identity(who.profile_id)}
        links = self.person_links(project_id, users, profiles, caps.profiles, read)
        linked_users, linked_profiles = named_by(links)
        users, profiles = users | linked_users, profiles | linked_profiles
        consents = self.consents_of(project_id, users, profiles, read, latest=True)
        splits = self.splits(project_id, users, profiles, read)
        return gate.Gate(suppressed, required, links, splits, caps, consents)

    # -- erasure -------------------------------------------------------------------------

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
        """Erase the person of the identifier, in one transaction; the person and a report.

        The stored record of the erasure holds its time, who asked and the counts: nothing
        that names the person."""
        with self._transaction() as conn:
            self._lock_privacy(conn, [project_id], exclusive=True)
            read = reader(conn)
            users, profiles = [user_id] if user_id else [], [profile_id] if profile_id else []
            links = self.identity_links(project_id, users, profiles, read)
            linked_users, linked_profiles = named_by(links)
            splits = self.splits(project_id, {*users, *linked_users},
                                 {*profiles, *linked_profiles}, read)  # fmt: skip
            resolution = resolve(links, caps, splits)
            found = resolution.person(user_id=user_id, profile_id=profile_id)
            person = erase.scope(resolution, found)
            counts = {
                **self._erase_events(conn, read, project_id, person),
                **self._erase_consents(conn, read, project_id, person),
                **self._erase_identity(conn, project_id, person),
                "quarantine": self._erase_quarantine(conn, read, project_id, person),
            }
            digests = self._digests(conn, read, project_id, person, now) if suppressing else []
            counts["suppressed"] = len(digests)
            (erasure_id,) = conn.execute(
                "INSERT INTO erasures (project_id, erased_at, requested_by, report) "
                "VALUES (?, ?, ?, ?) RETURNING id",
                (project_id, now, requested_by, msgspec.json.encode(counts).decode()),
            ).fetchone()
            self._suppress(conn, project_id, digests, erasure_id, now)
            self._erasing(conn)
        after = self._after_erasure()
        return found, {"id": int(erasure_id), "erasedAt": now, "removed": counts, **after}

    def list_erasures(self, project_id: int) -> list[dict[str, Any]]:
        rows = self._read(
            "SELECT id, erased_at, requested_by, report FROM erasures WHERE project_id = ? "
            "ORDER BY id",
            (project_id,),
        )
        return [
            {"id": i, "erasedAt": at, "requestedBy": by, "removed": msgspec.json.decode(r)}
            for i, at, by, r in rows
        ]

    def _erase_events(
        self, conn: Connection, read: Read, project_id: int, person: Person
    ) -> dict[str, int]:
        """Delete the person's events; clear their identifiers from other persons' events."""
        candidates: dict[int, tuple[Any, ...]] = {}
        for column, values in (
            ("user_id", person.user_ids),
            ("profile_id", person.profile_ids),
            ("another_user_id", person.user_ids),
        ):
            for chunk in in_lists(values):
                rows = read(
                    "SELECT seq, user_id, profile_id, another_user_id FROM events "
                    f"WHERE project_id = ? AND {column} IN ({placeholders(chunk)})",
                    [project_id, *chunk],
                )
                candidates.update((row[0], row) for row in rows)
        doomed: list[int] = []
        cleared: dict[str, list[int]] = {"profile_id": [], "another_user_id": []}
        for seq, user, profile, another in candidates.values():
            columns = {"profile_id": profile, "another_user_id": another}
            clear = erase.fate(person, user, profile, columns)
            if clear is None:
                doomed.append(seq)
            for column in clear or ():
                cleared[column].append(seq)
        _delete_where(conn, "events", "seq", doomed)
        for column, seqs in cleared.items():
            for part in in_lists(seqs):
                conn.execute(
                    f"UPDATE events SET {column} = NULL WHERE seq IN ({placeholders(part)})",
                    part,
                )
        return {
            "events": len(doomed),
            "eventsCleared": len({s for v in cleared.values() for s in v}),
        }

    def _erase_consents(
        self, conn: Connection, read: Read, project_id: int, person: Person
    ) -> dict[str, int]:
        doomed, cleared = [], []
        for consent in self.consents_of(project_id, person.user_ids, person.profile_ids, read):
            clear = erase.fate(person, consent.user_id, consent.profile_id,
                               {"profile_id": consent.profile_id})  # fmt: skip
            if clear is None:
                doomed.append(consent.id)
            elif clear:
                cleared.append(consent.id)
        _delete_where(conn, "consents", "id", doomed)
        for chunk in in_lists(cleared):
            # The digest described the record with the identifier: replaced, not kept.
            conn.execute(
                "UPDATE consents SET profile_id = NULL, digest = 'cleared-' || "
                f"CAST(id AS TEXT) WHERE id IN ({placeholders(chunk)})",
                chunk,
            )
        return {"consents": len(doomed), "consentsCleared": len(cleared)}

    def _erase_identity(self, conn: Connection, project_id: int, person: Person) -> dict[str, int]:
        links = splits = 0
        for kind, column, values in (
            (PROFILE, "a", person.profile_ids),
            (PROFILE, "b", person.user_ids),
            (USER, "a", person.user_ids),
            (USER, "b", person.user_ids),
        ):
            for chunk in in_lists(values):
                links += conn.execute(
                    "DELETE FROM identity_links WHERE project_id = ? AND kind = ? "
                    f"AND {column} IN ({placeholders(chunk)})",
                    [project_id, kind, *chunk],
                ).rowcount
        for kind, values in ((USER, person.user_ids), (PROFILE, person.profile_ids)):
            for chunk in in_lists(values):
                splits += conn.execute(
                    "DELETE FROM identity_splits WHERE project_id = ? AND kind = ? "
                    f"AND identifier IN ({placeholders(chunk)})",
                    [project_id, kind, *chunk],
                ).rowcount
        return {"identityLinks": links, "splits": splits}

    def _erase_quarantine(
        self, conn: Connection, read: Read, project_id: int, person: Person
    ) -> int:
        mine = erase.identifiers_of(person)
        doomed: list[int] = []
        after = 0
        while True:
            rows = read(
                "SELECT id, raw, group_index, item_index FROM quarantine "
                "WHERE project_id = ? AND id > ? ORDER BY id LIMIT ?",
                (project_id, after, _PAGE),
            )
            doomed += [i for i, raw, group, item in rows
                       if erase.names(raw, level_of(group, item), mine)]  # fmt: skip
            if len(rows) < _PAGE:
                break
            after = rows[-1][0]
        _delete_where(conn, "quarantine", "id", doomed)
        return len(doomed)

    def _digests(
        self, conn: Connection, read: Read, project_id: int, person: Person, now: int
    ) -> list[str]:
        """The suppression digests of every identifier of the person (creating the
        project's salt on first use)."""
        conn.execute(
            "INSERT INTO privacy_policies (project_id, salt, updated_at) VALUES (?, ?, ?) "
            "ON CONFLICT (project_id) DO NOTHING",
            (project_id, suppress.new_salt(), now),
        )
        salt = self._policies(read, [project_id])[project_id].salt
        assert salt is not None
        return sorted(
            {suppress.digest(salt, USER, u) for u in person.user_ids}
            | {suppress.digest(salt, PROFILE, p) for p in person.profile_ids}
        )

    def _suppress(
        self, conn: Connection, project_id: int, digests: Sequence[str], erasure_id: int, now: int
    ) -> None:
        """Refuse the later events of these identifiers (consent/gate.py)."""
        added = 0
        for digest in digests:
            added += conn.execute(
                "INSERT INTO suppressions (project_id, digest, erasure_id) VALUES (?, ?, ?) "
                "ON CONFLICT (project_id, digest) DO NOTHING",
                (project_id, digest, erasure_id),
            ).rowcount
        if added:
            conn.execute(
                "UPDATE privacy_policies SET suppressed = suppressed + ?, updated_at = ? "
                "WHERE project_id = ?",
                (added, now, project_id),
            )


def _newest(consent: Consent) -> tuple[int, int, int]:
    return (consent.timestamp, consent.received_at, consent.id)


def _delete_where(conn: Connection, table: str, column: str, values: Sequence[int]) -> None:
    for chunk in in_lists(values):
        conn.execute(f"DELETE FROM {table} WHERE {column} IN ({placeholders(chunk)})", chunk)
