"""Test helpers: the GraphQL client (HTTP and graphql-transport-ws), captured mail, assertions."""

from __future__ import annotations

import asyncio
import contextlib
import email
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import websockets


def assert_error(result: dict[str, Any], code: str) -> dict[str, Any]:
    """The response has a top-level error with `extensions.code == code`; returns it."""
    errors = result.get("errors") or []
    codes = [e.get("extensions", {}).get("code") for e in errors]
    assert code in codes, f"expected {code}, got {codes}: {result}"
    return errors[codes.index(code)]  # type: ignore[no-any-return]


def assert_payload_error(
    payload: dict[str, Any], code: str, field: list[str] | None = None
) -> dict[str, Any]:
    codes = [e["code"] for e in payload["errors"]]
    assert code in codes, f"expected {code}, got {payload['errors']}"
    error = payload["errors"][codes.index(code)]
    if field is not None:
        assert error["field"] == field, error
    return error  # type: ignore[no-any-return]


class GraphQLClient:
    def __init__(self, http: httpx.AsyncClient, ws_url: str) -> None:
        self.http = http
        self.ws_url = ws_url

    async def execute(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        *,
        token: str | None = None,
        headers: dict[str, str] | None = None,
        operation_name: str | None = None,
    ) -> dict[str, Any]:
        response = await self.post(
            {"query": query, "variables": variables or {}, "operationName": operation_name},
            token=token,
            headers=headers,
        )
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    async def post(
        self, body: Any, *, token: str | None = None, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        all_headers = dict(headers or {})
        if token:
            all_headers["authorization"] = f"Bearer {token}"
        return await self.http.post("/graphql", json=body, headers=all_headers)

    async def upload(
        self,
        query: str,
        variables: dict[str, Any],
        files: dict[str, tuple[str, bytes, str]],
        *,
        token: str | None = None,
        headers: dict[str, str] | None = None,
        csrf: bool = True,
    ) -> httpx.Response:
        """A GraphQL multipart request (the spec apollo-upload-client follows): `files` maps a
        variable path ("variables.input.files.0") to (file name, content, declared type)."""
        all_headers = dict(headers or {})
        if csrf:
            all_headers.setdefault("x-iven-csrf", "1")
        if token:
            all_headers["authorization"] = f"Bearer {token}"
        paths = list(files)
        data = {
            "operations": json.dumps({"query": query, "variables": variables}),
            "map": json.dumps({str(i): [p] for i, p in enumerate(paths)}),
        }
        parts = {str(i): files[p] for i, p in enumerate(paths)}
        return await self.http.post("/graphql", data=data, files=parts, headers=all_headers)

    @asynccontextmanager
    async def ws(self, payload: dict[str, Any] | None = None) -> AsyncIterator[WsSession]:
        async with websockets.connect(self.ws_url, subprotocols=["graphql-transport-ws"]) as conn:
            session = WsSession(conn)
            await session.send({"type": "connection_init", "payload": payload or {}})
            yield session


class WsSession:
    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self._next_id = 0

    async def send(self, message: dict[str, Any]) -> None:
        await self.conn.send(json.dumps(message))

    async def receive(self, timeout: float = 5.0) -> dict[str, Any]:
        raw = await asyncio.wait_for(self.conn.recv(), timeout)
        return json.loads(raw)  # type: ignore[no-any-return]

    async def subscribe(self, query: str, variables: dict[str, Any] | None = None) -> str:
        self._next_id += 1
        op_id = str(self._next_id)
        await self.send(
            {
                "id": op_id,
                "type": "subscribe",
                "payload": {"query": query, "variables": variables or {}},
            }
        )
        return op_id

    async def closed_with(self, timeout: float = 5.0) -> int | None:
        """Waits for the server to close the socket; returns the close code."""
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                await asyncio.wait_for(self.conn.recv(), deadline - time.monotonic())
        except websockets.ConnectionClosed as closed:
            return closed.rcvd.code if closed.rcvd else None
        except TimeoutError:
            return None
        return None


class MailBox:
    """An aiosmtpd handler keeping every message it receives."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.port = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        msg = email.message_from_bytes(envelope.content)
        body = msg.get_payload(decode=True)
        self.messages.append(
            {
                "to": [r.lower() for r in envelope.rcpt_tos],
                "subject": msg["Subject"],
                "body": body.decode() if isinstance(body, bytes) else str(body),
            }
        )
        return "250 Message accepted for delivery"

    def clear(self) -> None:
        self.messages.clear()

    def to(self, address: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if address.lower() in m["to"]]

    async def wait_for(
        self, address: str, subject_part: str, timeout: float = 10.0, count: int = 1
    ) -> dict[str, Any]:
        """Waits for the count-th matching mail and returns the newest."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [m for m in self.to(address) if subject_part.lower() in m["subject"].lower()]
            if len(found) >= count:
                return found[-1]
            await asyncio.sleep(0.02)
        raise AssertionError(f"no mail to {address} about {subject_part!r}: {self.messages}")


async def drain_outbox(server: Any) -> None:
    """Handles every committed domain event now (projections, notifications)."""
    from resolvers.dispatcher import dispatcher

    running = dispatcher(server.deps)
    assert running is not None
    await running.drain()


@contextlib.asynccontextmanager
async def server_process(settings: Any, tmp: Any) -> AsyncIterator[str]:
    """Another real `iven-gql serve` process on the same stores as `settings` (yields its base
    URL); no migrations, no dispatcher of its own."""
    import os
    import socket
    import subprocess
    import sys

    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ)
    env.update(
        {
            "IVEN_DATABASE_URL": settings.database_url,
            "IVEN_REDIS_URL": settings.redis_url or "",
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
    try:
        async with httpx.AsyncClient() as http:
            for _ in range(300):
                if proc.poll() is not None:
                    raise RuntimeError((tmp / "server.log").read_text()[-3000:])
                try:
                    if (await http.get(f"{url}/healthz", timeout=1)).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.1)
            else:
                raise RuntimeError("the second server did not start")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
