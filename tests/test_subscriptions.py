"""WebSocket (graphql-transport-ws): auth at connection_init, closing on revocation (4401, which
graphql-ws's own client does not retry), an orderly close without error logs."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import os
import time

import httpx
import pytest
import websockets
from strawberry.relay import GlobalID
from websockets.typing import Subprotocol

from resolvers import notifications as notifications_uc
from tests.conftest import start_server, stop_server
from tests.factories import crew
from tests.support import GraphQLClient, assert_error
from tests.support.chat import EVENTS, stream
from tests.support.live import until, until_listening
from tests.support.node import NodeLines, run_node_json

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


def user_pk(user: dict[str, object]) -> int:
    return int(GlobalID.from_id(str(user["id"])).node_id)


async def test_graphql_ws_stops_at_once_after_logout(api, accounts, server):
    """graphql-ws's own client, retries at their defaults: the socket closes with 4401, which it
    treats as fatal, so the app hears of it at once and no reconnect is tried with the dead
    token. connection_ack names the viewer by the User's global id."""
    user = await accounts.user()
    client = await NodeLines.start("ws_session_end.mjs", server.ws_url, user["token"], STATUS)
    try:
        first = await client.line()
        assert first["event"] == "next" and 800 < first["value"]["data"]["sessionStatus"] <= 900
        started = time.monotonic()
        await api.execute("mutation { logout { ok } }", token=user["token"])
        end = await client.line()
        while end["event"] == "next":
            end = await client.line()
        assert time.monotonic() - started < 5.0  # at once, not after five retries (~40 s)
        assert end["how"] == "error" and end["code"] == 4401, end
        assert (end["connecting"], end["opened"], end["connected"]) == (1, 1, 1), end
        assert end["ackPayload"] == {"viewerId": user["id"]}
        assert await client.finished() == 0
    finally:
        client.stop()


async def test_a_token_refused_at_connection_init_closes_with_4401(api, accounts):
    user = await accounts.user()
    await api.execute("mutation { logout { ok } }", token=user["token"])
    for payload in ({"authorization": f"Bearer {user['token']}"}, {"authorization": "Basic x"}):
        async with api.ws(payload) as ws:
            assert await ws.closed_with() == 4401


async def test_connection_ack_names_the_viewer_by_global_id(api, accounts):
    user = await accounts.user()
    me = await api.execute("{ me { id } }", token=user["token"])
    async with api.ws({"authorization": f"Bearer {user['token']}"}) as ws:
        ack = await ws.receive()
    assert ack == {"type": "connection_ack", "payload": {"viewerId": me["data"]["me"]["id"]}}


class _Records(logging.Handler):
    """Every record of every logger while the test runs (the server logs in-process)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


async def test_an_orderly_close_logs_no_error(api, accounts, events, server):
    """Logout with several operations running on the socket (the chat's own path, a resolver
    stream, a Redis-fed stream): the socket closes with 4401 and nothing is logged at ERROR —
    no send after the close, no operation task destroyed while pending."""
    c = await crew(accounts, events, 2)
    owner, eid = c["people"][0], c["event"]["id"]
    records = _Records()
    root = logging.getLogger()
    root.addHandler(records)
    level = root.level
    root.setLevel(logging.DEBUG)
    try:
        cm, ws, _op = await stream(api, owner, eid, query=EVENTS)
        try:
            await ws.subscribe(STATUS)
            await ws.subscribe("subscription { notificationReceived { unreadCount } }")
            await until_listening(server.deps, notifications_uc.channel(user_pk(owner)))
            await api.execute("mutation { logout { ok } }", token=owner["token"])
            assert await ws.closed_with(timeout=5) == 4401
        finally:
            await cm.__aexit__(None, None, None)

        async def let_go() -> bool:
            hub = server.deps.services.chat_hub
            feed = hub.feeds.get(int(GlobalID.from_id(eid).node_id))
            listening = server.deps.broadcast.listeners(notifications_uc.channel(user_pk(owner)))
            return not (feed and feed.subscribers) and not listening

        await until(let_go, "the socket's operations stopped")
        gc.collect()  # a task destroyed while pending is reported when it is collected
        await asyncio.sleep(0)
    finally:
        root.removeHandler(records)
        root.setLevel(level)
    errors = [
        logging.Formatter("%(name)s: %(message)s").format(r)
        for r in records.records
        if r.levelno >= logging.ERROR or "Task was destroyed" in r.getMessage()
    ]
    assert errors == []


def test_graphiql_sends_every_subscription_over_the_websocket(repo_root):
    """GraphiQL's fetcher routes on the parsed document, which it lacks when Run is pressed
    right after typing: it then sent the subscription over HTTP. The page's fetcher (run by
    Node with GraphiQL's own routing test) takes the WebSocket either way, with only the
    Authorization header as connection_init payload."""
    found = run_node_json("graphiql_fetcher.mjs", str(repo_root / "iven_gql" / "graphiql.html"))
    socket = {"ws": True, "headers": {"authorization": "Bearer t"}}
    http = {"ws": False, "headers": {"Authorization": "Bearer t", "X-Other": "1"}}
    assert found == {
        "subscription, parsed": socket,
        "subscription, run before parsing": socket,
        "named subscription among others, run before parsing": socket,
        "named query among others, run before parsing": http,
        "anonymous query, run before parsing": http,
        "mutation with a string, run before parsing": http,
    }
