"""Subscriptions over HTTP: GraphQL over Server-Sent Events in graphql-sse's distinct connections
mode (iven_gql/sse.py), through graphql-sse's own client and on the wire; every other HTTP framing
of a subscription gets a JSON refusal."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from strawberry.relay import GlobalID

from tests.factories import crew
from tests.support.chat import send
from tests.support.live import until
from tests.support.node import NodeLines

CHAT = """subscription($id: ID!) { chatEvents(eventId: $id) {
  __typename ... on MessageAdded { message { body author { username } } } } }"""
STATUS = "subscription { sessionStatus(intervalSeconds: 1) }"
SSE = {"accept": "text/event-stream"}


def chat_subscribers(server: Any, event_id: str, user: dict[str, Any]) -> int:
    """The user's live subscribers to the event's chat in the in-process server."""
    feed = server.deps.services.chat_hub.feeds.get(int(GlobalID.from_id(event_id).node_id))
    user_id = int(GlobalID.from_id(user["id"]).node_id)
    return sum(
        1 for s in (feed.subscribers if feed else ()) if s.user_id == user_id and s.buffer is None
    )


def open_streams(server: Any, user: dict[str, Any]) -> int:
    return server.app.view.streams.count(f"user:{int(GlobalID.from_id(user['id']).node_id)}")  # type: ignore[no-any-return]


@asynccontextmanager
async def event_stream(
    http: httpx.AsyncClient, query: str, token: str | None = None, **variables: Any
) -> AsyncIterator[httpx.Response]:
    headers = dict(SSE, **({"authorization": f"Bearer {token}"} if token else {}))
    body = {"query": query, "variables": variables}
    async with http.stream("POST", "/graphql", json=body, headers=headers) as response:
        yield response


async def events_of(response: httpx.Response, count: int) -> list[tuple[str, Any]]:
    """The next `count` SSE events of the stream (comments included, as ("comment", text))."""
    lines = response.extensions.get("iven_lines")
    if lines is None:
        lines = response.extensions["iven_lines"] = response.aiter_lines()
    found: list[tuple[str, Any]] = []
    event: str | None = None
    while len(found) < count:
        line = await anext(lines)
        if line.startswith(":"):
            found.append(("comment", line[1:].strip()))
        elif line.startswith("event:"):
            event = line.split(":", 1)[1].strip()
        elif line.startswith("data:") and event is not None:
            data = line.split(":", 1)[1].strip()
            found.append((event, json.loads(data) if data else None))
            event = None
    return found


def codes(result: dict[str, Any]) -> list[str]:
    return [e["extensions"]["code"] for e in result.get("errors") or ()]


async def test_graphql_sse_client_gets_live_events_and_the_stream_ends_on_logout(
    api, accounts, events, server
):
    c = await crew(accounts, events, 3)
    owner, _, alice = c["people"]
    eid = c["event"]["id"]
    client = await NodeLines.start(
        "sse_subscribe.mjs", f"{server.url}/graphql", owner["token"], CHAT, json.dumps({"id": eid})
    )
    try:

        async def live() -> bool:
            return chat_subscribers(server, eid, owner) == 1

        await until(live, "the SSE subscription live on the server")
        assert open_streams(server, owner) == 1
        await send(api, alice, eid, "over SSE")
        line = await client.line()
        while line["value"]["data"]["chatEvents"]["__typename"] == "PresenceChanged":
            line = await client.line()
        assert line["event"] == "next"
        assert line["value"]["data"] == {
            "chatEvents": {
                "__typename": "MessageAdded",
                "message": {"body": "over SSE", "author": {"username": alice["username"]}},
            }
        }

        await api.execute("mutation { logout { ok } }", token=owner["token"])
        ended = await client.line()
        while ended["event"] == "next" and "errors" not in ended["value"]:
            ended = await client.line()  # a presence change sent before the logout
        assert ended["event"] == "next" and codes(ended["value"]) == ["UNAUTHENTICATED"], ended
        assert await client.line() == {"event": "complete"}
        assert await client.finished() == 0
    finally:
        client.stop()

    async def closed() -> bool:
        return open_streams(server, owner) == 0 and chat_subscribers(server, eid, owner) == 0

    await until(closed, "the stream's slot and subscriber released")


async def test_an_event_stream_on_the_wire(http, accounts, server, monkeypatch):
    """The protocol's framing: `text/event-stream`, `next` events with the ExecutionResult,
    keep-alive comments; a client that leaves ends the stream on the server."""
    user = await accounts.user()
    transport = server.app.view._stream_transport_map["sse"]
    monkeypatch.setattr(transport, "heartbeat_interval", 0.05)
    async with event_stream(http, STATUS, user["token"]) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"] == "no-cache, no-transform"
        assert response.headers["x-request-id"]
        seen = await events_of(response, 1)
        while seen[-1][0] != "next":
            seen += await events_of(response, 1)
        assert 800 < seen[-1][1]["data"]["sessionStatus"] <= 900
        assert seen[-1][1]["extensions"]["cost"]["requested"] > 0
        while "comment" not in {kind for kind, _ in seen}:
            seen += await events_of(response, 1)
        assert ("comment", "ping") in seen
        assert open_streams(server, user) == 1

    async def gone() -> bool:
        return open_streams(server, user) == 0

    await until(gone, "the stream released after the client left")


async def test_errors_come_as_a_next_event_before_complete(http, accounts):
    """A bad token, an unknown field or a document over the cost limits: an error result in a
    `next` event, then `complete` (graphql-sse's client reports it instead of retrying)."""
    user = await accounts.user()
    cases = [
        (STATUS, "not-a-token", "UNAUTHENTICATED"),
        (STATUS, None, "UNAUTHENTICATED"),
        ("subscription { nope }", user["token"], "GRAPHQL_VALIDATION_FAILED"),
        ("subscription { me { " + "id " * 1990 + "} }", user["token"], "QUERY_TOO_COMPLEX"),
    ]
    for query, token, code in cases:
        async with event_stream(http, query, token) as response:
            assert response.status_code == 200
            (kind, result), (last, _) = await events_of(response, 2)
            assert kind == "next" and code in codes(result), (code, result)
            assert "INTERNAL_SERVER_ERROR" not in codes(result)
            assert last == "complete"


async def test_a_query_over_sse_is_one_next_event(http, accounts):
    user = await accounts.user()
    async with event_stream(http, "{ me { id } }", user["token"]) as response:
        (kind, result), (last, _) = await events_of(response, 2)
    assert kind == "next" and result["data"]["me"]["id"] == user["id"]
    assert last == "complete"


async def test_streams_per_viewer_are_capped(http, accounts, server, monkeypatch):
    user = await accounts.user()
    other = await accounts.user()
    monkeypatch.setattr(server.app.view.streams, "limit", 2)
    async with (
        event_stream(http, STATUS, user["token"]) as first,
        event_stream(http, STATUS, user["token"]) as second,
    ):
        assert (await events_of(first, 1))[0][0] == "next"
        assert (await events_of(second, 1))[0][0] == "next"
        async with event_stream(http, STATUS, user["token"]) as third:
            assert third.status_code == 429
            assert third.headers["content-type"] == "application/json"
            body = json.loads(await third.aread())
            assert codes(body) == ["TOO_MANY_STREAMS"]
        async with event_stream(http, STATUS, other["token"]) as theirs:
            assert (await events_of(theirs, 1))[0][0] == "next"  # another viewer's own slots

    async def freed() -> bool:
        return open_streams(server, user) == 0

    await until(freed, "the slots freed")
    async with event_stream(http, STATUS, user["token"]) as again:
        assert (await events_of(again, 1))[0][0] == "next"


async def test_other_http_framings_of_a_subscription_get_a_json_refusal(http, api, accounts):
    user = await accounts.user()
    body = {"query": STATUS}
    auth = {"authorization": f"Bearer {user['token']}"}
    refusals = [
        (await api.post(body, token=user["token"]), 400),
        (await api.post(body, headers={"accept": "application/json"}), 400),
        (await api.post(body, headers={"accept": "multipart/mixed;subscriptionSpec=1.0"}), 406),
        (await api.post(body, headers={"accept": "application/json, multipart/mixed"}), 406),
        (await http.get("/graphql", params=body, headers=auth), 400),
        (await http.get("/graphql", params=body, headers={**SSE, **auth}), 400),
    ]
    for response, status in refusals:
        assert response.status_code == status, response.text
        assert response.headers["content-type"] == "application/json"
        [error] = response.json()["errors"]
        assert error["extensions"] == {"code": "SUBSCRIPTION_TRANSPORT"}, error
        assert "text/event-stream" in error["message"] or "POST" in error["message"]


async def test_the_graphql_sse_client_reports_a_refused_subscription(api, accounts, server):
    """A subscription the server refuses (an unknown event id): an error result the real client
    hands to the app, and the stream completes."""
    user = await accounts.user()
    unknown = str(GlobalID("Event", "999999"))
    client = await NodeLines.start(
        "sse_subscribe.mjs",
        f"{server.url}/graphql",
        user["token"],
        CHAT,
        json.dumps({"id": unknown}),
    )
    try:
        line = await client.line()
        assert line["event"] == "next" and codes(line["value"]) == ["NOT_FOUND"], line
        assert await client.line() == {"event": "complete"}
        assert await client.finished() == 0
    finally:
        client.stop()
