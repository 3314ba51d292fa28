"""WebSocket (graphql-transport-ws): auth at connection_init, closing on revocation."""

from __future__ import annotations

import asyncio
import json
import os
import time

import httpx
import pytest
import websockets
from websockets.typing import Subprotocol

from tests.conftest import start_server, stop_server
from tests.support import GraphQLClient, assert_error

STATUS = "subscription { sessionStatus(intervalSeconds: 1) }"


async def test_subscription_needs_a_valid_init(api, accounts):
    async with api.ws({}) as ws:
        assert (await ws.receive())["type"] == "connection_ack"
        op = await ws.subscribe(STATUS)
        message = await ws.receive()
        assert message["id"] == op and message["type"] == "next", message
        assert message["payload"]["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        assert (await ws.receive())["type"] == "complete"

    async with api.ws({"authorization": "Bearer not-a-token"}) as ws:
        assert await ws.closed_with() == 4401


async def test_subscribe_before_init_is_refused(api):

    async with websockets.connect(
        api.ws_url, subprotocols=[Subprotocol("graphql-transport-ws")]
    ) as conn:
        await conn.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": STATUS}}))
        with pytest.raises(websockets.ConnectionClosed) as info:
            await asyncio.wait_for(conn.recv(), 5)
        assert info.value.rcvd is not None and info.value.rcvd.code == 4401


async def test_revoked_session_closes_the_socket_within_a_second(api, accounts):
    user = await accounts.user()
    async with api.ws({"authorization": f"Bearer {user['token']}"}) as ws:
        ack = await ws.receive()
        assert ack["type"] == "connection_ack"
        op = await ws.subscribe(STATUS)
        first = await ws.receive(timeout=3)
        assert first["type"] == "next" and first["id"] == op
        assert 800 < first["payload"]["data"]["sessionStatus"] <= 900

        other = await accounts.login(user["email"], user["password"])
        sessions = (await api.execute("{ mySessions { id current } }", token=other["accessToken"]))[
            "data"
        ]["mySessions"]
        target = next(s["id"] for s in sessions if not s["current"])
        started = time.monotonic()
        await api.execute(
            """mutation($id: ID!) { revokeSession(input: {sessionId: $id}) {
            errors { code } } }""",
            {"id": target},
            token=other["accessToken"],
        )
        assert await ws.closed_with(timeout=3) == 4401
        assert time.monotonic() - started < 1.0


@pytest.mark.skipif(
    os.environ.get("IVEN_TEST_BACKEND", "embedded") != "services",
    reason="needs a Redis shared between two server processes",
)
async def test_revocation_reaches_another_server_process(api, accounts, settings, server):
    """Two servers share MySQL and Redis: revoking on one closes the stream on the other and
    its cached session is evicted at once."""

    user = await accounts.user()
    second, uv, task = await start_server(settings)
    try:
        async with httpx.AsyncClient(base_url=second.url, timeout=20) as http:
            other_api = GraphQLClient(http, second.ws_url)
            me = await other_api.execute("{ me { id } }", token=user["token"])
            assert me["data"]["me"]["id"] == user["id"]  # now cached on the second server
            async with other_api.ws({"authorization": f"Bearer {user['token']}"}) as ws:
                assert (await ws.receive())["type"] == "connection_ack"
                await ws.subscribe(STATUS)
                assert (await ws.receive(timeout=3))["type"] == "next"
                await api.execute("mutation { logout { ok } }", token=user["token"])
                assert await ws.closed_with(timeout=2) == 4401
            assert_error(
                await other_api.execute("{ me { id } }", token=user["token"]), "UNAUTHENTICATED"
            )
    finally:
        await stop_server(uv, task)
        await server.deps.documents.bind()  # Beanie's binding is process-wide
