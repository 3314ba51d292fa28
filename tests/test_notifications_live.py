"""`notificationReceived` as a stream that misses nothing: `after:` replays what was created or
regrouped since a cursor (oldest first, then live, nothing twice), a push Redis lost is caught
up, and a document-store outage ends the stream with a retryable code (issue 16)."""

from __future__ import annotations

import time
from typing import Any

import pytest
from pymongo.errors import AutoReconnect
from strawberry.relay import GlobalID

from resolvers import notifications as uc
from schema.core import encode_cursor
from stores import notifications as store
from tests.support import drain_outbox
from tests.support.graphql import WsSession
from tests.support.live import fail_publishes, until_listening
from tests.support.tasks import CREATE_TASK

RECEIVED = """subscription($after: String) { notificationReceived(after: $after) {
  cursor unreadCount notification { id type title } } }"""
NEWEST = """query { notifications(first: 1) { edges { cursor node { id title } } } }"""


def user_pk(user: dict[str, Any]) -> int:
    return int(GlobalID.from_id(user["id"]).node_id)


async def assign(api, events, server, owner, alice, title: str) -> None:
    """`owner` assigns `alice` a task in a new event of theirs: one TASK_ASSIGNED notification
    for her (a new event each time: notifications of one event would merge)."""
    event = await events.create(owner["token"], title=f"Event {title}")
    pid = await events.add(owner["token"], event["id"], alice)
    created = await api.execute(
        CREATE_TASK,
        {"input": {"eventId": event["id"], "title": title, "assigneeIds": [pid]}},
        token=owner["token"],
    )
    assert created["data"]["createTask"]["errors"] == [], created
    await drain_outbox(server)


async def newest_cursor(api, user) -> str:
    result = await api.execute(NEWEST, token=user["token"])
    cursor: str = result["data"]["notifications"]["edges"][0]["cursor"]
    return cursor


async def received(ws: WsSession, timeout: float | None = None) -> dict[str, Any]:
    message = await ws.receive(**({"timeout": timeout} if timeout is not None else {}))
    assert message["type"] == "next" and "errors" not in message["payload"], message
    payload: dict[str, Any] = message["payload"]["data"]["notificationReceived"]
    return payload


async def nothing_more(ws: WsSession, wait: float) -> None:
    with pytest.raises(TimeoutError):
        message = await ws.receive(timeout=wait)
        raise AssertionError(f"unexpected: {message}")


async def error_of(ws: WsSession) -> dict[str, Any]:
    message = await ws.receive()
    assert message["type"] in ("next", "error"), message
    payload = message["payload"]
    errors = payload if isinstance(payload, list) else payload.get("errors")
    assert errors, message
    error: dict[str, Any] = errors[0]
    return error


async def test_after_replays_what_was_missed_oldest_first_then_goes_live_without_repeats(
    api, accounts, server, events, monkeypatch
):
    monkeypatch.setattr(uc, "CATCH_UP_S", 0.2)  # catch-up reads run often: none repeats
    owner, alice = await accounts.user(), await accounts.user()
    await assign(api, events, server, owner, alice, "seen")
    cursor = await newest_cursor(api, alice)
    for title in ("missed one", "missed two"):  # while her socket is down
        await assign(api, events, server, owner, alice, title)
    async with api.ws({"authorization": f"Bearer {alice['token']}"}) as ws:
        assert (await ws.receive())["type"] == "connection_ack"
        await ws.subscribe(RECEIVED, {"after": cursor})
        replay = [await received(ws) for _ in range(2)]
        assert ["missed one" in r["notification"]["title"] for r in replay] == [True, False]
        assert "missed two" in replay[1]["notification"]["title"]
        assert all(r["unreadCount"] == 3 for r in replay)
        await until_listening(server.deps, uc.channel(user_pk(alice)))
        await assign(api, events, server, owner, alice, "live")
        live = await received(ws)
        assert "live" in live["notification"]["title"] and live["unreadCount"] == 4
        await nothing_more(ws, 1.0)
    # the stream's own cursor resumes after what it sent
    async with api.ws({"authorization": f"Bearer {alice['token']}"}) as ws:
        assert (await ws.receive())["type"] == "connection_ack"
        await ws.subscribe(RECEIVED, {"after": replay[0]["cursor"]})
        titles = [(await received(ws))["notification"]["title"] for _ in range(2)]
        assert ["missed two" in titles[0], "live" in titles[1]] == [True, True]
        await nothing_more(ws, 0.5)


