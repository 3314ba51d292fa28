"""Event chat over HTTP: sending (retries, mentions, replies), editing, deleting, reactions,
history pages and anchors, who may do what, and hostile input."""

from __future__ import annotations

from typing import Any

import pytest

from tests.factories import crew
from tests.support import assert_error, drain_outbox
from tests.support.chat import DELETE, EDIT, REACT, SEND, delete, edit, react, send

HISTORY = """query($id: ID!, $last: Int, $before: String, $around: ID) { event(id: $id) {
  messages(last: $last, before: $before, around: $around) { edges { cursor node { id body } }
  pageInfo { hasNextPage hasPreviousPage endCursor } } } }"""

THREAD = """query($id: ID!) { node(id: $id) { ... on Message {
  replyCount replies { edges { node { body } } } } } }"""


async def history(api, user, event_id: str, **variables: Any) -> dict[str, Any]:
    result = await api.execute(HISTORY, {"id": event_id, **variables}, token=user["token"])
    assert "errors" not in result, result
    messages: dict[str, Any] = result["data"]["event"]["messages"]
    return messages


def bodies(page: dict[str, Any]) -> list[str]:
    return [e["node"]["body"] for e in page["edges"]]


# sending


async def test_a_message_is_trimmed_and_mentions_only_existing_people(api, accounts, events):
    c = await crew(accounts, events, 3)
    owner, _, alice = c["people"]
    first = await send(
        api,
        alice,
        c["event"]["id"],
        f"  Hello @{owner['username'].upper()} and @nobody  ",
        clientId="m-1",
    )
    message = first["message"]
    assert first["errors"] == [] and message["body"].startswith("Hello @")
    assert [m["username"] for m in message["mentions"]] == [owner["username"]]
    assert message["author"]["username"] == alice["username"]


async def test_a_retried_send_is_the_same_message(api, accounts, events):
    c = await crew(accounts, events, 3)
    alice, eid = c["people"][2], c["event"]["id"]
    message = (await send(api, alice, eid, "Hello", clientId="m-1"))["message"]
    again = await send(api, alice, eid, "Hello (retried)", clientId="m-1")
    assert again["message"]["id"] == message["id"]


async def test_a_reply_is_counted_and_listed_on_its_message(api, accounts, events):
    c = await crew(accounts, events, 3)
    owner, organizer, alice = c["people"]
    eid = c["event"]["id"]
    message = (await send(api, alice, eid, "Hello"))["message"]
    reply = await send(api, organizer, eid, "Hi!", replyToId=message["id"])
    assert reply["message"]["replyTo"]["id"] == message["id"]
    thread = await api.execute(THREAD, {"id": message["id"]}, token=owner["token"])
    assert thread["data"]["node"] == {
        "replyCount": 1,
        "replies": {"edges": [{"node": {"body": "Hi!"}}]},
    }


async def test_a_mention_notifies_the_mentioned_person(api, accounts, events, server):
    c = await crew(accounts, events, 3)
    owner, organizer, alice = c["people"]
    eid = c["event"]["id"]
    body = f"Hello @{owner['username'].upper()} and @nobody"
    message = (await send(api, alice, eid, body))["message"]
    await send(api, organizer, eid, "Hi!", replyToId=message["id"])
    await drain_outbox(server)
    mentioned = await api.execute(
        "{ notifications { edges { node { type title } } } }", token=owner["token"]
    )
    assert [e["node"]["type"] for e in mentioned["data"]["notifications"]["edges"]] == ["MENTIONED"]


# editing and deleting


async def test_the_author_edits_and_the_earlier_text_is_kept(api, accounts, events):
    c = await crew(accounts, events, 3)
    alice = c["people"][2]
    message = (await send(api, alice, c["event"]["id"], "Hello @nobody"))["message"]
    edited = (await edit(api, alice, message["id"], "Hey"))["data"]["editMessage"]
    assert edited["message"]["body"] == "Hey" and edited["message"]["edits"][0]["body"].startswith(
        "Hello @"
    )


