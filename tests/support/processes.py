"""Other server processes on the same stores, and driving the outbox dispatcher by hand."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx

from resolvers.dispatcher import dispatcher
from tests.support.stores import store_writes

# generous: a loaded two-core machine can be 5x slower than usual
START_DEADLINE_S = 120.0


async def drain_outbox(server: Any) -> None:
    """Handles every committed domain event now (projections, notifications)."""
    running = dispatcher(server.deps)
    assert running is not None
    await running.drain()


@contextlib.asynccontextmanager
async def server_process(settings: Any, tmp: Any) -> AsyncIterator[str]:
    """Another real `iven-gql serve` process on the same stores as `settings` (yields its base
    URL); no migrations, no dispatcher of its own."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ)
    env.update(
        {
            "IVEN_DATABASE_URL": settings.database_url,
            "IVEN_REDIS_URL": settings.redis_url or "",
            "IVEN_REDIS_CHANNEL_NAMESPACE": settings.redis_channel_namespace,
            "IVEN_MONGODB_URL": settings.mongodb_url or "",
            "IVEN_MONGODB_DATABASE": settings.mongodb_database,
            "IVEN_JWT_SECRET": settings.jwt_secret.get_secret_value(),
            "IVEN_VAR_DIR": str(tmp / "var"),
            "IVEN_UPLOADS_DIR": str(tmp / "uploads"),
            "IVEN_RUN_MIGRATIONS_ON_START": "false",
            "IVEN_DISPATCHER": "false",
            "IVEN_LOG_LEVEL": "WARNING",
        }
    )
    log = open(tmp / "server.log", "wb")  # noqa: SIM115, ASYNC230 - closed below
    proc = subprocess.Popen(  # noqa: ASYNC220 - started once, not awaited
        [sys.executable, "-m", "iven_gql.cli", "serve", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    store_writes.everything_dirty()  # its writes are not seen from here
    try:
        async with httpx.AsyncClient() as http:
            deadline = time.monotonic() + START_DEADLINE_S
            while time.monotonic() < deadline:
                if proc.poll() is not None:
                    raise RuntimeError((tmp / "server.log").read_text()[-3000:])
                try:
                    if (await http.get(f"{url}/healthz", timeout=1)).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.1)
            else:
                raise RuntimeError(f"the second server did not start in {START_DEADLINE_S:.0f} s")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
