"""Start-up faults (issue 16): servers started at the same moment on a fresh document store all
come up. Everything here is private to the test: its own briskdb listener, SQLite file and
in-process Redis per server, never the machine's shared stores."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

# generous: a loaded two-core machine can be 5x slower than usual
DEADLINE_S = 180.0
SERVERS = 3  # each holds 2 of the listener's 8 connections (pool of 1, plus its monitor)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cli(*args: str, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "iven_gql.cli", *args],
        env={**os.environ, **env},
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )


async def _until_listening(proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while "listener on" not in log.read_text(errors="replace"):
        assert proc.poll() is None, log.read_text(errors="replace")[-3000:]
        assert time.monotonic() < deadline, "the briskdb listener did not start"
        await asyncio.sleep(0.05)


async def _until_healthy(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + DEADLINE_S
    async with httpx.AsyncClient() as http:
        while True:
            assert proc.poll() is None, log.read_text(errors="replace")[-3000:]
            assert time.monotonic() < deadline, f"{url} did not come up"
            try:
                if (await http.get(f"{url}/readyz", timeout=2)).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)


async def test_servers_started_together_on_a_fresh_document_store_all_come_up(tmp_path):
    """Each server creates the store's indexes at start: on a fresh store they race, and a
    write conflict (112) used to make one of them exit."""
    port = _free_port()
    listener_log = tmp_path / "briskdb.log"
    listener = _cli(
        "briskdb",
        "--port",
        str(port),
        "--data",
        str(tmp_path / "briskdb"),
        env={},
        log=listener_log,
    )
    servers: list[subprocess.Popen[bytes]] = []
    try:
        await _until_listening(listener, listener_log)
        common = {
            "IVEN_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'iven.db'}",
            "IVEN_MONGODB_URL": f"mongodb://127.0.0.1:{port}/?maxPoolSize=1",
            "IVEN_MONGODB_DATABASE": "iven_startup",
            "IVEN_REDIS_URL": "",
            "IVEN_JWT_SECRET": "startup-test-secret-0123456789abcdef",
            "IVEN_RUN_MIGRATIONS_ON_START": "false",
            "IVEN_DISPATCHER": "false",
            "IVEN_LOG_LEVEL": "WARNING",
        }
        migrate_log = tmp_path / "migrate.log"
        migrate = _cli(
            "migrate", env={**common, "IVEN_VAR_DIR": str(tmp_path / "var")}, log=migrate_log
        )
        assert await asyncio.to_thread(migrate.wait, DEADLINE_S) == 0, migrate_log.read_text()
        urls, logs = [], []
        for n in range(SERVERS):  # all at once, before any has created an index
            server_port = _free_port()
            logs.append(tmp_path / f"server{n}.log")
            env = {
                **common,
                "IVEN_VAR_DIR": str(tmp_path / f"var{n}"),
                "IVEN_UPLOADS_DIR": str(tmp_path / f"uploads{n}"),
            }
            servers.append(_cli("serve", "--port", str(server_port), env=env, log=logs[-1]))
            urls.append(f"http://127.0.0.1:{server_port}")
        await asyncio.gather(
            *(_until_healthy(u, p, log) for u, p, log in zip(urls, servers, logs, strict=True))
        )
        async with httpx.AsyncClient() as http:
            for url in urls:
                answer = await http.post(f"{url}/graphql", json={"query": "{ __typename }"})
                assert answer.json()["data"] == {"__typename": "Query"}
    finally:
        for proc in [*servers, listener]:
            proc.terminate()
        for proc in [*servers, listener]:
            try:
                await asyncio.to_thread(proc.wait, 30)
            except subprocess.TimeoutExpired:
                proc.kill()
