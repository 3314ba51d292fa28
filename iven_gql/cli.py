"""`iven-gql`: serve, migrate, export-schema, create-admin, dispatcher, rebuild-projections,
briskdb."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import logging
import os
import signal
import sys
import textwrap
import threading
from collections.abc import Coroutine, Iterable, Iterator
from pathlib import Path
from types import FrameType
from typing import Any, TypeVar

import uvicorn
from pydantic import ValidationError
from pydantic_settings import SettingsError

from iven_gql import demo, startup
from iven_gql.app import create_app
from iven_gql.config import Settings, redact_url, serve_url, settings_reference
from iven_gql.logs import configure
from iven_gql.protocol import server_options
from iven_gql.resources import Resources
from iven_gql.startup import StartupError
from resolvers.accounts import create_admin
from resolvers.core.errors import DomainError, DomainErrors
from resolvers.media import sweep_uploads
from resolvers.projections import rebuild_all
from schema import export_sdl
from stores.db import Database, create_engine
from stores.migrations.runner import current_revision, upgrade
from stores.mongo import EmbeddedListener

log = logging.getLogger("iven.app")
T = TypeVar("T")
CANNOT_START = "iven-gql: cannot start: "


def _settings() -> Settings:
    """The settings, or an exit with one line per bad setting (naming its IVEN_* variable)."""
    try:
        return Settings()
    except (ValidationError, SettingsError) as exc:
        sys.exit("\n".join(CANNOT_START + line for line in startup.settings_problems(exc)))


def _run(coro: Coroutine[Any, Any, T]) -> T:
    """A one-off command's work; a store it cannot use ends it with one line, not a traceback."""
    try:
        return asyncio.run(coro)
    except StartupError as exc:
        sys.exit(f"{CANNOT_START}{exc}")


def app_factory():  # type: ignore[no-untyped-def]
    """For uvicorn's --factory with several workers: settings come from the environment."""

    settings = Settings()
    configure(settings.log_level)
    return create_app(settings)


async def _migrate(settings: Settings) -> str | None:

    url, timeout = settings.database_url, settings.store_connect_timeout_s
    engine = create_engine(url, connect_timeout=timeout)
    try:
        await startup.within(
            timeout + 1, Database(engine).ping(), lambda exc: startup.sql_failure(url, exc)
        )
        await upgrade(engine)
        return await current_revision(engine)
    finally:
        await engine.dispose()


def cmd_migrate(args: argparse.Namespace) -> int:
    settings = _settings()
    try:
        revision = asyncio.run(_migrate(settings))
    except StartupError as exc:
        sys.exit(f"{CANNOT_START}{exc}")
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
            sys.exit(f"{CANNOT_START}several workers need a shared Redis — set IVEN_REDIS_URL")
        settings.token_secret()  # a development secret is made once, before the workers read it
        if settings.migrate_on_start:
            _run(_migrate(settings))
            os.environ["IVEN_RUN_MIGRATIONS_ON_START"] = "false"
        if settings.mongodb_url is None:
            # One listener for all workers, started here; each worker keeps a small pool.
            if args.workers > 3:
                sys.exit(
                    f"{CANNOT_START}the embedded document store serves at most 3 workers — "
                    "set IVEN_MONGODB_URL"
                )
            data = settings.var_dir / "briskdb"
            try:
                embedded = EmbeddedListener.start(data, pool_size=2)
            except Exception as exc:  # noqa: BLE001 - reported as one line
                sys.exit(f"{CANNOT_START}{startup.embedded_mongodb_failure(data, exc)}")
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
            return _serve_one(create_app(settings), common)
    finally:
        if embedded is not None:
            embedded.close()
    return 0


