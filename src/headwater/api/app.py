"""The ASGI application: routes, error shape, CORS, request metrics, access log, lifecycle."""

from __future__ import annotations

import functools
from typing import Any, cast

from litestar import Litestar

from headwater import logs
from headwater.api import (
    attributes,
    catalog,
    consent,
    events,
    export,
    ops,
    privacy,
    profiles,
    quarantine,
    sources,
    track,
)
from headwater.api.asgi import ASGIApp
from headwater.api.auth import Authenticator
from headwater.api.cors import cors
from headwater.api.errors import HANDLERS, noting_disconnects
from headwater.api.observe import observed
from headwater.api.params import checked_text
from headwater.api.services import Services
from headwater.config import Settings
from headwater.ingest.writer import Writer
from headwater.store import open_store
from headwater.store.base import Store


def create_app(settings: Settings | None = None, store: Store | None = None) -> ASGIApp:
    """The app; with no arguments (server workers) settings come from HEADWATER_* variables.

    Layers, outermost first: request metrics and access log, CORS, client disconnects noted,
    path and query text checked, the raw track routes, then Litestar.
    """
    settings = settings or Settings.from_env()
    logs.configure(settings.log_level)
    routes = routes_of(settings, store)
    origins = [o.strip() for o in settings.cors_origins.split(",") if o.strip()]
    services = lambda: routes.state.services  # noqa: E731 - set by the startup hook
    templates = [*track.ROUTES, *(route.path for route in routes.routes)]
    inner = checked_text(track.track_routes(cast(ASGIApp, routes), services), templates)
    return observed(cors(noting_disconnects(inner), origins), settings.access_log)


def routes_of(settings: Settings, store: Store | None = None) -> Litestar:
    """The Litestar app of every route but track; it owns the store and writer lifecycle."""
    chosen = store or open_store(settings)
    chosen.migrate()

    def start(app: Litestar) -> None:
        writer = Writer(
            functools.partial(chosen.write, caps=settings.caps),
            settings.writer_batch_events,
            settings.writer_max_wait_ms,
            settings.writer_queue_events,
        )
        app.state.services = Services(
            settings, chosen, Authenticator(chosen, settings.key_cache_seconds), writer
        )

    def stop(app: Litestar) -> None:
        app.state.services.writer.close()
        if store is None:  # a store handed in belongs to the caller
            chosen.close()

    handlers: list[Any] = [
        events.list_events,
        export.export_events,
        events.get_event,
        profiles.lookup_profile,
        profiles.identity_history,
        profiles.person_events,
        profiles.split_identifier,
        profiles.get_account,
        profiles.account_members,
        consent.record_consent,
        consent.person_consents,
        consent.get_requirements,
        consent.set_requirements,
        privacy.erase,
        privacy.export,
        privacy.list_erasures,
        attributes.list_strategies,
        attributes.set_strategy,
        quarantine.list_quarantine,
        quarantine.replay_quarantine,
        quarantine.dismiss_quarantine,
        catalog.import_feed,
        catalog.list_imports,
        catalog.list_products,
        catalog.get_product,
        catalog.remove_product,
        sources.list_sources,
        sources.create_source,
        ops.healthz,
        ops.readyz,
        ops.metrics,
    ]
    return Litestar(
        route_handlers=handlers,
        on_startup=[start],
        on_shutdown=[stop],
        exception_handlers=HANDLERS,
        request_max_body_size=settings.max_body_bytes,
        openapi_config=None,
        logging_config=None,  # logs.configure owns logging
        debug=False,
    )
