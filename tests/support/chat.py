"""Chat operations shared by the test modules, and the client side of a chat stream."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from strawberry.relay import GlobalID

from tests.support.graphql import RECEIVE_TIMEOUT_S, GraphQLClient, WsSession

MESSAGE_FIELDS = """id body deleted edits { body } replyCount author { displayName username }
  mentions { username } replyTo { id } reactions { emoji count viewerReacted users { username } }"""

SEND = f"""mutation($input: SendMessageInput!) {{ sendMessage(input: $input) {{
  message {{ {MESSAGE_FIELDS} }} errors {{ code field retryAfterSeconds }} }} }}"""

EDIT = f"""mutation($input: EditMessageInput!) {{ editMessage(input: $input) {{
  message {{ {MESSAGE_FIELDS} }} errors {{ code }} }} }}"""

DELETE = f"""mutation($id: ID!) {{ deleteMessage(input: {{messageId: $id}}) {{
  message {{ {MESSAGE_FIELDS} }} errors {{ code }} }} }}"""

REACT = f"""mutation($id: ID!, $e: String!) {{ toggleReaction(input: {{messageId: $id, emoji: $e}})
  {{ message {{ {MESSAGE_FIELDS} }} errors {{ code }} }} }}"""

EVENTS = """subscription($id: ID!, $after: String) { chatEvents(eventId: $id, after: $after) {
  __typename
  ... on MessageAdded { cursor message { id body author { username } } }
  ... on MessageEdited { cursor message { id body } }
  ... on MessageDeleted { cursor message { id deleted body } }
  ... on ReactionChanged { cursor emoji added reactor { username }
                           message { id reactions { emoji count } } }
  ... on ReadMarkerMoved { cursor upToMessageId reader { username } }
  ... on TypingChanged { cursor isTyping expiresAt user { username } }
  ... on PresenceChanged { cursor online user { username } }
} }"""


async def send(
    api: GraphQLClient, user: dict[str, Any], event_id: str, body: str, **more: Any
) -> dict[str, Any]:
    result = await api.execute(
        SEND, {"input": {"eventId": event_id, "body": body, **more}}, token=user["token"]
    )
    assert "errors" not in result, result
    return result["data"]["sendMessage"]  # type: ignore[no-any-return]


async def stream(
    api: GraphQLClient,
    user: dict[str, Any],
    event_id: str,
    after: str | None = None,
    query: str = EVENTS,
    joined: bool = True,
) -> Any:
    """A socket of the user following the chat; returns once the subscription is live on the
    in-process server behind `api` (`joined`), so what happens next reaches it."""
    assert not joined or api.server is not None, "joined needs the in-process server"
    hub = api.server.deps.services.chat_hub if api.server is not None else None
    event = int(GlobalID.from_id(event_id).node_id)
    user_id = int(GlobalID.from_id(user["id"]).node_id)

    def mine() -> set[int]:
        feed = hub.feeds.get(event) if hub else None
        return {
            id(s)
            for s in (feed.subscribers if feed else ())
            if s.user_id == user_id and s.buffer is None
        }

    known = mine()
    ws_cm = api.ws({"authorization": f"Bearer {user['token']}"})
    ws = await ws_cm.__aenter__()
    assert (await ws.receive())["type"] == "connection_ack"
    op = await ws.subscribe(query, {"id": event_id, "after": after})
    if joined:
        deadline = time.monotonic() + RECEIVE_TIMEOUT_S
        while not mine() - known:
            assert time.monotonic() < deadline, "the subscription never went live"
            await asyncio.sleep(0.02)
    return ws_cm, ws, op


async def next_event(
    ws: WsSession,
    op: str,
    timeout: float = RECEIVE_TIMEOUT_S,
    presence: bool = False,
    kind: str | None = None,
) -> dict[str, Any]:
    """The next chat event on `op`, of `kind` if given. Frames of other kinds are skipped when a
    kind is asked for, and other people's presence changes always unless `presence` (any socket
    opening or closing in the event sends one), so every selection must include `__typename`."""
    deadline = time.monotonic() + timeout
    while True:
        message = await ws.receive(timeout=max(0.01, deadline - time.monotonic()))
        if message["type"] in ("ping", "pong"):
            continue
        assert message["id"] == op and message["type"] == "next", message
        assert "errors" not in message["payload"], message
        event: dict[str, Any] = message["payload"]["data"]["chatEvents"]
        assert "__typename" in event, f"select __typename to tell frames apart: {message}"
        typename = event["__typename"]
        if kind is not None:
            if typename == kind:
                return event
        elif presence or typename != "PresenceChanged":
            return event


async def no_event(ws: WsSession, wait: float = 0.4, presence: bool = False) -> None:
    """Nothing but other people's presence changes (unless `presence`) arrives for `wait` s."""
    deadline = time.monotonic() + wait
    with pytest.raises(TimeoutError):
        while True:
            message = await ws.receive(timeout=max(0.01, deadline - time.monotonic()))
            typename = (
                message.get("payload", {}).get("data", {}).get("chatEvents", {}).get("__typename")
            )
            assert not presence and typename == "PresenceChanged", message


