"""create_app: the Starlette application, its lifespan (stores, clients) and the GraphQL view."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

from cross_web import HTTPException
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError, MissingQueryError
from strawberry.http import GraphQLRequestData
from strawberry.schema import Schema
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types.graphql import OperationType

from iven_gql import files
from iven_gql.auth import Passwords, Tokens
from iven_gql.config import Settings, redact_url
from iven_gql.extensions import OperationRules, shape_errors
from iven_gql.prepared import PreparedDocuments
from iven_gql.ws import ChatPlan, ChatPlans, ChatWSHandler, RenderGroup, RenderGroups
from resolvers import accounts as accounts_uc
from resolvers import chat_feed, event_content, media, notifications, presence, projections
from resolvers import dispatcher as dispatcher_uc
from resolvers.core.background import drain_background
from resolvers.core.deps import Deps
from resolvers.services import Services
from resolvers.sessions import guard
from schema import build_schema
from schema.context import Context, client_info
from schema.media import UPLOAD_FIELDS
from stores.db import Database, create_engine
from stores.documents import all_models
from stores.mail import Mailer
from stores.migrations.runner import upgrade
from stores.mongo import DocumentStore, EmbeddedListener
from stores.redis import Broadcast, RateLimiter, ReadCache, SessionKeys, create_client

log = logging.getLogger("iven.app")

STATIC_DIR = Path(__file__).with_name("static")
GRAPHIQL_HTML = Path(__file__).with_name("graphiql.html")
ASSETS_PATH = "/graphiql-assets"


class StoreUnavailable(RuntimeError):
    pass


async def _within(what: str, url: str, timeout: float, coro: Any) -> Any:
    try:
        return await asyncio.wait_for(coro, timeout)
    except Exception as exc:  # noqa: BLE001 - any failure to reach it means unavailable
        raise StoreUnavailable(
            f"{what} is not reachable at {redact_url(url)} ({type(exc).__name__}: {exc})"
        ) from None


@dataclass
class Resources:
    """Everything the lifespan opens, closed in reverse on shutdown."""

    settings: Settings
    deps: Deps | None = None
    embedded_mongo: EmbeddedListener | None = None
    backends: dict[str, str] = field(default_factory=dict)

    async def open(self) -> Deps:
        s = self.settings
        timeout = s.store_connect_timeout_s
        engine = create_engine(s.database_url, connect_timeout=timeout)
        db = Database(engine)
        await _within("MySQL/SQL database", s.database_url, timeout, db.ping())
        if s.migrate_on_start:
            await upgrade(engine)
        self.backends["sql"] = f"{engine.dialect.name} ({redact_url(s.database_url)})"

        mongo_url = s.mongodb_url
        if mongo_url is None:
            self.embedded_mongo = await asyncio.to_thread(
                EmbeddedListener.start, s.var_dir / "briskdb"
            )
            mongo_url = self.embedded_mongo.url
            self.backends["documents"] = f"embedded briskdb listener ({mongo_url})"
        else:
            self.backends["documents"] = f"mongodb ({redact_url(mongo_url)})"
        documents = await _within(
            "MongoDB",
            mongo_url,
            timeout + 1,
            DocumentStore.connect(
                mongo_url, s.mongodb_database, models=all_models(), timeout_s=timeout
            ),
        )

        redis = create_client(s.redis_url, timeout=timeout)
        await _within("Redis", s.redis_url or "in-process", timeout, redis.ping())
        self.backends["redis"] = (
            f"redis ({redact_url(s.redis_url)})" if s.redis_url else "in-process (fakeredis)"
        )
        broadcast = Broadcast(redis)
        await broadcast.start()

        mailer = Mailer(s.smtp_url, s.mail_from, s.var_dir / "outbox")
        self.backends["mail"] = mailer.backend
        self.deps = Deps(
            settings=s,
            db=db,
            redis=redis,
            documents=documents,
            broadcast=broadcast,
            rate_limiter=RateLimiter(redis),
            session_keys=SessionKeys(redis),
            read_cache=ReadCache(redis),
            mailer=mailer,
            passwords=Passwords(s.argon2_time_cost, s.argon2_memory_kib, s.argon2_parallelism),
            tokens=Tokens(s.jwt_secret.get_secret_value(), s.access_token_ttl_s),
        )
        self.deps.services = Services(self.deps)
        await guard(self.deps).start()
        await accounts_uc.user_cache(self.deps).start()
        await projections.snapshot_cache(self.deps).start()
        event_content.install(self.deps)
        await chat_feed.install(self.deps).start()
        await presence.tracker(self.deps).start()
        media.files(self.deps)  # creates the upload folders
        dispatcher = dispatcher_uc.install(
            self.deps,
            [
                *projections.HANDLERS,
                notifications.notify,
                media.on_event_deleted,
                media.on_user_deleted,
            ],
        )
        if s.dispatcher:
            await dispatcher.start()
            jobs = self.deps.services.notification_jobs = notifications.Jobs(self.deps)
            await jobs.start()
        for store, backend in self.backends.items():
            log.info("store backend", extra={"store": store, "backend": backend})
        return self.deps

    async def close(self) -> None:
        deps = self.deps
        if deps is not None:
            await drain_background()
            await deps.services.close()
            await deps.broadcast.close()
            with contextlib.suppress(Exception):
                await deps.redis.aclose()
            await deps.documents.close()
            await deps.db.close()
        if self.embedded_mongo is not None:
            await asyncio.to_thread(self.embedded_mongo.close)


class IvenGraphQL(GraphQL[Context, None]):
    graphql_transport_ws_handler_class = ChatWSHandler

    def __init__(self, resources: Resources, **kwargs: Any) -> None:
        settings = resources.settings
        rules = OperationRules.of(settings)
        super().__init__(
            build_schema(
                rules.extensions(),
                disable_field_suggestions=settings.is_production,
            ),
            graphql_ide="graphiql" if settings.graphiql else None,
            allow_queries_via_get=True,
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
            connection_init_wait_timeout=timedelta(seconds=10),
            max_subscriptions_per_connection=50,
            multipart_uploads_enabled=True,  # for the upload mutations only (parse_http_body)
            **kwargs,
        )
        self.resources = resources
        self.settings = settings
        self.prepared = PreparedDocuments(
            cast("Schema", self.schema), rules, {t.value for t in POST_OPERATIONS}
        )
        self.chat_plans = ChatPlans(self)
        self._render_groups = RenderGroups()

    def render_group(
        self, deps: Deps, plan: ChatPlan, variables: dict[str, Any], viewer: Any
    ) -> RenderGroup:
        return self._render_groups.get(
            deps, plan, variables, viewer, cast("Schema", self.schema)._schema
        )

    @property
    def deps(self) -> Deps:
        assert self.resources.deps is not None, "the lifespan has not run"
        return self.resources.deps

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
        return {"viewerId": str(context.viewer.user_id)} if context.viewer else None

    async def parse_http_body(self, request: Any) -> Any:
        headers = request.headers
        if (
            headers.get("content-type", "").split(";", 1)[0].strip().lower()
            == "multipart/form-data"
        ):
            # size and CSRF header checked by files.guarded_upload before any byte was read
            parsed = await super().parse_http_body(request)
            refused = files.upload_operation_error(
                getattr(parsed, "query", None),
                getattr(parsed, "operation_name", None),
                UPLOAD_FIELDS,
            )
            if refused:
                raise HTTPException(400, refused)
            return parsed
        declared = headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > self.settings.max_request_bytes:
            raise HTTPException(413, "Request body too large")
        accept = headers.get("accept", "")
        if (
            request.method == "POST"
            and headers.get("content-type", "").split(";", 1)[0].strip().lower()
            == "application/json"
            and "multipart/mixed" not in accept
            and "text/event-stream" not in accept
        ):
            data: Any = self._parse_json_request(await request.get_body())
        else:
            data = await super().parse_http_body(request)
        query = getattr(data, "query", None)
        if query is not None and len(query.encode()) > self.settings.max_document_bytes:
            raise HTTPException(413, "GraphQL document too large")
        return data

    def _parse_json_request(self, body: bytes) -> GraphQLRequestData:
        """The common case, without the generic content negotiation (measured: bench/)."""
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise HTTPException(400, "Unable to parse request body as JSON") from None
        if isinstance(data, list):
            raise HTTPException(400, "Batching is not enabled")
        if not isinstance(data, dict):
            raise HTTPException(400, "The request body must be a JSON object")
        query, variables = data.get("query"), data.get("variables")
        operation_name, extensions = data.get("operationName"), data.get("extensions")
        if not isinstance(query, (str, type(None))):
            raise HTTPException(400, "The GraphQL operation's `query` must be a string or null.")
        if not isinstance(variables, (dict, type(None))):
            raise HTTPException(400, "The GraphQL operation's `variables` must be an object.")
        if not isinstance(operation_name, (str, type(None))):
            raise HTTPException(400, "`operationName` must be a string or null.")
        if not isinstance(extensions, (dict, type(None))):
            raise HTTPException(400, "The GraphQL operation's `extensions` must be an object.")
        return GraphQLRequestData(
            query=query, variables=variables, operation_name=operation_name, extensions=extensions
        )

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


# subscriptions go over WebSocket (or multipart, through the generic view)
POST_OPERATIONS = {OperationType.QUERY, OperationType.MUTATION}


class FastJSONPost:
    """The common request — POST with a JSON body — executed without the generic view's content
    negotiation (measured in bench/: about a third of the per-request overhead). Everything else
    (GET, GraphiQL, multipart, streaming, WebSocket) goes to the Strawberry view unchanged."""

    def __init__(self, view: IvenGraphQL) -> None:
        self.view = view

    def _handles(self, scope: Scope) -> bool:
        if scope["type"] != "http" or scope["method"] != "POST":
            return False
        content_type = accept = b""
        for name, value in scope["headers"]:
            if name == b"content-type":
                content_type = value
            elif name == b"accept":
                accept = value
        return (
            content_type.split(b";", 1)[0].strip().lower() == b"application/json"
            and b"multipart/mixed" not in accept
            and b"text/event-stream" not in accept
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self._handles(scope):
            await self.view(scope, receive, send)
            return
        response = await self._run(Request(scope, receive))
        await response(scope, receive, send)

    def takes_directly(self, scope: Scope) -> bool:
        """A request the app may hand over before routing and middleware: POST JSON to
        /graphql without an Origin header (so no CORS header to add)."""
        return (
            scope["type"] == "http"
            and scope["path"] == "/graphql"
            and self._handles(scope)
            and not any(name == b"origin" for name, _ in scope["headers"])
        )

    async def direct(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            response = await self._run(Request(scope, receive))
        except Exception:
            log.exception("unhandled error")
            response = PlainTextResponse("Internal Server Error", status_code=500)
        await response(scope, receive, send)

    async def _run(self, request: Request) -> Response:
        view = self.view
        try:
            declared = request.headers.get("content-length")
            if declared and declared.isdigit() and int(declared) > view.settings.max_request_bytes:
                raise HTTPException(413, "Request body too large")
            data = view._parse_json_request(await request.body())
            if data.query is not None and len(data.query) > view.settings.max_document_bytes:
                raise HTTPException(413, "GraphQL document too large")
            sub_response = Response()
            context = await view.get_context(request, sub_response)
            result = (
                await view.prepared.execute(
                    data.query, data.variables, data.operation_name, data.extensions, context
                )
                if data.query
                else None
            )
            try:
                result = result or await view.schema.execute(
                    data.query,
                    variable_values=data.variables,
                    context_value=context,
                    operation_name=data.operation_name,
                    allowed_operation_types=POST_OPERATIONS,
                    operation_extensions=data.extensions,
                )
            except CannotGetOperationTypeError as exc:
                raise HTTPException(400, exc.as_http_error_reason()) from None
            except InvalidOperationTypeError as exc:
                raise HTTPException(400, exc.as_http_error_reason("POST")) from None
            except MissingQueryError:
                raise HTTPException(400, "No GraphQL query found in the request") from None
            payload = await view.process_result(request, result)
        except HTTPException as exc:
            return PlainTextResponse(exc.reason, status_code=exc.status_code)
        return Response(
            json.dumps(payload, separators=(",", ":")).encode(),
            media_type="application/json",
            headers={"x-request-id": context.request_id},
        )


class IvenApp(Starlette):
    """Starlette, with the common GraphQL request (FastJSONPost.takes_directly) handed over
    before the middleware stack and the router: about a tenth of a small query's CPU."""

    fast: FastJSONPost | None = None
    sockets: IvenGraphQL | None = None
    upload_limit: int = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        fast = self.fast
        if fast is not None and fast.takes_directly(scope):
            scope["app"] = self
            await fast.direct(scope, receive, send)
            return
        if scope["type"] == "websocket" and scope["path"] == "/graphql" and self.sockets:
            # Straight to the GraphQL view (no middleware applies to WebSockets): a shorter
            # coroutine chain per open socket, which is most of an idle socket's memory.
            scope["app"] = self
            await self.sockets(scope, receive, send)
            return
        if scope["type"] == "http" and scope["path"] == "/graphql" and files.is_multipart(scope):
            await files.guarded_upload(super().__call__, self.upload_limit, scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def tune_gc() -> None:
    """Full collections over the start-up heap (schema, modules) caused 50-120 ms stalls under
    load (bench/): freeze what exists after start-up and collect less often. Higher older-
    generation thresholds shortened the tail further but let garbage pile up (+46 MB in 10 s
    with (10000, 1000, 1000)); (10000, 50, 50) keeps memory flat within a few MB."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 50, 50)


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or Settings()
    resources = Resources(settings)
    graphql = IvenGraphQL(resources)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            await resources.open()
            app.state.deps = resources.deps
            tune_gc()
            yield
        finally:
            await resources.close()

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        deps = resources.deps
        checks: dict[str, dict[str, Any]] = {}
        if deps is None:
            return JSONResponse({"status": "starting"}, status_code=503)

        async def check(name: str, coro: Any) -> None:
            try:
                await asyncio.wait_for(coro, 2.0)
                checks[name] = {"status": "ok", "backend": resources.backends.get(name, "")}
            except Exception as exc:  # noqa: BLE001 - reported, not raised
                checks[name] = {"status": "down", "error": type(exc).__name__}

        await asyncio.gather(
            check("sql", deps.db.ping()),
            check("documents", deps.documents.ping()),
            check("redis", deps.redis.ping()),
        )
        ok = all(c["status"] == "ok" for c in checks.values())
        return JSONResponse(
            {"status": "ok" if ok else "degraded", "checks": checks},
            status_code=200 if ok else 503,
        )

    fast = FastJSONPost(graphql)
    routes = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/graphql", fast, methods=["GET", "POST"]),
        WebSocketRoute("/graphql", graphql),
        Route("/media/{media_id}/{variant}", files.media_file, methods=["GET", "HEAD"]),
        Route("/avatars/{user_id}/{size}", files.avatar_file, methods=["GET", "HEAD"]),
    ]
    if settings.graphiql and (STATIC_DIR / "graphiql").is_dir():
        routes.append(Mount(ASSETS_PATH, StaticFiles(directory=STATIC_DIR / "graphiql")))
    middleware = []
    if settings.cors_origins:
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=settings.cors_origins,
                allow_methods=["GET", "POST"],
                allow_headers=[
                    "authorization",
                    "content-type",
                    "x-iven-csrf",
                    "apollo-require-preflight",
                ],
                expose_headers=["x-request-id"],
                max_age=600,
            )
        )
    app = IvenApp(routes=routes, lifespan=lifespan, middleware=middleware)
    app.fast = fast
    app.sockets = graphql
    app.upload_limit = settings.media_max_request_bytes
    app.state.resources = resources
    return app