class Server(uvicorn.Server):
    """uvicorn's server with two changes. The stores are opened before it logs or listens, so
    a store that cannot be used is the one line `iven-gql: cannot start: …`. And SIGTERM or
    SIGINT ends in an orderly exit 0: uvicorn raises the signal again once it has stopped, so
    the process died of it (exit 143, and the log lines still batched were lost)."""

    def __init__(self, config: uvicorn.Config, resources: Resources) -> None:
        super().__init__(config)
        self.resources = resources
        self.stop_signal: str | None = None

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield  # signals reach the main thread only
            return
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in STOP_SIGNALS}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self.stop_signal = self.stop_signal or signal.Signals(sig).name
        super().handle_exit(sig, frame)

    async def serve(self, sockets: list[Any] | None = None) -> None:
        with self.capture_signals():
            await self.resources.open()
            if self.should_exit:  # asked to stop while the stores were opening
                await self.resources.close()
                return
            await super().serve(sockets)

    async def shutdown(self, sockets: list[Any] | None = None) -> None:
        log.info("shutting down", extra={"signal": self.stop_signal})
        await super().shutdown(sockets)
        done = getattr(self.lifespan, "shutdown_event", None)
        if self.force_exit and done is not None and not done.is_set():
            # a second SIGINT skips the wait for requests in flight and, in uvicorn, the app's
            # shutdown too: the stores are still closed (and the app's lifespan, cancelled at
            # exit instead, would log a traceback)
            await self.lifespan.shutdown()


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _serve_one(app: Any, options: dict[str, Any]) -> int:
    server = Server(uvicorn.Config(app, **options), app.state.resources)
    try:
        server.run()
    except StartupError as exc:
        print(f"{CANNOT_START}{exc}", file=sys.stderr)
        return 1
    log.info("server stopped", extra={"signal": server.stop_signal})
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
        print(_run(_create_admin(settings, args.email, args.username, password)))
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
    _run(_run_dispatcher(settings))
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
    print(_run(_rebuild(_settings())))
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
    print(_run(_sweep(_settings(), args.older_than_minutes * 60)))
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

    data = Path(args.data) if args.data else _settings().var_dir / "briskdb"
    listener = EmbeddedListener.start(data, address=f"{args.host}:{args.port}")
    print(
        f"briskdb MongoDB listener on {listener.url.split('/?')[0]}/ (data in {data})",
        flush=True,
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    listener.close()
    return 0


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Options with their defaults; the settings listing (the epilog) as written."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        # no "(default: None)" or "(default: False)", nor a second default where help says it
        if action.default in (None, False) or "default" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


def settings_help(names: Iterable[str] | None = None) -> str:
    """The settings a command reads: variable, default and description of each."""
    lines = ["settings (environment variables, or a .env file in the working directory):"]
    for setting in settings_reference(names):
        lines.append(f"  {setting.variable} (default: {setting.default})")
        lines.extend(
            textwrap.wrap(
                setting.description, 88, initial_indent=" " * 6, subsequent_indent=" " * 6
            )
        )
    return "\n".join(lines)


class Parser(argparse.ArgumentParser):
    """Every (sub)command's --help shows its options' defaults and, unless it says otherwise
    (`epilog=`), every setting with its IVEN_* variable and default."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        kwargs.setdefault("epilog", settings_help())
        super().__init__(*args, **kwargs)


# what the commands that only touch the SQL store (or nothing) read
SQL_SETTINGS = ("env", "database_url", "var_dir", "store_connect_timeout_s", "log_level")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="iven-gql", description="IVEN GraphQL server")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the server (uvicorn)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on")
    serve.add_argument("--port", type=int, default=8000, help="port to listen on")
    serve.add_argument(
        "--workers", type=int, default=1, help="server processes (more than 1: IVEN_REDIS_URL)"
    )
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

    migrate = sub.add_parser(
        "migrate", help="apply pending database migrations", epilog=settings_help(SQL_SETTINGS)
    )
    migrate.set_defaults(func=cmd_migrate)

    export = sub.add_parser("export-schema", help="print or write the GraphQL SDL", epilog=None)
    export.add_argument("--output", "-o", help="file to write (default: stdout)")
    export.set_defaults(func=cmd_export_schema)

    admin = sub.add_parser(
        "create-admin", help="create an admin (password from IVEN_ADMIN_PASSWORD or prompt)"
    )
    admin.add_argument("--email", required=True, help="the admin's e-mail address")
    admin.add_argument("--username", required=True, help="the admin's username")
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
    sweep.add_argument(
        "--older-than-minutes",
        type=float,
        default=60.0,
        help="leave files younger than this (an upload may be in flight)",
    )
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
        epilog=settings_help(["var_dir"]),
    )
    brisk.add_argument("--host", default="127.0.0.1", help="address to listen on")
    brisk.add_argument("--port", type=int, default=27017, help="port to listen on")
    brisk.add_argument("--data", help="data folder (default: IVEN_VAR_DIR/briskdb)")
    brisk.set_defaults(func=cmd_briskdb)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
