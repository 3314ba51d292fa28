"""The GraphQL client (HTTP and graphql-transport-ws) and assertions on its answers."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import websockets
from websockets.typing import Subprotocol

# how long a test waits for a frame it expects: generous, a loaded machine can be 5x slower (a
# passing test never waits that long; waits for silence use their own short windows)
RECEIVE_TIMEOUT_S = 20.0


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


def answer_without_cost(result: dict[str, Any]) -> dict[str, Any]:
    """The answer without its `extensions.cost`, checked here once for every test: an operation
    that ran reports its cost (issue 15), `{"requested": n, "limit": m}` with n <= m."""
    extensions = result.pop("extensions", None)
    if result.get("data") is not None:
        assert extensions is not None, f"an answered operation without extensions.cost: {result}"
    if extensions is not None:
        cost = extensions.pop("cost", None)
        assert not extensions, f"unexpected extensions: {extensions}"
        assert isinstance(cost, dict) and set(cost) == {"requested", "limit"}, cost
        assert 0 < cost["requested"] and isinstance(cost["limit"], int), cost
    return result


class GraphQLClient:
    """A client of one server; `server` is the in-process server behind it, when there is one
    (tests look at its state to wait for conditions instead of for time)."""

    def __init__(self, http: httpx.AsyncClient, ws_url: str, server: Any = None) -> None:
        self.http = http
        self.ws_url = ws_url
        self.server = server

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
        return answer_without_cost(response.json())

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
        async with websockets.connect(
            self.ws_url, subprotocols=[Subprotocol("graphql-transport-ws")]
        ) as conn:
            session = WsSession(conn)
            await session.send({"type": "connection_init", "payload": payload or {}})
            yield session


class WsSession:
    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self._next_id = 0

    async def send(self, message: dict[str, Any]) -> None:
        await self.conn.send(json.dumps(message))

    async def receive(self, timeout: float = RECEIVE_TIMEOUT_S) -> dict[str, Any]:
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

    async def closed_with(self, timeout: float = RECEIVE_TIMEOUT_S) -> int | None:
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
