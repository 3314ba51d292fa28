"""Private stores and servers for the fault tests (issue 16): each test starts its own
`redis-server`, `mariadbd` (a datadir of its own, made by `mariadb-install-db`), briskdb listener
and `iven-gql serve` processes, never the machine's shared ones, and may kill -9 and restart any of
them on the same port and data.

Every wait is for a condition (a ping, a log line, /readyz) with a generous deadline: a loaded
two-core machine can be 5x slower than usual. Every process is ended at the end, even on failure
(`Processes.close`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import redis.asyncio as aioredis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

# generous: a loaded two-core machine can be 5x slower than usual
DEADLINE_S = 180.0
POLL_S = 0.05
MARIADBD = shutil.which("mariadbd") or "/usr/sbin/mariadbd"
INSTALL_DB = shutil.which("mariadb-install-db") or "/usr/bin/mariadb-install-db"
REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def clean_env(extra: dict[str, str]) -> dict[str, str]:
    """The environment of a child process: this one's without any IVEN_ setting (a developer's or
    CI's would leak into the private servers), plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("IVEN_")}
    env.update(extra)
    return env


def tail(path: Path, chars: int = 3000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except FileNotFoundError:
        return f"({path} does not exist)"


class Process:
    """One child process with its log (appended across restarts), started again with the same
    command line by `start()` after `kill9()`."""

    def __init__(
        self, name: str, argv: list[str], log: Path, env: dict[str, str], cwd: Path
    ) -> None:
        self.name = name
        self.argv = argv
        self.log = log
        self.env = env
        self.cwd = cwd
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_offset = 0  # where the log of the current run starts

    def start(self) -> None:
        assert not self.alive, f"{self.name} is already running"
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self.log_offset = self.log.stat().st_size if self.log.exists() else 0
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                self.argv,
                env=self.env,
                cwd=self.cwd,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def current_log(self) -> str:
        with self.log.open("rb") as f:
            f.seek(self.log_offset)
            return f.read().decode(errors="replace")

    def check_running(self) -> None:
        assert self.alive, f"{self.name} exited:\n{tail(self.log)}"

    async def kill9(self) -> None:
        """SIGKILL, then waits for the process to be gone (reaped)."""
        assert self.proc is not None
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(signal.SIGKILL)
        await asyncio.to_thread(self.proc.wait, DEADLINE_S)

    async def stop(self, grace_s: float = 15.0) -> None:
        """SIGTERM, then SIGKILL after `grace_s`."""
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            self.proc.terminate()
        try:
            await asyncio.to_thread(self.proc.wait, grace_s)
        except subprocess.TimeoutExpired:
            await self.kill9()


async def until(condition: Any, what: str, timeout: float = DEADLINE_S) -> float:
    """Waits for `await condition()` to be true; returns the seconds it took."""
    start = time.monotonic()
    while not await condition():
        assert time.monotonic() - start < timeout, f"{what}: not within {timeout:.0f} s"
        await asyncio.sleep(POLL_S)
    return time.monotonic() - start


async def _port_open(port: int) -> bool:
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 2)
    except (OSError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


class Processes:
    """All the child processes of a test (or module): `close()` ends every one still running."""

    def __init__(self) -> None:
        self.items: list[Process] = []

    def add(self, process: Process) -> Process:
        self.items.append(process)
        return process

    async def close(self) -> None:
        for process in reversed(self.items):
            with contextlib.suppress(Exception):
                await process.stop()


# --- MariaDB ----------------------------------------------------------------------------------


class PrivateMariaDB:
    """A `mariadbd` of its own: a datadir made by `mariadb-install-db` (root with an empty password,
    over TCP on 127.0.0.1 only), its own port, socket and pid file."""

    def __init__(self, processes: Processes) -> None:
        # short: a unix socket path is limited to 107 bytes
        self.root = Path(tempfile.mkdtemp(prefix="iven-mdb-"))
        self.datadir = self.root / "data"
        self.port = free_port()
        self.socket = self.root / "mysqld.sock"
        argv = [
            MARIADBD,
            "--no-defaults",
            f"--datadir={self.datadir}",
            f"--socket={self.socket}",
            f"--port={self.port}",
            "--bind-address=127.0.0.1",
            f"--pid-file={self.root / 'mysqld.pid'}",
            f"--log-error={self.root / 'error.log'}",
            "--skip-name-resolve",
            "--innodb-buffer-pool-size=64M",
            "--max-connections=200",
        ]
        if os.geteuid() == 0:
            argv.append("--user=root")
        self.process = processes.add(
            Process("mariadbd", argv, self.root / "mariadbd.log", clean_env({}), self.root)
        )
        self.processes = processes

    @property
    def base_url(self) -> str:
        return f"mysql+aiomysql://root@127.0.0.1:{self.port}"

    def url(self, database: str) -> str:
        return f"{self.base_url}/{database}"

    async def install(self) -> None:
        log = self.root / "install.log"
        argv = [
            INSTALL_DB,
            "--no-defaults",
            f"--datadir={self.datadir}",
            "--auth-root-authentication-method=normal",
            "--skip-test-db",
        ]
        if os.geteuid() == 0:
            argv.append("--user=root")
        with log.open("wb") as out:
            done = await asyncio.to_thread(
                subprocess.run,
                argv,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=clean_env({}),
                cwd=self.root,
                timeout=DEADLINE_S,
                check=False,
            )
        assert done.returncode == 0, f"mariadb-install-db failed:\n{tail(log)}"

    async def ping(self) -> bool:
        engine = create_async_engine(
            self.base_url, poolclass=NullPool, connect_args={"connect_timeout": 2}
        )
        try:
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            return True
        except Exception:  # noqa: BLE001 - not up yet: any failure is "not ready"
            return False
        finally:
            await engine.dispose()

    async def start(self) -> float:
        """Starts it (again, on the same datadir and port); returns the seconds until it
        answered."""
        self.process.start()

        async def ready() -> bool:
            self.process.check_running()
            return await self.ping()

        return await until(ready, "the private MariaDB did not answer")

    async def kill9(self) -> None:
        await self.process.kill9()

    def engine(self, database: str) -> AsyncEngine:
        return create_async_engine(self.url(database), poolclass=NullPool)

    async def fresh_database(self) -> str:
        name = f"iven_faults_{uuid.uuid4().hex[:10]}"
        engine = create_async_engine(self.base_url, poolclass=NullPool)
        try:
            async with engine.begin() as conn:
                await conn.execute(text(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4"))
        finally:
            await engine.dispose()
        return name

    async def close(self) -> None:
        await self.process.stop(30)
        shutil.rmtree(self.root, ignore_errors=True)


# --- Redis ------------------------------------------------------------------------------------


class PrivateRedis:
    """A `redis-server` of its own, without persistence (a restart starts empty, as a lost Redis
    does)."""

    def __init__(self, processes: Processes, root: Path) -> None:
        self.root = root
        self.port = free_port()
        root.mkdir(parents=True, exist_ok=True)
        argv = [
            REDIS_SERVER,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(root),
            "--daemonize",
            "no",
            "--protected-mode",
            "yes",
        ]
        self.process = processes.add(
            Process("redis-server", argv, root / "redis.log", clean_env({}), root)
        )

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def ping(self) -> bool:
        client = aioredis.Redis.from_url(self.url, socket_connect_timeout=2, socket_timeout=2)
        try:
            return bool(await client.ping())
        except Exception:  # noqa: BLE001 - not up yet
            return False
        finally:
            await client.aclose()

    async def start(self) -> float:
        self.process.start()

        async def ready() -> bool:
            self.process.check_running()
            return await self.ping()

        return await until(ready, "the private Redis did not answer")

    async def kill9(self) -> None:
        await self.process.kill9()


# --- briskdb ----------------------------------------------------------------------------------


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "iven_gql.cli", *args]


class PrivateBriskDB:
    """A briskdb MongoDB wire listener of its own (`iven-gql briskdb --port P --data D`)."""

    def __init__(self, processes: Processes, root: Path) -> None:
        self.port = free_port()
        self.data = root / "data"
        root.mkdir(parents=True, exist_ok=True)
        argv = cli("briskdb", "--port", str(self.port), "--data", str(self.data))
        self.process = processes.add(
            Process("briskdb", argv, root / "briskdb.log", clean_env({}), root)
        )

    def url(self, pool: int = 2) -> str:
        return f"mongodb://127.0.0.1:{self.port}/?maxPoolSize={pool}"

    async def start(self) -> float:
        self.process.start()

        async def ready() -> bool:
            self.process.check_running()
            return "listener on" in self.process.current_log() and await _port_open(self.port)

        return await until(ready, "the private briskdb listener did not start")

    async def kill9(self) -> None:
        await self.process.kill9()


# --- iven-gql serve ---------------------------------------------------------------------------


async def run_cli(args: list[str], env: dict[str, str], log: Path, cwd: Path) -> None:
    """Runs an `iven-gql` command to its end; fails with its output if it fails."""
    with log.open("wb") as out:
        done = await asyncio.to_thread(
            subprocess.run,
            cli(*args),
            stdout=out,
            stderr=subprocess.STDOUT,
            env=clean_env(env),
            cwd=cwd,
            timeout=DEADLINE_S,
            check=False,
        )
    assert done.returncode == 0, f"iven-gql {' '.join(args)} failed:\n{tail(log)}"


class ServerProcess:
    """`iven-gql serve` on a port of its own, its dispatcher on, its logs in its own folder."""

    def __init__(self, processes: Processes, name: str, root: Path, env: dict[str, str]) -> None:
        self.name = name
        self.root = root
        self.port = free_port()
        root.mkdir(parents=True, exist_ok=True)
        self.var_dir = root / "var"
        full = {
            **env,
            "IVEN_VAR_DIR": str(self.var_dir),
            "IVEN_UPLOADS_DIR": str(root / "uploads"),
        }
        argv = cli("serve", "--port", str(self.port))
        self.process = processes.add(
            Process(f"server {name}", argv, root / "server.log", clean_env(full), root)
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/graphql"

    async def ready(self) -> bool:
        try:
            async with httpx.AsyncClient() as http:
                return (await http.get(f"{self.url}/readyz", timeout=2)).status_code == 200
        except httpx.HTTPError:
            return False

    async def start(self) -> float:
        self.process.start()

        async def ready() -> bool:
            self.process.check_running()
            return await self.ready()

        return await until(ready, f"server {self.name} did not become ready")

    async def kill9(self) -> None:
        await self.process.kill9()


def server_env(database_url: str, redis_url: str, mongodb_url: str, **more: str) -> dict[str, str]:
    """The settings every private server of one test shares (a namespace and secret of its own)."""
    return {
        "IVEN_DATABASE_URL": database_url,
        "IVEN_REDIS_URL": redis_url,
        "IVEN_REDIS_CHANNEL_NAMESPACE": f"iven-faults-{uuid.uuid4().hex[:8]}",
        "IVEN_MONGODB_URL": mongodb_url,
        "IVEN_MONGODB_DATABASE": "iven_faults",
        "IVEN_JWT_SECRET": "faults-secret-" + uuid.uuid4().hex,
        "IVEN_RUN_MIGRATIONS_ON_START": "false",
        "IVEN_DISPATCHER": "true",
        "IVEN_LOG_LEVEL": "WARNING",
        # the load, not the abuse limits, is under test
        "IVEN_RATE_CHAT_SEND": "100000/10",
        "IVEN_COST_BUDGET_PER_MINUTE": "1000000000",
        "IVEN_NEW_DOCUMENT_BYTES_PER_MINUTE": "1000000000",
        "IVEN_STORE_CONNECT_TIMEOUT_S": "20",
        **more,
    }
