"""Start-up faults (issue 16): servers started at the same moment on a fresh document store all
come up. Everything here is private to the test: its own briskdb listener, SQLite file and
in-process Redis per server, never the machine's shared stores. Runs on both backend sets."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from tests.faults.harness import PrivateBriskDB, Processes, ServerProcess, run_cli

pytestmark = pytest.mark.faults

SERVERS = 3  # each holds 2 of the listener's 8 connections (pool of 1, plus its monitor)


async def test_servers_started_together_on_a_fresh_document_store_all_come_up(tmp_path: Path):
    """Each server creates the store's indexes at start: on a fresh store they race, and a
    write conflict (112) used to make one of them exit."""
    processes = Processes()
    try:
        listener = PrivateBriskDB(processes, tmp_path / "briskdb")
        await listener.start()
        common = {
            "IVEN_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'iven.db'}",
            "IVEN_MONGODB_URL": listener.url(pool=1),
            "IVEN_MONGODB_DATABASE": "iven_startup",
            "IVEN_REDIS_URL": "",
            "IVEN_JWT_SECRET": "startup-test-secret-0123456789abcdef",
            "IVEN_RUN_MIGRATIONS_ON_START": "false",
            "IVEN_DISPATCHER": "false",
            "IVEN_LOG_LEVEL": "WARNING",
        }
        await run_cli(
            ["migrate"],
            {**common, "IVEN_VAR_DIR": str(tmp_path / "var")},
            tmp_path / "m.log",
            tmp_path,
        )
        servers = [
            ServerProcess(processes, str(n), tmp_path / f"server{n}", common)
            for n in range(SERVERS)
        ]
        # all at once, before any has created an index
        await asyncio.gather(*(s.start() for s in servers))
        async with httpx.AsyncClient() as http:
            for server in servers:
                answer = await http.post(f"{server.url}/graphql", json={"query": "{ __typename }"})
                assert answer.json()["data"] == {"__typename": "Query"}
    finally:
        await processes.close()
