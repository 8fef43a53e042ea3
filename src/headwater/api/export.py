"""Events export API (scope `read`): a streamed NDJSON, CSV or Parquet file of the events a
time range and filters select (events/export.py), read a page at a time as it is sent."""

from __future__ import annotations

import logging
from collections.abc import Iterator

from litestar import get
from litestar.params import FromPath
from litestar.response import Stream

from headwater.api.events import selected
from headwater.api.services import BASE, AnyRequest, services
from headwater.events.export import MEDIA_TYPES, check_format, export

log = logging.getLogger("headwater.api")


class ExportInterrupted(Exception):
    """The export failed after its first bytes were sent: the response is cut short."""


@get(f"{BASE}/events/export", sync_to_thread=True)
def export_events(request: AnyRequest, org: FromPath[str], project: FromPath[str]) -> Stream:
    hub = services(request)
    principal = hub.principal(request, org, project, "read")
    q = request.query_params
    fmt = check_format(q.get("format", "ndjson"))
    query = selected(q, principal.project.id, hub.settings.max_string_length)
    return Stream(
        _guarded(export(hub.store, query, fmt)),
        media_type=MEDIA_TYPES[fmt],
        headers={"Content-Disposition": f'attachment; filename="events.{fmt}"'},
    )


def _guarded(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """The chunks; a failure midway is logged and re-raised as ExportInterrupted, so the
    server aborts the response (the client sees it cut short, never a complete-looking
    file). Litestar ends a sync stream quietly on ValueError, which is why none may pass."""
    try:
        yield from chunks
    except Exception as exc:
        log.error("events export interrupted: %s", exc, exc_info=exc)
        raise ExportInterrupted(str(exc)) from exc
