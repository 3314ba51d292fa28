"""`clientMutationId` on every creating mutation (issue 16): a retry answers the first result,
whatever happened in between — Redis emptied, the first answer lost, two attempts at once — and
the key is recorded with the effect (MySQL in the same transaction; a unique index for
documents), so a request that failed left nothing that blocks its key."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import text

from resolvers.core import idempotency
from tests.factories import crew
from tests.media_samples import jpeg
from tests.support.media import uploaded


@dataclass
class Case:
    """A creating mutation: its name, input type, what it answers, and how to read back the
    number of things it created (through the stores, not the API)."""

    name: str
    input_type: str
    selection: str
    created_id: Callable[[dict[str, Any]], str]
    prepare: Callable[[Any, dict[str, Any]], Awaitable[dict[str, Any]]]  # (ctx, crew) → input
    vary: dict[str, Any]  # the same key with this changed is another request


async def _event_input(ctx: Any, c: dict[str, Any]) -> dict[str, Any]:
    return {
        "title": "Once",
        "startsAt": "2030-06-01T12:00:00+02:00",
        "endsAt": "2030-06-01T18:00:00+02:00",
        "currency": "EUR",
    }


async def _task_input(ctx: Any, c: dict[str, Any]) -> dict[str, Any]:
    return {"eventId": c["event"]["id"], "title": "Buy bread"}


async def _expense_input(ctx: Any, c: dict[str, Any]) -> dict[str, Any]:
    return {
        "eventId": c["event"]["id"],
        "title": "Groceries",
        "amount": "30.00",
        "paidById": c["pids"][0],
        "split": {"mode": "EQUAL"},
    }


async def _settlement_input(ctx: Any, c: dict[str, Any]) -> dict[str, Any]:
    return {
        "eventId": c["event"]["id"],
        "fromId": c["pids"][2],
        "toId": c["pids"][0],
        "amount": "5.00",
    }


async def _invite_input(ctx: Any, c: dict[str, Any]) -> dict[str, Any]:
    return {"eventId": c["event"]["id"], "invitees": [{"email": "friend@example.com"}]}


async def _link_input(ctx: Any, c: dict[str, Any]) -> dict[str, Any]:
    return {"eventId": c["event"]["id"], "maxUses": 3}


async def _album_input(ctx: Any, c: dict[str, Any]) -> dict[str, Any]:
    return {"eventId": c["event"]["id"], "title": "Beach"}


async def _comment_input(ctx: Any, c: dict[str, Any]) -> dict[str, Any]:
    media = await uploaded(ctx, c["people"][0], c["event"]["id"], [("a.jpg", jpeg())])
    return {"mediaId": media[0]["id"], "body": "Nice one"}


CASES = [
    Case(
        "createEvent",
        "CreateEventInput",
        "event { id }",
        lambda p: p["event"]["id"],
        _event_input,
        {"title": "Twice"},
    ),
    Case(
        "createTask",
        "CreateTaskInput",
        "task { id }",
        lambda p: p["task"]["id"],
        _task_input,
        {"title": "Buy milk"},
    ),
    Case(
        "createExpense",
        "CreateExpenseInput",
        "expense { id }",
        lambda p: p["expense"]["id"],
        _expense_input,
        {"amount": "31.00"},
    ),
    Case(
        "recordSettlement",
        "RecordSettlementInput",
        "settlement { id }",
        lambda p: p["settlement"]["id"],
        _settlement_input,
        {"amount": "6.00"},
    ),
    Case(
        "inviteParticipants",
        "InviteParticipantsInput",
        "invitations { id }",
        lambda p: ",".join(i["id"] for i in p["invitations"]),
        _invite_input,
        {"message": "Come!"},
    ),
    Case(
        "createInviteLink",
        "CreateInviteLinkInput",
        "inviteLink { id } token",
        lambda p: f"{p['inviteLink']['id']}/{p['token']}",
        _link_input,
        {"maxUses": 4},
    ),
    Case(
        "createAlbum",
        "CreateAlbumInput",
        "album { id }",
        lambda p: p["album"]["id"],
        _album_input,
        {"title": "Mountains"},
    ),
    Case(
        "commentOnMedia",
        "CommentOnMediaInput",
        "comment { id }",
        lambda p: p["comment"]["id"],
        _comment_input,
        {"body": "Another one"},
    ),
]


async def _send(api: Any, case: Case, user: dict[str, Any], data: dict[str, Any]) -> Any:
    result = await api.execute(
        f"mutation($input: {case.input_type}!) {{ {case.name}(input: $input) {{ "
        f"{case.selection} errors {{ code field message }} }} }}",
        {"input": data},
        token=user["token"],
    )
    assert "errors" not in result, result
    return result["data"][case.name]


async def _ready(api: Any, accounts: Any, events: Any, case: Case) -> tuple[Any, dict[str, Any]]:
    c = await crew(accounts, events, 3)
    return c, await case.prepare(api, c)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
async def test_a_retry_with_the_same_key_answers_the_first_result(api, accounts, events, case):
    c, data = await _ready(api, accounts, events, case)
    owner = c["people"][0]
    keyed = {**data, "clientMutationId": "retry-1"}
    first = await _send(api, case, owner, keyed)
    assert first["errors"] == [], first
    again = await _send(api, case, owner, keyed)
    assert again["errors"] == [], again
    assert case.created_id(again) == case.created_id(first)
    other = await _send(api, case, owner, {**data, "clientMutationId": "retry-2"})
    assert other["errors"] == [], other
    if case.name != "inviteParticipants":  # inviting the same person again is the same invitation
        assert case.created_id(other) != case.created_id(first)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
async def test_attempts_at_once_with_one_key_create_once(api, accounts, events, case):
    c, data = await _ready(api, accounts, events, case)
    keyed = {**data, "clientMutationId": "together"}
    answers = await asyncio.gather(*(_send(api, case, c["people"][0], keyed) for _ in range(3)))
    assert [a["errors"] for a in answers] == [[], [], []], answers
    assert len({case.created_id(a) for a in answers}) == 1


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
async def test_the_same_key_for_another_request_is_refused(api, accounts, events, case):
    c, data = await _ready(api, accounts, events, case)
    owner = c["people"][0]
    first = await _send(api, case, owner, {**data, "clientMutationId": "k"})
    assert first["errors"] == [], first
    other = await _send(api, case, owner, {**data, **case.vary, "clientMutationId": "k"})
    assert [(e["code"], e["field"]) for e in other["errors"]] == [
        ("DUPLICATE_REQUEST", ["input", "clientMutationId"])
    ]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
async def test_keys_belong_to_their_user(api, accounts, events, case):
    c, data = await _ready(api, accounts, events, case)
    keyed = {**data, "clientMutationId": "shared"}
    mine = await _send(api, case, c["people"][0], keyed)
    theirs = await _send(api, case, c["people"][1], keyed)  # the organizer, same key
    assert mine["errors"] == [] and theirs["errors"] == [], (mine, theirs)
    if case.name != "inviteParticipants":
        assert case.created_id(theirs) != case.created_id(mine)


@pytest.mark.parametrize("key", ["", "   ", "x" * 101], ids=["empty", "blank", "too-long"])
async def test_a_malformed_key_is_refused_and_creates_nothing(api, accounts, events, key):
    c, data = await _ready(api, accounts, events, CASES[1])
    refused = await _send(api, CASES[1], c["people"][0], {**data, "clientMutationId": key})
    assert [e["code"] for e in refused["errors"]] == ["INVALID_INPUT"]
    tasks = await api.execute(
        "query($id: ID!) { node(id: $id) { ... on Event { tasks { edges { node { id } } } } } }",
        {"id": c["event"]["id"]},
        token=c["people"][0]["token"],
    )
    assert tasks["data"]["node"]["tasks"]["edges"] == [], tasks


async def test_the_key_outlives_redis(api, accounts, events, server):
    """Redis is a cache at most: emptied between the attempts, the retry still finds the first."""
    c, data = await _ready(api, accounts, events, CASES[0])
    keyed = {**data, "clientMutationId": "no-redis-needed"}
    first = await _send(api, CASES[0], c["people"][0], keyed)
    await server.deps.redis.flushdb()
    again = await _send(api, CASES[0], c["people"][0], keyed)
    assert again["event"]["id"] == first["event"]["id"]


async def test_the_key_is_recorded_with_the_effect_or_not_at_all(api, accounts, events, server):
    """A create that fails (here: the event is cancelled) leaves no key: the same key works
    once the cause is gone."""
    c, data = await _ready(api, accounts, events, CASES[1])
    owner = c["people"][0]
    deps = server.deps
    async with deps.db.unit_of_work() as db:
        await db.exec(text("UPDATE events SET status = 'CANCELLED'"))
    keyed = {**data, "clientMutationId": "after-a-failure"}
    failed = await _send(api, CASES[1], owner, keyed)
    assert [e["code"] for e in failed["errors"]] == ["EVENT_CANCELLED"]
    async with deps.db.reader() as db:
        keys = (await db.exec(text("SELECT COUNT(*) FROM idempotency_keys"))).one()
    assert keys[0] == 0
    async with deps.db.unit_of_work() as db:
        await db.exec(text("UPDATE events SET status = 'ACTIVE'"))
    await events_changed(server)
    done = await _send(api, CASES[1], owner, keyed)
    assert done["errors"] == [], done
    async with deps.db.reader() as db:
        keys = (await db.exec(text("SELECT COUNT(*) FROM idempotency_keys"))).one()
    assert keys[0] == 1


async def events_changed(server: Any) -> None:
    """The read cache forgets the events changed behind its back."""
    await server.deps.redis.flushdb()


async def test_expired_keys_are_forgotten(api, accounts, events, server):
    c, data = await _ready(api, accounts, events, CASES[1])
    await _send(api, CASES[1], c["people"][0], {**data, "clientMutationId": "old"})
    deps = server.deps
    real_clock = deps.clock
    try:
        deps.clock = lambda: real_clock() + timedelta(hours=25)
        assert await idempotency.forget_expired(deps) == 1
    finally:
        deps.clock = real_clock
