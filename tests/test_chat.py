"""Event chat over HTTP: sending (retries, mentions, replies), editing, deleting, reactions,
history pages and anchors, who may do what, and hostile input."""

from __future__ import annotations

from typing import Any

from tests.factories import crew
from tests.support import assert_error, drain_outbox
from tests.support.chat import DELETE, EDIT, REACT, SEND, send

HISTORY = """query($id: ID!, $last: Int, $before: String, $around: ID) { event(id: $id) {
  messages(last: $last, before: $before, around: $around) { edges { cursor node { id body } }
  pageInfo { hasNextPage hasPreviousPage endCursor } } } }"""


async def test_send_retry_reply_mention_edit_delete(api, accounts, events, server):
    c = await crew(accounts, events, 3)
    owner, organizer, alice = c["people"]
    eid = c["event"]["id"]
    first = await send(
        api, alice, eid, f"  Hello @{owner['username'].upper()} and @nobody  ", clientId="m-1"
    )
    message = first["message"]
    assert first["errors"] == [] and message["body"].startswith("Hello @")
    assert [m["username"] for m in message["mentions"]] == [owner["username"]]
    assert message["author"]["username"] == alice["username"]
    again = await send(api, alice, eid, "Hello (retried)", clientId="m-1")
    assert again["message"]["id"] == message["id"]  # a retried send is the same message

    reply = await send(api, organizer, eid, "Hi!", replyToId=message["id"])
    assert reply["message"]["replyTo"]["id"] == message["id"]
    thread = await api.execute(
        """query($id: ID!) { node(id: $id) { ... on Message {
        replyCount replies { edges { node { body } } } } } }""",
        {"id": message["id"]},
        token=owner["token"],
    )
    assert thread["data"]["node"] == {
        "replyCount": 1,
        "replies": {"edges": [{"node": {"body": "Hi!"}}]},
    }

    edited = (
        await api.execute(
            EDIT, {"input": {"messageId": message["id"], "body": "Hey"}}, token=alice["token"]
        )
    )["data"]["editMessage"]
    assert edited["message"]["body"] == "Hey" and edited["message"]["edits"][0]["body"].startswith(
        "Hello @"
    )
    assert_error(
        await api.execute(
            EDIT, {"input": {"messageId": message["id"], "body": "x"}}, token=organizer["token"]
        ),
        "FORBIDDEN",
    )
    deleted = (await api.execute(DELETE, {"id": message["id"]}, token=organizer["token"]))["data"][
        "deleteMessage"
    ]
    assert deleted["message"]["deleted"] is True and deleted["message"]["body"] == ""
    assert deleted["message"]["edits"] == []  # nothing of the text is kept
    assert_error(
        await api.execute(DELETE, {"id": reply["message"]["id"]}, token=alice["token"]), "FORBIDDEN"
    )

    await drain_outbox(server)
    mentioned = await api.execute(
        "{ notifications { edges { node { type title } } } }", token=owner["token"]
    )
    assert [e["node"]["type"] for e in mentioned["data"]["notifications"]["edges"]] == ["MENTIONED"]


async def test_reactions_toggle_once_per_person_and_emoji(api, accounts, events):
    c = await crew(accounts, events, 3)
    owner, _, alice = c["people"]
    message = (await send(api, owner, c["event"]["id"], "Pizza?"))["message"]
    for user in (owner, alice):
        await api.execute(REACT, {"id": message["id"], "e": "🍕"}, token=user["token"])
    both = (await api.execute(REACT, {"id": message["id"], "e": "👍🏽"}, token=alice["token"]))[
        "data"
    ]["toggleReaction"]["message"]
    assert {r["emoji"]: r["count"] for r in both["reactions"]} == {"🍕": 2, "👍🏽": 1}
    undone = (await api.execute(REACT, {"id": message["id"], "e": "🍕"}, token=alice["token"]))[
        "data"
    ]["toggleReaction"]["message"]
    pizza = next(r for r in undone["reactions"] if r["emoji"] == "🍕")
    assert pizza["count"] == 1 and pizza["viewerReacted"] is False
    assert [u["username"] for u in pizza["users"]] == [owner["username"]]
    for bad in ("a", "🍕🍕" * 9, "", "$set", "🍕.x", ":)"):
        result = await api.execute(REACT, {"id": message["id"], "e": bad}, token=alice["token"])
        assert result["data"]["toggleReaction"]["errors"][0]["code"] == "INVALID_EMOJI", bad


