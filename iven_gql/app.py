"""create_app: the Starlette application — routes, the lifespan around `Resources`, health and
readiness, GC tuning — with the GraphQL request paths (iven_gql/view.py, iven_gql/fast_path.py)
mounted in front."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import gc
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send

from iven_gql import files, transport
from iven_gql.config import Settings
from iven_gql.fast_path import FastJSONPost
from iven_gql.origins import OriginMiddleware, OriginPolicy, origin_and_host
from iven_gql.resources import Resources
from iven_gql.view import ASSETS_PATH, IvenGraphQL

M_MMAP_THRESHOLD = -3  # glibc's malloc.h
STATIC_DIR = Path(__file__).with_name("static")
log = logging.getLogger("iven.app")


class IvenApp(Starlette):
    """Starlette, with the common GraphQL request (FastJSONPost.takes_directly) handed over
    before the middleware stack and the router: about a tenth of a small query's CPU."""

    fast: FastJSONPost | None = None
    view: IvenGraphQL | None = None
    origins: OriginPolicy | None = None
    upload_limit: int = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        fast = self.fast
        if fast is not None and fast.takes_directly(scope):
            scope["app"] = self
            await fast.direct(scope, receive, send)
            return
        if scope["type"] == "websocket" and scope["path"] == "/graphql" and self.view:
            # Straight to the GraphQL view (no middleware applies to WebSockets): a shorter
            # coroutine chain per open socket, which is most of an idle socket's memory.
            if self.origins is not None and not self.origins.allows_scope(scope):
                await refuse_handshake(scope, send)
                return
            scope["app"] = self
            await self.view(scope, receive, send)
            return
        if (
            scope["type"] == "http"
            and scope["path"] == "/graphql"
            and transport.is_multipart(scope)
        ):
            await files.guarded_upload(super().__call__, self.upload_limit, scope, receive, send)
            return
        await super().__call__(scope, receive, send)


async def refuse_handshake(scope: Scope, send: Send) -> None:
    """A close before the handshake is accepted: the server answers HTTP 403 (browsers apply no
    CORS to WebSockets, so this is where a page of another origin is stopped)."""
    origin, host = origin_and_host(scope)
    log.warning("websocket origin refused", extra={"origin": origin, "host": host})
    await send({"type": "websocket.close", "code": 1008, "reason": ""})


def tune_gc() -> None:
    """Full collections over the start-up heap (schema, modules) caused 50-120 ms stalls under
    load (bench/): freeze what exists after start-up and collect less often. Higher older-
    generation thresholds shortened the tail further but let garbage pile up (+46 MB in 10 s
    with (10000, 1000, 1000)); (10000, 50, 50) keeps memory flat within a few MB."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 50, 50)


# a collection of the young generations at least this often, and a full one every so many
GC_PERIOD_S = 60.0
GC_FULL_EVERY = 10


async def collect_periodically(
    period_s: float = GC_PERIOD_S, full_every: int = GC_FULL_EVERY
) -> None:
    """tune_gc's thresholds count allocations: at a modest load (5 requests/s) the middle
    generation was collected every ~12 minutes and the oldest every ~10 hours, so cyclic
    garbage of requests in flight at a young collection (loaders, futures, rows) piled up,
    ~1.5 MB a minute (bench/bench_soak.py). A clock bounds that wait; under load the
    thresholds collect far more often than this does."""
    rounds = 0
    while True:
        await asyncio.sleep(period_s)
        rounds += 1
        gc.collect(2 if rounds % full_every == 0 else 1)


# glibc's M_MMAP_THRESHOLD: allocations from this size on are mapped and unmapped on free
MMAP_THRESHOLD_BYTES = 1 << 20


def tune_malloc() -> bool:
    """glibc raises its mmap threshold to the largest block freed so far (up to 32 MiB), so each
    argon2 check (a 19 MiB buffer, on a worker thread) left its buffer free but resident in that
    thread's arena: RSS rose by ~20 MB per worker thread that ever checked a password, never
    released (bench/bench_soak.py). A fixed threshold maps such buffers and gives them back on
    free. False where the C library is not glibc (nothing changed)."""
    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES))


def readiness(resources: Resources) -> Callable[[Request], Awaitable[Response]]:
    """/readyz: every store answers a ping within 2 s (503 and which one is down otherwise).
    Anonymous, so it says only each store's status: where a store is (URL, host, port — the
    embedded briskdb listener has no authentication) and why it failed go to the log."""

    async def readyz(request: Request) -> Response:
        deps = resources.deps
        if deps is None:
            return JSONResponse({"status": "starting"}, status_code=503)
        checks: dict[str, dict[str, Any]] = {}

        async def check(name: str, coro: Any) -> None:
            try:
                await asyncio.wait_for(coro, 2.0)
                checks[name] = {"status": "ok"}
            except Exception as exc:  # noqa: BLE001 - reported, not raised
                checks[name] = {"status": "down"}
                log.warning(
                    "readiness check failed",
                    extra={
                        "store": name,
                        "backend": resources.backends.get(name, ""),
                        "error": f"{type(exc).__name__}: {exc}",
                    },
                )

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

    return readyz


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def internal_error(request: Request, exc: Exception) -> Response:
    """An unexpected exception past the view (the middleware, the router): the GraphQL error
    shape too, logged by Starlette's ServerErrorMiddleware, with no details to the client."""
    internal = transport.RefusalCode.INTERNAL_SERVER_ERROR
    return transport.error_response(
        transport.TransportError(500, "Internal server error.", internal)
    )


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or Settings()
    resources = Resources(settings)
    origins = OriginPolicy(settings.cors_origins, settings.public_url)
    # Strawberry's own handshake check, given the same origins (IvenApp checks first)
    graphql = IvenGraphQL(resources, allowed_origins=sorted(origins.allowed))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        collector: asyncio.Task[None] | None = None
        try:
            if resources.deps is None:  # `iven-gql serve` opens them before it listens
                await resources.open()
            app.state.deps = resources.deps
            tune_gc()
            tune_malloc()
            collector = asyncio.create_task(collect_periodically(), name="iven-gc")
            yield
        finally:
            if collector is not None:
                collector.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await collector
            await resources.close()

    fast = FastJSONPost(graphql)
    routes = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readiness(resources), methods=["GET"]),
        # every method reaches the view, which refuses all but GET and POST with a JSON 405
        Route("/graphql", fast),
        WebSocketRoute("/graphql", graphql),
        Route("/media/{media_id}/{variant}", files.media_file, methods=["GET", "HEAD"]),
        Route("/avatars/{key}/{size}", files.avatar_file, methods=["GET", "HEAD"]),
    ]
    if settings.graphiql and (STATIC_DIR / "graphiql").is_dir():
        routes.append(Mount(ASSETS_PATH, StaticFiles(directory=STATIC_DIR / "graphiql")))
    app = IvenApp(
        routes=routes,
        lifespan=lifespan,
        middleware=[Middleware(OriginMiddleware, policy=origins)],
        exception_handlers={Exception: internal_error},
    )
    app.fast = fast
    app.view = graphql
    app.origins = origins
    app.upload_limit = settings.media_max_request_bytes
    app.state.resources = resources
    return app
