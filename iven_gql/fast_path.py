"""The common request — a POST with a JSON body — without the Strawberry view's content
negotiation (measured in bench/: about a third of the per-request overhead).

It is not a second implementation of request handling: the body limit, JSON parsing and
document limit come from iven_gql/transport.py, the context, result processing and response
from the view, the execution from the view's executor (whose prepared-document cache is what
makes it fast). Everything else (GET, GraphiQL, multipart, streaming, WebSocket) goes to the
view itself.
"""

from __future__ import annotations

import logging

from cross_web import HTTPException
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from iven_gql import transport
from iven_gql.view import IvenGraphQL

log = logging.getLogger("iven.app")


class FastJSONPost:
    def __init__(self, view: IvenGraphQL) -> None:
        self.view = view

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not transport.scope_is_plain_json_post(scope):
            await self.view(scope, receive, send)
            return
        response = await self._run(scope, receive)
        await response(scope, receive, send)

    def takes_directly(self, scope: Scope) -> bool:
        """A request the app may hand over before routing and middleware: POST JSON to
        /graphql without an Origin header (so no CORS header to add)."""
        return (
            scope["type"] == "http"
            and scope["path"] == "/graphql"
            and transport.scope_is_plain_json_post(scope)
            and not any(name == b"origin" for name, _ in scope["headers"])
        )

    async def direct(self, scope: Scope, receive: Receive, send: Send) -> None:
        """`__call__` for a request `takes_directly`: no middleware around it to turn an
        unexpected exception into a 500."""
        try:
            response = await self._run(scope, receive)
        except Exception:
            log.exception("unhandled error")
            internal = transport.RefusalCode.INTERNAL_SERVER_ERROR
            response = transport.error_response(
                transport.TransportError(500, "Internal server error.", internal)
            )
        await response(scope, receive, send)

    async def _run(self, scope: Scope, receive: Receive) -> Response:
        """The view's `run` for this one kind of request, step for step."""
        view = self.view
        settings = view.settings
        try:
            request = transport.limited_request(scope, receive, settings.max_request_bytes)
            data = transport.parse_json_request(
                await request.body(), settings.max_document_bytes, settings.max_json_depth
            )
            sub_response = await view.get_sub_response(request)
            context = await view.get_context(request, sub_response)
            result = await view.executor.execute(data, context, "POST")
            payload = await view.process_result(request, result)
        except HTTPException as refused:
            return transport.error_response(refused)
        return view.create_response(payload, sub_response)
