"""Erasure requests (issue 6): the one entry point the API and the CLI share."""

from __future__ import annotations

import logging
from typing import Any

from headwater.clock import now_ms
from headwater.profiles import lookup
from headwater.store.base import Store

log = logging.getLogger("headwater.privacy")


def erase(
    store: Store, project_id: int, max_profiles: int, user_id: str | None,
    profile_id: str | None, suppressing: bool, requested_by: str,
) -> dict[str, Any]:  # fmt: skip
    """Erase the person of the identifier. NotFound when nobody used it, unless asked to
    suppress it (suppressing the identifiers of an already erased person is allowed)."""
    resolution, person = lookup.person_of(store, project_id, max_profiles, user_id, profile_id)
    if not suppressing:
        lookup.require_used(store, project_id, resolution, person)
    person, report = store.erase_person(
        project_id, user_id, profile_id, max_profiles, suppressing, requested_by, now_ms()
    )
    # Never the identifiers: the log outlives the erasure.
    log.info("erasure %s done", report["id"], extra={"removed": report["removed"]})
    return {"person": person.id, "erasure": report}
