"""Create what a key needs (org, project, source) and the key itself."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from headwater.clock import now_ms
from headwater.store.base import Store
from headwater.tenancy import ids, keys

DEFAULT_NAME = "default"


@dataclasses.dataclass(frozen=True)
class NewKey:
    api_key: str
    org: str
    project: str
    source_id: str
    scopes: list[str]
    created_org: bool = False
    created_project: bool = False


def create_key(
    store: Store,
    org: str,
    project: str,
    source: str | None = None,
    scopes: Sequence[str] = keys.SCOPES,
) -> NewKey:
    """A new key for `org/project`, creating the org, project and source when missing."""
    ids.check_slug("org", org)
    ids.check_slug("project", project)
    chosen = keys.check_scopes(list(scopes))
    now = now_ms()
    # An org exists only with a project: created in one transaction (store.ensure_project).
    org_known = any(info.project.org == org for info in store.list_projects())
    found, created = store.ensure_project(org, project, now)
    named = store.ensure_source(found.id, source or DEFAULT_NAME, ids.snowflake(), now)
    prefix, secret = keys.new_key()
    store.create_key(found.id, prefix, keys.digest(secret), chosen, now)
    return NewKey(f"{prefix}.{secret}", org, project, named.id, chosen,
                  created and not org_known, created)  # fmt: skip


def bootstrap(store: Store) -> NewKey | None:
    """On an empty store, a default org, project, source and full-access key; else None."""
    if store.has_projects():
        return None
    return create_key(store, DEFAULT_NAME, DEFAULT_NAME)