async def test_an_organizer_cannot_edit_someone_elses_message(api, accounts, events):
    c = await crew(accounts, events, 3)
    _, organizer, alice = c["people"]
    message = (await send(api, alice, c["event"]["id"], "Hello"))["message"]
    assert_error(await edit(api, organizer, message["id"], "x"), "FORBIDDEN")


async def test_an_organizer_deletes_a_message_and_nothing_of_its_text_is_kept(
    api, accounts, events
):
    c = await crew(accounts, events, 3)
    _, organizer, alice = c["people"]
    message = (await send(api, alice, c["event"]["id"], "Hello"))["message"]
    await edit(api, alice, message["id"], "Hey")
    deleted = (await delete(api, organizer, message["id"]))["data"]["deleteMessage"]
    assert deleted["message"]["deleted"] is True and deleted["message"]["body"] == ""
    assert deleted["message"]["edits"] == []  # nothing of the text is kept


async def test_a_participant_cannot_delete_someone_elses_message(api, accounts, events):
    c = await crew(accounts, events, 3)
    _, organizer, alice = c["people"]
    reply = (await send(api, organizer, c["event"]["id"], "Hi!"))["message"]
    assert_error(await delete(api, alice, reply["id"]), "FORBIDDEN")


# reactions


async def test_reactions_count_once_per_person_and_emoji(api, accounts, events):
    c = await crew(accounts, events, 3)
    owner, _, alice = c["people"]
    message = (await send(api, owner, c["event"]["id"], "Pizza?"))["message"]
    await react(api, owner, message["id"], "🍕")
    await react(api, alice, message["id"], "🍕")
    both = (await react(api, alice, message["id"], "👍🏽"))["data"]["toggleReaction"]["message"]
    assert {r["emoji"]: r["count"] for r in both["reactions"]} == {"🍕": 2, "👍🏽": 1}


async def test_reacting_again_takes_the_reaction_back(api, accounts, events):
    c = await crew(accounts, events, 3)
    owner, _, alice = c["people"]
    message = (await send(api, owner, c["event"]["id"], "Pizza?"))["message"]
    await react(api, owner, message["id"], "🍕")
    await react(api, alice, message["id"], "🍕")
    undone = (await react(api, alice, message["id"], "🍕"))["data"]["toggleReaction"]["message"]
    pizza = next(r for r in undone["reactions"] if r["emoji"] == "🍕")
    assert pizza["count"] == 1 and pizza["viewerReacted"] is False
    assert [u["username"] for u in pizza["users"]] == [owner["username"]]


@pytest.mark.parametrize("bad", ["a", "🍕🍕" * 9, "", "$set", "🍕.x", ":)"])
async def test_a_reaction_must_be_one_emoji(api, accounts, events, bad):
    c = await crew(accounts, events, 3)
    owner, _, alice = c["people"]
    message = (await send(api, owner, c["event"]["id"], "Pizza?"))["message"]
    result = await react(api, alice, message["id"], bad)
    assert result["data"]["toggleReaction"]["errors"][0]["code"] == "INVALID_EMOJI", bad


# history


async def test_history_pages_back_from_the_newest(api, accounts, events):
    c = await crew(accounts, events, 2)
    owner, eid = c["people"][0], c["event"]["id"]
    for n in range(7):
        await send(api, owner, eid, f"m{n}")
    newest = await history(api, owner, eid, last=3)
    assert bodies(newest) == ["m6", "m5", "m4"]
    assert newest["pageInfo"]["hasNextPage"] is True
    older = await history(api, owner, eid, last=10, before=newest["pageInfo"]["endCursor"])
    assert bodies(older) == ["m3", "m2", "m1", "m0"]
    assert older["pageInfo"]["hasNextPage"] is False


async def test_history_around_a_message(api, accounts, events):
    c = await crew(accounts, events, 2)
    owner, eid = c["people"][0], c["event"]["id"]
    ids = [(await send(api, owner, eid, f"m{n}"))["message"]["id"] for n in range(7)]
    anchored = await history(api, owner, eid, last=4, around=ids[3])
    assert bodies(anchored) == ["m5", "m4", "m3", "m2"]