async def test_history_pages_and_anchors(api, accounts, events):
    c = await crew(accounts, events, 2)
    owner = c["people"][0]
    eid = c["event"]["id"]
    ids = [(await send(api, owner, eid, f"m{n}"))["message"]["id"] for n in range(7)]

    async def page(**variables: Any) -> dict[str, Any]:
        result = await api.execute(HISTORY, {"id": eid, **variables}, token=owner["token"])
        assert "errors" not in result, result
        return result["data"]["event"]["messages"]  # type: ignore[no-any-return]

    newest = await page(last=3)
    assert [e["node"]["body"] for e in newest["edges"]] == ["m6", "m5", "m4"]
    assert newest["pageInfo"]["hasNextPage"] is True
    older = await page(last=10, before=newest["pageInfo"]["endCursor"])
    assert [e["node"]["body"] for e in older["edges"]] == ["m3", "m2", "m1", "m0"]
    assert older["pageInfo"]["hasNextPage"] is False
    anchored = await page(last=4, around=ids[3])
    assert [e["node"]["body"] for e in anchored["edges"]] == ["m5", "m4", "m3", "m2"]
    assert_error(
        await api.execute(HISTORY, {"id": eid, "before": "bm9wZQ"}, token=owner["token"]),
        "BAD_USER_INPUT",
    )
    assert_error(
        await api.execute(HISTORY, {"id": eid, "last": 101}, token=owner["token"]), "BAD_USER_INPUT"
    )


async def test_outsiders_and_hostile_input(api, accounts, events, server):
    c = await crew(accounts, events, 2)
    owner = c["people"][0]
    eid = c["event"]["id"]
    outsider = await accounts.user()
    other = await crew(accounts, events, 2)
    foreign = (await send(api, other["people"][0], other["event"]["id"], "private"))["message"]

    assert_error(
        await api.execute(SEND, {"input": {"eventId": eid, "body": "hi"}}, token=outsider["token"]),
        "NOT_FOUND",
    )
    hidden = await api.execute(HISTORY, {"id": eid}, token=outsider["token"])
    assert hidden["data"]["event"] is None
    for query, variables in (
        (DELETE, {"id": foreign["id"]}),
        (REACT, {"id": foreign["id"], "e": "👍"}),
        (EDIT, {"input": {"messageId": foreign["id"], "body": "x"}}),
    ):
        assert_error(await api.execute(query, variables, token=owner["token"]), "NOT_FOUND")
    node = await api.execute(
        "query($id: ID!) { node(id: $id) { id } }", {"id": foreign["id"]}, token=owner["token"]
    )
    assert node["data"]["node"] is None
    crossed = await send(api, owner, eid, "reply", replyToId=foreign["id"])
    assert crossed["errors"][0]["code"] == "MESSAGE_NOT_FOUND"

    for body, code in (
        ("   ", "REQUIRED"),
        ("x" * 4001, "VALUE_TOO_LONG"),
        ("bell\x07", "INVALID_INPUT"),
    ):
        assert (await send(api, owner, eid, body))["errors"][0]["code"] == code
    assert (await send(api, owner, eid, "x", clientId="c" * 65))["errors"][0][
        "code"
    ] == "INVALID_INPUT"
    history = await api.execute(HISTORY, {"id": eid}, token=owner["token"])
    assert history["data"]["event"]["messages"]["edges"] == []  # nothing was stored

    server.deps.settings.rate_chat_send = "3/60"
    try:
        flooder = c["people"][1]  # has not sent anything yet
        results = [await send(api, flooder, eid, f"flood {n}") for n in range(4)]
    finally:
        server.deps.settings.rate_chat_send = "30/10"
    assert [r["errors"] for r in results[:3]] == [[], [], []]
    assert results[3]["errors"][0]["code"] == "RATE_LIMITED"
    assert results[3]["errors"][0]["retryAfterSeconds"] > 0
