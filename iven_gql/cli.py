"""`iven-gql`: serve, migrate, export-schema, create-admin, dispatcher, rebuild-projections,
briskdb."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

import uvicorn

from iven_gql import demo
from iven_gql.app import create_app
from iven_gql.config import Settings, redact_url, serve_url
from iven_gql.logs import configure
from iven_gql.protocol import server_options
from iven_gql.resources import Resources
from resolvers.accounts import create_admin
from resolvers.core.errors import DomainError, DomainErrors
from resolvers.media import sweep_uploads
from resolvers.projections import rebuild_all
from schema import export_sdl
from stores.db import create_engine
from stores.migrations.runner import current_revision, upgrade
from stores.mongo import EmbeddedListener


def _settings() -> Settings:
    try:
        return Settings()
    except Exception as exc:  # noqa: BLE001 - a clear message, not a traceback, for bad configuration
        sys.exit(f"iven-gql: configuration error: {exc}")


def app_factory():  # type: ignore[no-untyped-def]
    """For uvicorn's --factory with several workers: settings come from the environment."""

    settings = Settings()
    configure(settings.log_level)
    return create_app(settings)


async def _migrate(settings: Settings) -> str | None:

    engine = create_engine(settings.database_url, connect_timeout=settings.store_connect_timeout_s)
    try:
        await upgrade(engine)
        return await current_revision(engine)
    finally:
        await engine.dispose()


def cmd_migrate(args: argparse.Namespace) -> int:
    settings = _settings()
    try:
        revision = asyncio.run(_migrate(settings))
    except Exception as exc:  # noqa: BLE001 - reported without a traceback
        print(
            f"iven-gql: migration failed on {redact_url(settings.database_url)}: "
            f"{type(exc).__name__}: {exc}",
            file=sys.stderr,
        )
        return 1
    print(f"database at revision {revision}")
    return 0


def cmd_export_schema(args: argparse.Namespace) -> int:

    sdl = export_sdl()
    if args.output:
        Path(args.output).write_text(sdl, encoding="utf-8")
    else:
        sys.stdout.write(sdl)
    return 0


def cmd_serve(args: argparse.Namespace) -> int:

    settings = _settings()
    configure(settings.log_level)
    if "public_url" not in settings.model_fields_set:
        # file URLs on the address served here (the environment: for the workers' Settings too)
        settings.public_url = os.environ["IVEN_PUBLIC_URL"] = serve_url(args.host, args.port)
    embedded = None
    if args.workers > 1:
        if settings.redis_url is None:
            sys.exit("iven-gql: several workers need a shared Redis: set IVEN_REDIS_URL")
        settings.token_secret()  # a development secret is made once, before the workers read it
        if settings.migrate_on_start:
            asyncio.run(_migrate(settings))
            os.environ["IVEN_RUN_MIGRATIONS_ON_START"] = "false"
        if settings.mongodb_url is None:
            # One listener for all workers, started here; each worker keeps a small pool.

            embedded = EmbeddedListener.start(settings.var_dir / "briskdb", pool_size=2)
            if args.workers > 3:
                sys.exit(
                    "iven-gql: the embedded document store serves at most 3 workers; "
                    "set IVEN_MONGODB_URL"
                )
            os.environ["IVEN_MONGODB_URL"] = embedded.url
    common: dict[str, Any] = {
        "host": args.host,
        "port": args.port,
        "loop": args.loop,
        **server_options(settings),  # httptools, with the request head bounded
        "ws": "websockets-sansio",
        "ws_max_size": 1_048_576,
        "ws_per_message_deflate": settings.ws_compression,
        "proxy_headers": args.proxy_headers,
        "log_config": None,
        "access_log": False,
        "timeout_graceful_shutdown": 10,
    }
    try:
        if args.workers > 1:
            uvicorn.run("iven_gql.cli:app_factory", factory=True, workers=args.workers, **common)
        else:
            uvicorn.run(create_app(settings), **common)
    finally:
        if embedded is not None:
            embedded.close()
    return 0


async def _create_admin(settings: Settings, email: str, username: str, password: str) -> str:

    resources = Resources(settings.model_copy(update={"dispatcher": False}))
    deps = await resources.open()
    try:
        user = await create_admin(deps, email=email, username=username, password=password)
        return f"admin account ready: {user.username} <{user.email}> (id {user.id})"
    finally:
        await resources.close()


def cmd_create_admin(args: argparse.Namespace) -> int:

    settings = _settings()
    password = os.environ.get("IVEN_ADMIN_PASSWORD") or getpass.getpass("Admin password: ")
    try:
        print(asyncio.run(_create_admin(settings, args.email, args.username, password)))
    except (DomainError, DomainErrors) as exc:
        print(f"iven-gql: {exc}", file=sys.stderr)
        return 1
    return 0