async def test_a_replay_from_the_newest_cursor_sends_nothing(api, accounts, server, events):
    owner, alice = await accounts.user(), await accounts.user()
    await assign(api, events, server, owner, alice, "only")
    async with api.ws({"authorization": f"Bearer {alice['token']}"}) as ws:
        assert (await ws.receive())["type"] == "connection_ack"
        await ws.subscribe(RECEIVED, {"after": await newest_cursor(api, alice)})
        await until_listening(server.deps, uc.channel(user_pk(alice)))
        await nothing_more(ws, 0.5)


async def test_too_much_missed_ends_the_stream_with_cursor_too_old(
    api, accounts, server, events, monkeypatch
):
    monkeypatch.setattr(uc, "REPLAY_LIMIT", 1)
    owner, alice = await accounts.user(), await accounts.user()
    await assign(api, events, server, owner, alice, "seen")
    cursor = await newest_cursor(api, alice)
    for title in ("one", "two"):
        await assign(api, events, server, owner, alice, title)
    async with api.ws({"authorization": f"Bearer {alice['token']}"}) as ws:
        assert (await ws.receive())["type"] == "connection_ack"
        await ws.subscribe(RECEIVED, {"after": cursor})
        assert (await error_of(ws))["extensions"]["code"] == "CURSOR_TOO_OLD"


async def test_a_push_redis_lost_reaches_the_open_stream(
    api, accounts, server, events, monkeypatch
):
    monkeypatch.setattr(uc, "CATCH_UP_S", 0.3)
    owner, alice = await accounts.user(), await accounts.user()
    async with api.ws({"authorization": f"Bearer {alice['token']}"}) as ws:
        assert (await ws.receive())["type"] == "connection_ack"
        await ws.subscribe(RECEIVED)
        await until_listening(server.deps, uc.channel(user_pk(alice)))
        lost = fail_publishes(monkeypatch, server.deps, uc.channel(user_pk(alice)))
        await assign(api, events, server, owner, alice, "pushed into the void")
        assert len(lost) == 1
        got = await received(ws)
        assert "pushed into the void" in got["notification"]["title"]
        await nothing_more(ws, 1.0)


async def test_a_document_store_outage_ends_the_stream_with_a_retryable_code(
    api, accounts, server, monkeypatch
):
    alice = await accounts.user()
    async with api.ws({"authorization": f"Bearer {alice['token']}"}) as ws:
        assert (await ws.receive())["type"] == "connection_ack"
        await ws.subscribe(RECEIVED)
        await until_listening(server.deps, uc.channel(user_pk(alice)))

        async def down(*_: Any, **__: Any) -> Any:
            raise AutoReconnect("injected: the document store is unreachable")

        monkeypatch.setattr(store, "by_ids", down)
        await uc.publish(server.deps, user_pk(alice), "0" * 24)
        error = await error_of(ws)
        assert error["extensions"]["code"] == "SERVICE_UNAVAILABLE", error
        assert error["extensions"]["retryAfterSeconds"] > 0
        assert "AutoReconnect" not in str(error) and "injected" not in str(error)


async def test_a_document_store_outage_at_the_replay_is_retryable(
    api, accounts, server, monkeypatch
):
    alice = await accounts.user()

    async def down(*_: Any, **__: Any) -> Any:
        raise AutoReconnect("injected: the document store is unreachable")

    monkeypatch.setattr(store, "updated_since", down)
    async with api.ws({"authorization": f"Bearer {alice['token']}"}) as ws:
        assert (await ws.receive())["type"] == "connection_ack"
        started = time.monotonic()
        await ws.subscribe(
            RECEIVED, {"after": encode_cursor("2030-01-01T00:00:00+00:00", "0" * 24)}
        )
        assert (await error_of(ws))["extensions"]["code"] == "SERVICE_UNAVAILABLE"
        assert time.monotonic() - started < 10
