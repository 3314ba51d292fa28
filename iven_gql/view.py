"""The Strawberry view: WebSocket subscriptions, subscriptions over Server-Sent Events
(iven_gql/sse.py), GET, GraphiQL, uploads and streamed answers.
Its HTTP framing (iven_gql/transport.py) and its execution (iven_gql/executor.py) are the ones
the fast JSON POST path (iven_gql/fast_path.py) uses: only the content negotiation is its own."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

from cross_web import HTTPException
from graphql import GraphQLError, OperationType, get_operation_ast, parse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http import GraphQLRequestData
from strawberry.schema import Schema
from strawberry.subscriptions import GRAPHQL_SSE_PROTOCOL, GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types import ExecutionResult

from iven_gql import files, sse, transport
from iven_gql.executor import Executor
from iven_gql.extensions import OperationRules, shape_errors
from iven_gql.prepared import PreparedDocuments
from iven_gql.resources import Resources
from iven_gql.ws import ChatPlan, ChatPlans, ChatWSHandler, RenderGroup, RenderGroups
from resolvers.core.deps import Deps
from schema import build_schema
from schema.context import Context, client_info
from schema.core import global_id
from schema.media import UPLOAD_FIELDS

GRAPHIQL_HTML = Path(__file__).with_name("graphiql.html")
ASSETS_PATH = "/graphiql-assets"


class IvenGraphQL(GraphQL[Context, None]):
    graphql_transport_ws_handler_class = ChatWSHandler

    def __init__(self, resources: Resources, **kwargs: Any) -> None:
        settings = resources.settings
        rules = OperationRules.of(settings)
        super().__init__(
            build_schema(
                rules.extensions(),
                disable_field_suggestions=not settings.introspection_enabled,
            ),
            graphql_ide="graphiql" if settings.graphiql else None,
            allow_queries_via_get=True,
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_SSE_PROTOCOL),
            connection_init_wait_timeout=timedelta(seconds=10),
            max_subscriptions_per_connection=sse.MAX_STREAMS_PER_VIEWER,
            multipart_uploads_enabled=True,  # for the upload mutations only (parse_http_body)
            **kwargs,
        )
        self.resources = resources
        self.settings = settings
        self.executor = Executor(cast("Schema", self.schema), rules)
        self.chat_plans = ChatPlans(self)
        self._render_groups = RenderGroups()
        self.streams = sse.StreamSlots()  # the event streams open in this process

    def render_group(
        self, deps: Deps, plan: ChatPlan, variables: dict[str, Any], viewer: Any
    ) -> RenderGroup:
        return self._render_groups.get(
            deps, plan, variables, viewer, cast("Schema", self.schema)._schema
        )

    @property
    def prepared(self) -> PreparedDocuments:
        """The executor's document cache; subscriptions plan from it too (iven_gql/ws.py)."""
        return self.executor.prepared

    @property
    def deps(self) -> Deps:
        assert self.resources.deps is not None, "the lifespan has not run"
        return self.resources.deps

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Strawberry's, with the body limit and the transport error shape of the fast path."""
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        try:
            limit = transport.body_limit(self.settings, scope)
            response = await self.run(transport.limited_request(scope, receive, limit))
        except HTTPException as refused:
            response = transport.error_response(refused)
        except StarletteHTTPException as refused:  # Starlette's form parsing (multipart)
            response = transport.error_response(HTTPException(refused.status_code, refused.detail))
        await response(scope, receive, send)

    async def get_sub_response(self, request: Request | WebSocket) -> Response:
        """Where the operation may set headers or a status (`create_response` copies them):
        Strawberry's, without building a Content-Length header only to delete it."""
        sub_response = Response()
        sub_response.status_code = None  # type: ignore[assignment]  # None: not set
        sub_response.raw_headers = []
        return sub_response

    async def get_context(self, request: Request | WebSocket, response: Any) -> Context:
        context = Context(
            deps=self.deps, request=request, response=response, client=client_info(request)
        )
        if isinstance(request, Request):
            request.state.request_id = context.request_id
            response.headers["x-request-id"] = context.request_id
            await context.authenticate(request.headers.get("authorization"))
        return context

    async def on_ws_connect(self, context: Context) -> Any:
        params = context.connection_params or {}
        authorization = params.get("authorization") or params.get("Authorization")
        if authorization is not None and not isinstance(authorization, str):
            raise ConnectionRejectionError()
        await context.authenticate(authorization)
        if context.auth_error is not None:
            raise ConnectionRejectionError()
        # the User's global id, the one `me { id }` gives
        return {"viewerId": global_id("User", context.viewer.user_id)} if context.viewer else None

    async def parse_http_body(self, request: Any) -> Any:
        """A plain JSON POST parses as on the fast path; Strawberry parses the rest (GET,
        uploads, streamed answers), and the document limit holds whatever the framing."""
        headers = request.headers
        content_type = headers.get("content-type", "").encode("latin-1")
        accept = headers.get("accept", "").encode("latin-1")
        if transport.is_plain_json_post(request.method, content_type, accept):
            return transport.parse_json_request(
                await request.get_body(),
                self.settings.max_document_bytes,
                self.settings.max_json_depth,
            )
        data = await super().parse_http_body(request)
        if transport.media_type(content_type) == b"multipart/form-data":
            # the CSRF header was checked by files.guarded_upload before any byte was read
            refused = files.upload_operation_error(
                getattr(data, "query", None), getattr(data, "operation_name", None), UPLOAD_FIELDS
            )
            refused = refused or files.upload_mapping_error(getattr(data, "variables", None))
            if refused:
                raise HTTPException(400, refused)
        transport.check_document_size(
            getattr(data, "query", None), self.settings.max_document_bytes
        )
        return data

    def parse_json(self, data: str | bytes) -> Any:
        """JSON inside an HTTP request (GET variables, multipart `operations`, a streamed
        answer's body): the transport rules of a JSON body, refused with its JSON error."""
        return transport.decode_json(data, self.settings.max_json_depth)

    def decode_json(self, data: str | bytes) -> object:
        """A WebSocket message: what the transport refuses is an invalid message to
        graphql-transport-ws (the socket closes with 4400), never an internal error."""
        try:
            return transport.decode_json(data, self.settings.max_json_depth)
        except HTTPException as refused:
            raise json.JSONDecodeError(refused.reason, "", 0) from None

    async def execute_operation(
        self,
        request: Request,
        request_adapter: Any,
        request_data: GraphQLRequestData | list[GraphQLRequestData],
        context: Context,
        root_value: None,
        sub_response: Response,
    ) -> Any:
        """Server-Sent Events (iven_gql/sse.py) hold a stream slot of the viewer while they
        stream. A subscription in any other HTTP framing is refused with a clear error; a plain
        JSON answer is refused by the executor (SUBSCRIPTION_TRANSPORT)."""
        if not isinstance(request_data, GraphQLRequestData):
            return await super().execute_operation(
                request, request_adapter, request_data, context, root_value, sub_response
            )
        accept = request_adapter.headers.get("accept") or ""
        if request_data.protocol == "sse":
            if request_adapter.method != "POST" and is_subscription(
                request_data, self.settings.max_tokens
            ):
                raise transport.TransportError(
                    400, sse.SSE_OVER_POST, transport.RefusalCode.SUBSCRIPTION_TRANSPORT
                )
            release = self.streams.acquire(sse.stream_subject(context))
            request.state.release_stream = release
            try:
                return await super().execute_operation(
                    request, request_adapter, request_data, context, root_value, sub_response
                )
            except BaseException:
                release()
                raise
        if "multipart/mixed" in accept.lower() and is_subscription(
            request_data, self.settings.max_tokens
        ):
            raise transport.TransportError(
                406, sse.MULTIPART_SUBSCRIPTION, transport.RefusalCode.SUBSCRIPTION_TRANSPORT
            )
        return await super().execute_operation(
            request, request_adapter, request_data, context, root_value, sub_response
        )

    async def create_streaming_response(
        self,
        request: Request | WebSocket,
        stream: Callable[[], AsyncIterator[str]],
        sub_response: Response,
        headers: Mapping[str, str],
    ) -> Response:
        """Strawberry's streamed answer; an event stream frees its slot when it ends."""
        release = getattr(request.state, "release_stream", None)
        if release is None:
            return await super().create_streaming_response(request, stream, sub_response, headers)
        return sse.CountedStream(
            stream(),
            release=release,
            status_code=sub_response.status_code or 200,
            headers={**sub_response.headers, **headers},
        )

    async def execute_single(
        self,
        request: Request,
        request_adapter: Any,
        sub_response: Response,
        context: Context,
        root_value: None,
        request_data: GraphQLRequestData,
    ) -> ExecutionResult:
        """A single operation answered with one JSON object (batches are refused, streamed
        answers are Strawberry's own): the executor both paths share."""
        return await self.executor.execute(request_data, context, request_adapter.method)

    async def process_result(self, request: Any, result: Any) -> Any:
        # Errors raised before the operation ran (e.g. a syntax error) skip the extensions.
        if result.errors:
            request_id = getattr(getattr(request, "state", None), "request_id", "-")
            result.errors = shape_errors(result.errors, request_id)
        return await super().process_result(request, result)

    async def render_graphql_ide(self, request: Request) -> Response:
        html = GRAPHIQL_HTML.read_text(encoding="utf-8")
        html = html.replace("{{ASSETS}}", ASSETS_PATH)
        return HTMLResponse(html)


def is_subscription(data: GraphQLRequestData, max_tokens: int) -> bool:
    if not data.query:
        return False
    try:
        document = parse(data.query, max_tokens=max_tokens)
        operation = get_operation_ast(document, data.operation_name)
    except GraphQLError:
        return False  # reported by the normal execution as a syntax error
    return operation is not None and operation.operation is OperationType.SUBSCRIPTION
