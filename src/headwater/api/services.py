"""What every handler needs, built once per server process."""

from __future__ import annotations

import dataclasses
from typing import Any, cast

from litestar import Request

from headwater.api.asgi import Scope
from headwater.api.auth import Authenticator, Principal
from headwater.api.observe import notes
from headwater.config import Settings
from headwater.ingest.writer import Writer
from headwater.store.base import Store

AnyRequest = Request[Any, Any, Any]

#: The project base of every Intempt-style route, in Litestar's path syntax.
BASE = "/v1/{org:str}/projects/{project:str}"


@dataclasses.dataclass
class Services:
    settings: Settings
    store: Store
    auth: Authenticator
    writer: Writer

    def principal(
        self,
        request: AnyRequest,
        org: str,
        project: str,
        scope: str,
    ) -> Principal:
        return self.auth.authenticate(
            request.headers.get("authorization"),
            request.query_params.get("apiKey"),
            org,
            project,
            scope,
            notes(cast(Scope, request.scope)),
        )


def services(request: AnyRequest) -> Services:
    found: Services = request.app.state.services
    return found