async def _run_dispatcher(settings: Settings) -> None:

    resources = Resources(settings.model_copy(update={"dispatcher": True}))
    await resources.open()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print("outbox dispatcher running", file=sys.stderr, flush=True)
    try:
        await stop.wait()
    finally:
        await resources.close()


def cmd_dispatcher(args: argparse.Namespace) -> int:

    settings = _settings()
    configure(settings.log_level)
    asyncio.run(_run_dispatcher(settings))
    return 0


async def _rebuild(settings: Settings) -> str:

    resources = Resources(settings.model_copy(update={"dispatcher": False}))
    deps = await resources.open()
    try:
        users, events = await rebuild_all(deps)
        return f"rebuilt {users} user and {events} event snapshots from MySQL"
    finally:
        await resources.close()


def cmd_rebuild_projections(args: argparse.Namespace) -> int:
    print(asyncio.run(_rebuild(_settings())))
    return 0


async def _sweep(settings: Settings, older_than_s: float) -> str:

    resources = Resources(settings.model_copy(update={"dispatcher": False}))
    deps = await resources.open()
    try:
        removed = await sweep_uploads(deps, older_than_s)
        return (
            f"removed {removed['media']} orphan media, {removed['avatars']} unused "
            f"avatars and {removed['temporary']} abandoned temporary files"
        )
    finally:
        await resources.close()


def cmd_sweep_uploads(args: argparse.Namespace) -> int:
    print(asyncio.run(_sweep(_settings(), args.older_than_minutes * 60)))
    return 0


def cmd_seed_demo(args: argparse.Namespace) -> int:
    settings = _settings()
    try:
        report = asyncio.run(demo.run(settings))
    except (DomainError, DomainErrors) as exc:
        print(f"iven-gql: seed-demo failed: {exc}", file=sys.stderr)
        return 1
    print(demo.describe(report, settings.public_url))
    return 0


def cmd_briskdb(args: argparse.Namespace) -> int:
    """A standalone briskdb MongoDB wire listener, for several processes in development/CI."""

    listener = EmbeddedListener.start(Path(args.data), address=f"{args.host}:{args.port}")
    print(
        f"briskdb MongoDB listener on {listener.url.split('/?')[0]}/ (data in {args.data})",
        flush=True,
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    listener.close()
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="iven-gql", description="IVEN GraphQL server")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the server (uvicorn)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument(
        "--loop",
        choices=["asyncio", "uvloop"],
        default="asyncio",
        help="event loop (asyncio keeps the latency tail shorter; see bench/)",
    )
    serve.add_argument(
        "--proxy-headers",
        action="store_true",
        help="trust X-Forwarded-For/Proto (only behind your own proxy)",
    )
    serve.set_defaults(func=cmd_serve)

    migrate = sub.add_parser("migrate", help="apply pending database migrations")
    migrate.set_defaults(func=cmd_migrate)

    export = sub.add_parser("export-schema", help="print or write the GraphQL SDL")
    export.add_argument("--output", "-o", help="file to write (default: stdout)")
    export.set_defaults(func=cmd_export_schema)

    admin = sub.add_parser(
        "create-admin", help="create an admin (password from IVEN_ADMIN_PASSWORD or prompt)"
    )
    admin.add_argument("--email", required=True)
    admin.add_argument("--username", required=True)
    admin.set_defaults(func=cmd_create_admin)
    dispatcher = sub.add_parser("dispatcher", help="run the outbox dispatcher alone (no HTTP)")
    dispatcher.set_defaults(func=cmd_dispatcher)
    rebuild = sub.add_parser(
        "rebuild-projections", help="recreate the user and event snapshots from MySQL"
    )
    rebuild.set_defaults(func=cmd_rebuild_projections)
    sweep = sub.add_parser(
        "sweep-uploads", help="delete upload files that no document names (e.g. left by a crash)"
    )
    sweep.add_argument("--older-than-minutes", type=float, default=60.0)
    sweep.set_defaults(func=cmd_sweep_uploads)
    seed = sub.add_parser(
        "seed-demo",
        help="fill the configured stores with demo users, events and content (run it again: "
        "nothing is doubled)",
    )
    seed.set_defaults(func=cmd_seed_demo)
    brisk = sub.add_parser(
        "briskdb",
        help="run a standalone briskdb MongoDB listener (development and CI stand-in for MongoDB)",
    )
    brisk.add_argument("--host", default="127.0.0.1")
    brisk.add_argument("--port", type=int, default=27017)
    brisk.add_argument("--data", default="./var/briskdb")
    brisk.set_defaults(func=cmd_briskdb)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