async def edit(
    api: GraphQLClient, user: dict[str, Any], message_id: str, body: str
) -> dict[str, Any]:
    """The whole result of `editMessage` (an error may be top-level)."""
    return await api.execute(
        EDIT, {"input": {"messageId": message_id, "body": body}}, token=user["token"]
    )


async def delete(api: GraphQLClient, user: dict[str, Any], message_id: str) -> dict[str, Any]:
    """The whole result of `deleteMessage` (an error may be top-level)."""
    return await api.execute(DELETE, {"id": message_id}, token=user["token"])


async def react(
    api: GraphQLClient, user: dict[str, Any], message_id: str, emoji: str
) -> dict[str, Any]:
    """The whole result of `toggleReaction` (an error may be top-level)."""
    return await api.execute(REACT, {"id": message_id, "e": emoji}, token=user["token"])


# --- polls -----------------------------------------------------------------------------------

POLL_FIELDS = """poll { question multipleChoice anonymous closesAt closed totalVoters
  viewerOptionIds options { id text voteCount viewerVoted voters { username } } }"""

SEND_POLL = f"""mutation($input: SendMessageInput!) {{ sendMessage(input: $input) {{
  message {{ id body {POLL_FIELDS} }} errors {{ code field }} }} }}"""

VOTE = f"""mutation($id: ID!, $o: [ID!]!) {{ votePoll(input: {{messageId: $id, optionIds: $o}})
  {{ message {{ id {POLL_FIELDS} }} errors {{ code field }} }} }}"""

CLOSE_POLL = f"""mutation($id: ID!) {{ closePoll(input: {{messageId: $id}})
  {{ message {{ id {POLL_FIELDS} }} errors {{ code field }} }} }}"""

POLL_OF = f"""query($id: ID!) {{ node(id: $id) {{ ... on Message {{ id {POLL_FIELDS} }} }} }}"""


async def send_poll(
    api: GraphQLClient, user: dict[str, Any], event_id: str, body: str = "", **poll: Any
) -> dict[str, Any]:
    """The sendMessage payload of a message carrying a poll (defaults: two options)."""
    poll = {"question": "Where do we eat?", "options": ["Pizza", "Sushi"], **poll}
    result = await api.execute(
        SEND_POLL, {"input": {"eventId": event_id, "body": body, "poll": poll}}, token=user["token"]
    )
    assert "errors" not in result, result
    return result["data"]["sendMessage"]  # type: ignore[no-any-return]


async def vote(
    api: GraphQLClient, user: dict[str, Any], message_id: str, option_ids: list[str]
) -> dict[str, Any]:
    """The whole result of `votePoll` (an error may be top-level)."""
    return await api.execute(VOTE, {"id": message_id, "o": option_ids}, token=user["token"])


async def close_poll(api: GraphQLClient, user: dict[str, Any], message_id: str) -> dict[str, Any]:
    """The whole result of `closePoll` (an error may be top-level)."""
    return await api.execute(CLOSE_POLL, {"id": message_id}, token=user["token"])


async def poll_of(api: GraphQLClient, user: dict[str, Any], message_id: str) -> dict[str, Any]:
    """The message's poll as `user` sees it."""
    result = await api.execute(POLL_OF, {"id": message_id}, token=user["token"])
    assert "errors" not in result, result
    return result["data"]["node"]["poll"]  # type: ignore[no-any-return]
