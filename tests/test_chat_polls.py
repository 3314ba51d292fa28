"""Polls in chat (issue 18): sending a poll, voting (change, withdraw, single or multiple
choice), anonymity (counts only, in answers and in the stream), closing by time, by the author
or an organizer, validation, live changes and their replay, concurrent votes, a store fault."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

import pytest
from pymongo.errors import AutoReconnect

from stores import chat as chat_store
from tests.factories import crew
from tests.support import assert_error, assert_payload_error
from tests.support.chat import (
    POLL_FIELDS,
    close_poll,
    delete,
    next_event,
    no_event,
    poll_of,
    send,
    send_poll,
    stream,
    vote,
)

POLL_EVENTS = f"""subscription($id: ID!, $after: String) {{
  chatEvents(eventId: $id, after: $after) {{ __typename
  ... on MessageAdded {{ cursor message {{ id }} }}
  ... on MessagePollChanged {{ cursor voter {{ username }} message {{ id {POLL_FIELDS} }} }}
}} }}"""


def ok(result: dict[str, Any], name: str) -> dict[str, Any]:
    assert "errors" not in result, result
    payload: dict[str, Any] = result["data"][name]
    assert payload["errors"] == [], payload
    return payload


def counts(poll: dict[str, Any]) -> dict[str, int]:
    return {o["id"]: o["voteCount"] for o in poll["options"]}


def voters(poll: dict[str, Any]) -> dict[str, list[str]]:
    return {o["id"]: [v["username"] for v in o["voters"]] for o in poll["options"]}


# sending


async def test_a_poll_is_sent_with_an_empty_body_and_starts_open_without_votes(
    api, accounts, events
):
    c = await crew(accounts, events, 3)
    alice = c["people"][2]
    sent = await send_poll(
        api, alice, c["event"]["id"], question="  Dinner?  ", options=[" Pizza ", "Sushi", "Tacos"]
    )
    assert sent["errors"] == []
    message = sent["message"]
    assert message["body"] == ""
    assert message["poll"] == {
        "question": "Dinner?",
        "multipleChoice": False,
        "anonymous": False,
        "closesAt": None,
        "closed": False,
        "totalVoters": 0,
        "viewerOptionIds": [],
        "options": [
            {"id": f"o{i}", "text": text, "voteCount": 0, "viewerVoted": False, "voters": []}
            for i, text in enumerate(["Pizza", "Sushi", "Tacos"], start=1)
        ],
    }


async def test_a_message_without_a_poll_has_none_and_cannot_be_voted_on(api, accounts, events):
    c = await crew(accounts, events, 3)
    alice = c["people"][2]
    plain = (await send(api, alice, c["event"]["id"], "no poll here"))["message"]
    assert await poll_of(api, alice, plain["id"]) is None
    refused = ok_or_errors(await vote(api, alice, plain["id"], ["o1"]), "votePoll")
    assert_payload_error(refused, "NOT_A_POLL", ["input", "messageId"])
    refused = ok_or_errors(await close_poll(api, alice, plain["id"]), "closePoll")
    assert_payload_error(refused, "NOT_A_POLL", ["input", "messageId"])


def ok_or_errors(result: dict[str, Any], name: str) -> dict[str, Any]:
    """The payload, which has errors (no top-level error)."""
    assert "errors" not in result, result
    payload: dict[str, Any] = result["data"][name]
    assert payload["errors"] and payload["message"] is None, payload
    return payload


ELEVEN = [f"Option {i}" for i in range(11)]
BAD_POLLS = [
    ({"options": ["Only one"]}, "INVALID_INPUT", ["input", "poll", "options"]),
    ({"options": ELEVEN}, "INVALID_INPUT", ["input", "poll", "options"]),
    ({"options": ["Yes", " yes "]}, "INVALID_INPUT", ["input", "poll", "options", "1"]),
    ({"options": ["Yes", "   "]}, "INVALID_INPUT", ["input", "poll", "options", "1"]),
    ({"options": ["Yes", "x" * 101]}, "INVALID_INPUT", ["input", "poll", "options", "1"]),
    ({"options": ["Yes", "No\nway"]}, "INVALID_INPUT", ["input", "poll", "options", "1"]),
    ({"options": ["Yes\u202e", "No"]}, "INVALID_INPUT", ["input", "poll", "options", "0"]),
    ({"question": "   "}, "REQUIRED", ["input", "poll", "question"]),
    ({"question": "q" * 301}, "VALUE_TOO_LONG", ["input", "poll", "question"]),
    ({"question": "Dinner?\u0007"}, "INVALID_INPUT", ["input", "poll", "question"]),
]


@pytest.mark.parametrize(("poll", "code", "field"), BAD_POLLS)
async def test_a_bad_poll_is_refused_with_its_field_and_nothing_is_sent(
    api, accounts, events, poll, code, field
):
    c = await crew(accounts, events, 3)
    alice, eid = c["people"][2], c["event"]["id"]
    refused = await send_poll(api, alice, eid, body="Vote!", **poll)
    assert refused["message"] is None
    assert_payload_error(refused, code, field)
    history = await api.execute(
        "query($id: ID!) { event(id: $id) { messages { edges { node { id } } } } }",
        {"id": eid},
        token=alice["token"],
    )
    assert history["data"]["event"]["messages"]["edges"] == []


async def test_a_closing_time_must_be_ahead_and_within_ninety_days(api, accounts, events, clock):
    c = await crew(accounts, events, 3)
    alice, eid = c["people"][2], c["event"]["id"]
    for at in (clock.now - timedelta(minutes=1), clock.now + timedelta(days=91)):
        refused = await send_poll(api, alice, eid, closesAt=at.isoformat())
        assert_payload_error(refused, "INVALID_INPUT", ["input", "poll", "closesAt"])
    sent = await send_poll(api, alice, eid, closesAt=(clock.now + timedelta(days=90)).isoformat())
    assert sent["errors"] == [] and sent["message"]["poll"]["closed"] is False


# voting


async def test_a_vote_is_counted_changed_and_withdrawn(api, accounts, events):
    c = await crew(accounts, events, 3)
    owner, organizer, alice = c["people"]
    eid = c["event"]["id"]
    poll_id = (await send_poll(api, owner, eid))["message"]["id"]

    voted = ok(await vote(api, alice, poll_id, ["o1"]), "votePoll")["message"]["poll"]
    assert counts(voted) == {"o1": 1, "o2": 0} and voted["viewerOptionIds"] == ["o1"]
    assert voters(voted) == {"o1": [alice["username"]], "o2": []}
    ok(await vote(api, organizer, poll_id, ["o1"]), "votePoll")

    changed = ok(await vote(api, alice, poll_id, ["o2"]), "votePoll")["message"]["poll"]
    assert counts(changed) == {"o1": 1, "o2": 1} and changed["totalVoters"] == 2
    assert [o["viewerVoted"] for o in changed["options"]] == [False, True]

    seen_by_owner = await poll_of(api, owner, poll_id)
    assert seen_by_owner["viewerOptionIds"] == [] and counts(seen_by_owner) == counts(changed)
    assert voters(seen_by_owner) == {"o1": [organizer["username"]], "o2": [alice["username"]]}

    withdrawn = ok(await vote(api, alice, poll_id, []), "votePoll")["message"]["poll"]
    assert counts(withdrawn) == {"o1": 1, "o2": 0} and withdrawn["totalVoters"] == 1
    assert withdrawn["viewerOptionIds"] == []


async def test_a_single_choice_poll_takes_one_option_and_a_multiple_choice_one_several(
    api, accounts, events
):
    c = await crew(accounts, events, 3)
    owner, _, alice = c["people"]
    eid = c["event"]["id"]
    single = (await send_poll(api, owner, eid, options=["A", "B", "C"]))["message"]["id"]
    ok(await vote(api, alice, single, ["o3"]), "votePoll")
    for option_ids, field in (
        (["o1", "o2"], ["input", "optionIds"]),
        (["o4"], ["input", "optionIds", "0"]),
        (["o1", "nope"], ["input", "optionIds", "1"]),
        (["o1", "o1", "o1", "o1"], ["input", "optionIds"]),  # more than the poll has
    ):
        refused = ok_or_errors(await vote(api, alice, single, option_ids), "votePoll")
        assert_payload_error(refused, "INVALID_INPUT", field)
    assert (await poll_of(api, alice, single))["viewerOptionIds"] == ["o3"]  # unchanged

    multiple = (await send_poll(api, owner, eid, options=["A", "B", "C"], multipleChoice=True))[
        "message"
    ]["id"]
    voted = ok(await vote(api, alice, multiple, ["o3", "o1", "o3"]), "votePoll")
    poll = voted["message"]["poll"]
    assert poll["viewerOptionIds"] == ["o1", "o3"] and poll["totalVoters"] == 1
    assert counts(poll) == {"o1": 1, "o2": 0, "o3": 1}


async def test_an_anonymous_poll_shows_counts_and_no_voter_to_anyone(api, accounts, events):
    c = await crew(accounts, events, 3)
    owner, organizer, alice = c["people"]
    eid = c["event"]["id"]
    poll_id = (await send_poll(api, owner, eid, anonymous=True))["message"]["id"]
    cm, ws, op = await stream(api, organizer, eid, query=POLL_EVENTS)
    try:
        voted = ok(await vote(api, alice, poll_id, ["o2"]), "votePoll")["message"]["poll"]
        assert voted["anonymous"] is True and voted["viewerOptionIds"] == ["o2"]
        assert counts(voted) == {"o1": 0, "o2": 1} and voters(voted) == {"o1": [], "o2": []}
        for viewer in (owner, organizer):  # the author neither
            seen = await poll_of(api, viewer, poll_id)
            assert counts(seen) == {"o1": 0, "o2": 1} and voters(seen) == {"o1": [], "o2": []}
        live = await next_event(ws, op, kind="MessagePollChanged")
        assert live["voter"] is None and voters(live["message"]["poll"]) == {"o1": [], "o2": []}
        assert alice["username"] not in json.dumps(live)
        assert counts(live["message"]["poll"]) == {"o1": 0, "o2": 1}
    finally:
        await cm.__aexit__(None, None, None)


# closing


async def test_a_poll_closes_when_its_time_has_passed(api, accounts, events, clock):
    c = await crew(accounts, events, 3)
    owner, organizer, alice = c["people"]
    eid = c["event"]["id"]
    closes_at = clock.now + timedelta(hours=1)
    poll_id = (await send_poll(api, owner, eid, closesAt=closes_at.isoformat()))["message"]["id"]
    ok(await vote(api, alice, poll_id, ["o1"]), "votePoll")
    clock.advance(hours=1)
    closed = await poll_of(api, alice, poll_id)
    assert closed["closed"] is True and counts(closed) == {"o1": 1, "o2": 0}
    for who, choice in ((organizer, ["o2"]), (alice, ["o2"]), (alice, [])):
        refused = ok_or_errors(await vote(api, who, poll_id, choice), "votePoll")
        assert_payload_error(refused, "POLL_CLOSED", ["input", "messageId"])
    assert counts(await poll_of(api, owner, poll_id)) == {"o1": 1, "o2": 0}


async def test_the_author_or_an_organizer_closes_a_poll_and_nobody_else(api, accounts, events):
    c = await crew(accounts, events, 4)
    owner, organizer, alice, bob = c["people"]
    eid = c["event"]["id"]
    by_alice = (await send_poll(api, alice, eid))["message"]["id"]
    by_bob = (await send_poll(api, bob, eid))["message"]["id"]

    assert_error(await close_poll(api, bob, by_alice), "FORBIDDEN")
    assert (await poll_of(api, alice, by_alice))["closed"] is False

    closed = ok(await close_poll(api, alice, by_alice), "closePoll")["message"]["poll"]
    assert closed["closed"] is True
    again = ok(await close_poll(api, alice, by_alice), "closePoll")  # changes nothing
    assert again["message"]["poll"]["closed"] is True
    refused = ok_or_errors(await vote(api, bob, by_alice, ["o1"]), "votePoll")
    assert_payload_error(refused, "POLL_CLOSED", ["input", "messageId"])

    assert ok(await close_poll(api, organizer, by_bob), "closePoll")["message"]["poll"]["closed"]
    assert ok(await close_poll(api, owner, by_bob), "closePoll")["message"]["poll"]["closed"]


async def test_a_deleted_poll_is_gone_and_takes_no_vote(api, accounts, events):
    c = await crew(accounts, events, 3)
    owner, _, alice = c["people"]
    poll_id = (await send_poll(api, alice, c["event"]["id"]))["message"]["id"]
    ok(await vote(api, owner, poll_id, ["o1"]), "votePoll")
    await delete(api, alice, poll_id)
    assert await poll_of(api, owner, poll_id) is None
    refused = ok_or_errors(await vote(api, owner, poll_id, ["o2"]), "votePoll")
    assert_payload_error(refused, "MESSAGE_DELETED", ["input", "messageId"])


async def test_votes_are_rate_limited_like_messages(api, accounts, events, server):
    c = await crew(accounts, events, 3)
    owner, _, alice = c["people"]
    poll_id = (await send_poll(api, owner, c["event"]["id"]))["message"]["id"]
    server.deps.settings.rate_chat_send = "2/60"
    try:
        results = [await vote(api, alice, poll_id, [o]) for o in ("o1", "o2", "o1")]
    finally:
        server.deps.settings.rate_chat_send = "30/10"
    assert [r["data"]["votePoll"]["errors"] for r in results[:2]] == [[], []]
    limited = assert_payload_error(results[2]["data"]["votePoll"], "RATE_LIMITED")
    assert limited["field"] is None
    assert (await poll_of(api, alice, poll_id))["viewerOptionIds"] == ["o2"]


# live


async def test_votes_and_closing_reach_open_streams_and_a_replay_shows_the_poll_now(
    api, accounts, events
):
    c = await crew(accounts, events, 3)
    owner, organizer, alice = c["people"]
    eid = c["event"]["id"]
    cm, ws, op = await stream(api, owner, eid, query=POLL_EVENTS)
    try:
        poll_id = (await send_poll(api, organizer, eid))["message"]["id"]
        added = await next_event(ws, op, kind="MessageAdded")
        assert added["message"]["id"] == poll_id
        ok(await vote(api, alice, poll_id, ["o2"]), "votePoll")
        live = await next_event(ws, op)
        assert live["__typename"] == "MessagePollChanged"
        assert live["voter"] == {"username": alice["username"]}
        assert counts(live["message"]["poll"]) == {"o1": 0, "o2": 1}
        assert live["message"]["poll"]["viewerOptionIds"] == []  # the owner's own view
        ok(await close_poll(api, organizer, poll_id), "closePoll")
        closed = await next_event(ws, op)
        assert closed["__typename"] == "MessagePollChanged" and closed["voter"] is None
        assert closed["message"]["poll"]["closed"] is True
        assert len({added["cursor"], live["cursor"], closed["cursor"]}) == 3
    finally:
        await cm.__aexit__(None, None, None)

    # a new poll: the owner follows its first vote, then is away for two more
    later = (await send_poll(api, organizer, eid))["message"]["id"]
    cm, ws, op = await stream(api, owner, eid, query=POLL_EVENTS)
    try:
        ok(await vote(api, alice, later, ["o1"]), "votePoll")
        cursor = (await next_event(ws, op, kind="MessagePollChanged"))["cursor"]
    finally:
        await cm.__aexit__(None, None, None)
    ok(await vote(api, organizer, later, ["o2"]), "votePoll")
    ok(await vote(api, alice, later, ["o2"]), "votePoll")

    cm, ws, op = await stream(api, owner, eid, after=cursor, query=POLL_EVENTS)
    try:
        replayed = await next_event(ws, op)
        assert replayed["__typename"] == "MessagePollChanged" and replayed["voter"] is None
        assert replayed["message"]["id"] == later
        assert counts(replayed["message"]["poll"]) == {"o1": 0, "o2": 2}
        await no_event(ws)
    finally:
        await cm.__aexit__(None, None, None)


async def test_concurrent_votes_of_many_people_are_all_kept(api, accounts, events):
    c = await crew(accounts, events, 22)
    owner, voters_ = c["people"][0], c["people"][2:]
    poll_id = (await send_poll(api, owner, c["event"]["id"], options=["A", "B", "C"]))["message"][
        "id"
    ]
    choices = [["o1", "o2", "o3"][i % 3] for i in range(len(voters_))]
    results = await asyncio.gather(
        *(vote(api, v, poll_id, [o]) for v, o in zip(voters_, choices, strict=True))
    )
    for result in results:
        ok(result, "votePoll")
    poll = await poll_of(api, owner, poll_id)
    assert poll["totalVoters"] == 20
    assert counts(poll) == {o: choices.count(o) for o in ("o1", "o2", "o3")}


@pytest.mark.parametrize("when", ["before-the-write", "after-the-write"])
async def test_a_store_failure_during_a_vote_leaves_it_whole_and_a_retry_succeeds(
    api, accounts, events, monkeypatch, when
):
    """The document store fails once during the vote's update: before it (nothing stored) or
    after it (stored, the answer lost). Either way the poll shows the earlier choice or the new
    one, never a part of it, and the retry gives the new one."""
    c = await crew(accounts, events, 3)
    owner, _, alice = c["people"]
    poll_id = (
        await send_poll(api, owner, c["event"]["id"], options=["A", "B", "C"], multipleChoice=True)
    )["message"]["id"]
    ok(await vote(api, alice, poll_id, ["o1"]), "votePoll")
    real_vote = chat_store.vote
    failed: list[str] = []

    async def failing_once(*args: Any, **kwargs: Any) -> Any:
        if failed:
            return await real_vote(*args, **kwargs)
        failed.append(when)
        if when == "after-the-write":
            await real_vote(*args, **kwargs)
        raise AutoReconnect("injected: the document store is unreachable")

    monkeypatch.setattr(chat_store, "vote", failing_once)
    first = await vote(api, alice, poll_id, ["o2", "o3"])
    assert failed == [when]
    assert first.get("errors") and "injected" not in json.dumps(first), first
    between = await poll_of(api, alice, poll_id)
    assert between["viewerOptionIds"] in (["o1"], ["o2", "o3"])
    assert sum(counts(between).values()) == len(between["viewerOptionIds"])

    retried = ok(await vote(api, alice, poll_id, ["o2", "o3"]), "votePoll")["message"]["poll"]
    assert retried["viewerOptionIds"] == ["o2", "o3"] and retried["totalVoters"] == 1
    assert counts(retried) == {"o1": 0, "o2": 1, "o3": 1}


async def test_a_store_failure_while_closing_leaves_the_poll_open_or_closed_and_a_retry_closes(
    api, accounts, events, monkeypatch
):
    c = await crew(accounts, events, 3)
    owner, _, alice = c["people"]
    poll_id = (await send_poll(api, alice, c["event"]["id"]))["message"]["id"]
    real_close = chat_store.close_poll
    failed: list[bool] = []

    async def failing_once(*args: Any, **kwargs: Any) -> Any:
        if failed:
            return await real_close(*args, **kwargs)
        failed.append(True)
        raise AutoReconnect("injected: the document store is unreachable")

    monkeypatch.setattr(chat_store, "close_poll", failing_once)
    first = await close_poll(api, alice, poll_id)
    assert first.get("errors") and "injected" not in json.dumps(first), first
    assert (await poll_of(api, owner, poll_id))["closed"] is False
    ok(await vote(api, owner, poll_id, ["o1"]), "votePoll")  # still open: votes count
    retried = ok(await close_poll(api, alice, poll_id), "closePoll")["message"]["poll"]
    assert retried["closed"] is True and counts(retried) == {"o1": 1, "o2": 0}