@pytest.mark.parametrize("variables", [{"before": "bm9wZQ"}, {"last": 101}])
async def test_history_refuses_a_bad_cursor_or_page_size(api, accounts, events, variables):
    c = await crew(accounts, events, 2)
    owner, eid = c["people"][0], c["event"]["id"]
    await send(api, owner, eid, "m0")
    assert_error(
        await api.execute(HISTORY, {"id": eid, **variables}, token=owner["token"]),
        "BAD_USER_INPUT",
    )


# outsiders and other events' messages


async def test_an_outsider_cannot_send(api, accounts, events):
    c = await crew(accounts, events, 2)
    outsider = await accounts.user()
    assert_error(
        await api.execute(
            SEND, {"input": {"eventId": c["event"]["id"], "body": "hi"}}, token=outsider["token"]
        ),
        "NOT_FOUND",
    )


async def test_an_outsider_sees_no_history(api, accounts, events):
    c = await crew(accounts, events, 2)
    outsider = await accounts.user()
    hidden = await api.execute(HISTORY, {"id": c["event"]["id"]}, token=outsider["token"])
    assert hidden["data"]["event"] is None


@pytest.fixture
async def foreign(api, accounts, events) -> dict[str, Any]:
    """A message in another event."""
    other = await crew(accounts, events, 2)
    message: dict[str, Any] = (
        await send(api, other["people"][0], other["event"]["id"], "private")
    )["message"]
    return message


@pytest.mark.parametrize(
    ("document", "variables"),
    [
        (DELETE, lambda mid: {"id": mid}),
        (REACT, lambda mid: {"id": mid, "e": "👍"}),
        (EDIT, lambda mid: {"input": {"messageId": mid, "body": "x"}}),
    ],
    ids=["delete", "react", "edit"],
)
async def test_another_events_message_is_not_found(
    api, accounts, events, foreign, document, variables
):
    owner = (await crew(accounts, events, 2))["people"][0]
    assert_error(
        await api.execute(document, variables(foreign["id"]), token=owner["token"]), "NOT_FOUND"
    )


async def test_another_events_message_is_no_node(api, accounts, events, foreign):
    owner = (await crew(accounts, events, 2))["people"][0]
    node = await api.execute(
        "query($id: ID!) { node(id: $id) { id } }", {"id": foreign["id"]}, token=owner["token"]
    )
    assert node["data"]["node"] is None


async def test_a_reply_to_another_events_message_is_refused(api, accounts, events, foreign):
    c = await crew(accounts, events, 2)
    crossed = await send(api, c["people"][0], c["event"]["id"], "reply", replyToId=foreign["id"])
    assert crossed["errors"][0]["code"] == "MESSAGE_NOT_FOUND"


# hostile input


@pytest.mark.parametrize(
    ("body", "more", "code"),
    [
        ("   ", {}, "REQUIRED"),
        ("x" * 4001, {}, "VALUE_TOO_LONG"),
        ("bell\x07", {}, "INVALID_INPUT"),
        ("x", {"clientId": "c" * 65}, "INVALID_INPUT"),
    ],
    ids=["blank", "too-long", "control-character", "long-client-id"],
)
async def test_a_bad_message_is_refused_and_not_stored(api, accounts, events, body, more, code):
    c = await crew(accounts, events, 2)
    owner, eid = c["people"][0], c["event"]["id"]
    assert (await send(api, owner, eid, body, **more))["errors"][0]["code"] == code
    assert (await history(api, owner, eid))["edges"] == []  # nothing was stored


async def test_sending_is_rate_limited(api, accounts, events, server):
    c = await crew(accounts, events, 2)
    server.deps.settings.rate_chat_send = "3/60"
    try:
        flooder = c["people"][1]  # has not sent anything yet
        results = [await send(api, flooder, c["event"]["id"], f"flood {n}") for n in range(4)]
    finally:
        server.deps.settings.rate_chat_send = "30/10"
    assert [r["errors"] for r in results[:3]] == [[], [], []]
    assert results[3]["errors"][0]["code"] == "RATE_LIMITED"
    assert results[3]["errors"][0]["retryAfterSeconds"] > 0
