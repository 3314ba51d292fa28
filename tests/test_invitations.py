"""Invitations (account, username, email before sign-up) and join requests."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import update

from stores.db import utcnow
from stores.invitations import Invitation
from tests.support import assert_error, assert_payload_error
from tests.support.events import ACCEPT, DECLINE, INVITE

MINE = """query($s: InvitationStatus) { myInvitations(status: $s) { id status role message
  inviter { username } event { id title description viewerRole } } }"""
REVOKE = """mutation($id: ID!) { revokeInvitation(input: {invitationId: $id}) {
  invitation { status } errors { code } } }"""


async def test_invite_by_account_username_and_email(api, accounts, events, mailbox):
    alice, bob, carol = [await accounts.user() for _ in range(3)]
    event = await events.create(alice["token"], description="details")
    result = await api.execute(
        INVITE,
        {
            "input": {
                "eventId": event["id"],
                "message": "Come!",
                "invitees": [
                    {"userId": bob["id"]},
                    {"username": carol["username"].upper()},
                    {"email": "New.Friend@Example.com"},
                ],
            }
        },
        token=alice["token"],
    )
    payload = result["data"]["inviteParticipants"]
    assert payload["errors"] == []
    assert [i["status"] for i in payload["invitations"]] == ["PENDING"] * 3
    assert payload["invitations"][2]["inviteeEmail"] == "new.friend@example.com"
    mail = await mailbox.wait_for("new.friend@example.com", "Invitation to")
    assert mail["subject"] == f'Invitation to "{event["title"]}" on IVEN'

    # the invitee sees it, with the event's public fields only until they accept
    mine = (await api.execute(MINE, {"s": "PENDING"}, token=bob["token"]))["data"]["myInvitations"]
    assert len(mine) == 1 and mine[0]["message"] == "Come!"
    assert mine[0]["inviter"]["username"] == alice["username"]
    assert mine[0]["event"]["title"] == "Picnic" and mine[0]["event"]["description"] is None
    accepted = (await api.execute(ACCEPT, {"id": mine[0]["id"]}, token=bob["token"]))["data"][
        "acceptInvitation"
    ]
    assert accepted["participant"]["role"] == "PARTICIPANT"
    assert accepted["event"]["viewerRole"] == "PARTICIPANT"
    again = (await api.execute(ACCEPT, {"id": mine[0]["id"]}, token=bob["token"]))["data"][
        "acceptInvitation"
    ]
    assert again["participant"]["id"] == accepted["participant"]["id"]  # idempotent

    carols = (await api.execute(MINE, {}, token=carol["token"]))["data"]["myInvitations"]
    declined = await api.execute(DECLINE, {"id": carols[0]["id"]}, token=carol["token"])
    assert declined["data"]["declineInvitation"]["invitation"]["status"] == "DECLINED"
    late = (await api.execute(ACCEPT, {"id": carols[0]["id"]}, token=carol["token"]))["data"][
        "acceptInvitation"
    ]
    assert_payload_error(late, "INVITATION_NOT_PENDING")

    # someone signing up with the invited address finds the invitation waiting
    newcomer = await accounts.user(username="newfriend", email="new.friend@example.com")
    waiting = (await api.execute(MINE, {}, token=newcomer["token"]))["data"]["myInvitations"]
    assert len(waiting) == 1 and waiting[0]["event"]["id"] == event["id"]
    joined = (await api.execute(ACCEPT, {"id": waiting[0]["id"]}, token=newcomer["token"]))["data"][
        "acceptInvitation"
    ]
    assert joined["errors"] == []
    count = await api.execute(
        "query($id: ID!) { event(id: $id) { participantCount } }",
        {"id": event["id"]},
        token=alice["token"],
    )
    assert count["data"]["event"]["participantCount"] == 3


async def test_bad_invitees_change_nothing(api, accounts, events):
    alice, bob = await accounts.user(), await accounts.user()
    event = await events.create(alice["token"])
    await events.add(alice["token"], event["id"], bob)
    result = await api.execute(
        INVITE,
        {
            "input": {
                "eventId": event["id"],
                "invitees": [
                    {"username": "nobody_here"},
                    {"userId": bob["id"]},
                    {"email": "not-an-email"},
                    {"email": "fine@example.com"},
                ],
            }
        },
        token=alice["token"],
    )
    payload = result["data"]["inviteParticipants"]
    assert {(e["code"], tuple(e["field"])) for e in payload["errors"]} == {
        ("USER_NOT_FOUND", ("input", "invitees", "0")),
        ("ALREADY_PARTICIPANT", ("input", "invitees", "1")),
        ("INVALID_EMAIL", ("input", "invitees", "2", "email")),
    }
    listed = await api.execute(
        "query($id: ID!) { event(id: $id) { invitations { id } } }",
        {"id": event["id"]},
        token=alice["token"],
    )
    assert listed["data"]["event"]["invitations"] == []
    two_keys = await api.execute(
        INVITE,
        {
            "input": {
                "eventId": event["id"],
                "invitees": [{"username": "x", "email": "y@example.com"}],
            }
        },
        token=alice["token"],
    )
    assert_error(two_keys, "GRAPHQL_VALIDATION_FAILED")
    participant_invites = await api.execute(
        INVITE,
        {"input": {"eventId": event["id"], "invitees": [{"email": "z@example.com"}]}},
        token=bob["token"],
    )
    assert_error(participant_invites, "FORBIDDEN")


async def test_reinviting_returns_the_pending_invitation_and_expiry(api, accounts, events, server):
    alice, bob = await accounts.user(), await accounts.user()
    event = await events.create(alice["token"])
    args = {"input": {"eventId": event["id"], "invitees": [{"userId": bob["id"]}]}}
    first = (await api.execute(INVITE, args, token=alice["token"]))["data"]["inviteParticipants"]
    second = (await api.execute(INVITE, args, token=alice["token"]))["data"]["inviteParticipants"]
    assert first["invitations"][0]["id"] == second["invitations"][0]["id"]

    async with server.deps.db.unit_of_work() as db:
        await db.exec(update(Invitation).values(expires_at=utcnow() - timedelta(seconds=1)))
    mine = (await api.execute(MINE, {"s": "EXPIRED"}, token=bob["token"]))["data"]["myInvitations"]
    assert [i["status"] for i in mine] == ["EXPIRED"]
    assert_payload_error(
        (await api.execute(ACCEPT, {"id": mine[0]["id"]}, token=bob["token"]))["data"][
            "acceptInvitation"
        ],
        "INVITATION_NOT_PENDING",
    )
    fresh = (await api.execute(INVITE, args, token=alice["token"]))["data"]["inviteParticipants"]
    assert fresh["invitations"][0]["id"] != first["invitations"][0]["id"]
    assert fresh["invitations"][0]["status"] == "PENDING"


async def test_revoke_and_concurrent_accepts(api, accounts, events):
    alice, bob, carol = [await accounts.user() for _ in range(3)]
    event = await events.create(alice["token"])
    invited = (
        await api.execute(
            INVITE,
            {
                "input": {
                    "eventId": event["id"],
                    "invitees": [{"userId": bob["id"]}, {"userId": carol["id"]}],
                }
            },
            token=alice["token"],
        )
    )["data"]["inviteParticipants"]["invitations"]
    assert_error(
        await api.execute(REVOKE, {"id": invited[0]["id"]}, token=bob["token"]), "NOT_FOUND"
    )
    revoked = await api.execute(REVOKE, {"id": invited[0]["id"]}, token=alice["token"])
    assert revoked["data"]["revokeInvitation"]["invitation"]["status"] == "REVOKED"
    assert_payload_error(
        (await api.execute(ACCEPT, {"id": invited[0]["id"]}, token=bob["token"]))["data"][
            "acceptInvitation"
        ],
        "INVITATION_NOT_PENDING",
    )
    # someone else's invitation is not yours to accept
    assert_error(
        await api.execute(ACCEPT, {"id": invited[1]["id"]}, token=bob["token"]), "NOT_FOUND"
    )
    results = await asyncio.gather(
        *[api.execute(ACCEPT, {"id": invited[1]["id"]}, token=carol["token"]) for _ in range(4)]
    )
    ids = {r["data"]["acceptInvitation"]["participant"]["id"] for r in results}
    assert len(ids) == 1
    count = await api.execute(
        "query($id: ID!) { event(id: $id) { participantCount } }",
        {"id": event["id"]},
        token=alice["token"],
    )
    assert count["data"]["event"]["participantCount"] == 2


async def test_join_requests_for_unlisted_events(api, accounts, events):
    alice, bob, carol = [await accounts.user() for _ in range(3)]
    private = await events.create(alice["token"])
    unlisted = await events.create(alice["token"], visibility="UNLISTED", capacity=2)
    ask_by_id = """mutation($e: ID!) { requestToJoin(input: {eventId: $e, message: "hi"}) {
        joinRequest { id status } errors { code } } }"""
    ask = """mutation($e: String!) { requestToJoin(input: {shareToken: $e, message: "hi"}) {
        joinRequest { id status } errors { code } } }"""
    tokens = """query($p: ID!, $u: ID!) { p: event(id: $p) { shareToken }
        u: event(id: $u) { shareToken } }"""
    shared = (
        await api.execute(tokens, {"p": private["id"], "u": unlisted["id"]}, token=alice["token"])
    )["data"]
    assert_error(
        await api.execute(ask, {"e": shared["p"]["shareToken"]}, token=bob["token"]), "NOT_FOUND"
    )
    # an outsider's request names the event by its share token: its id alone is NOT_FOUND
    assert_error(
        await api.execute(ask_by_id, {"e": unlisted["id"]}, token=bob["token"]), "NOT_FOUND"
    )
    share = shared["u"]["shareToken"]
    asked = (await api.execute(ask, {"e": share}, token=bob["token"]))["data"]["requestToJoin"]
    assert asked["joinRequest"]["status"] == "PENDING"
    again = (await api.execute(ask, {"e": share}, token=bob["token"]))["data"]["requestToJoin"]
    assert again["joinRequest"]["id"] == asked["joinRequest"]["id"]
    carol_asks = (await api.execute(ask, {"e": share}, token=carol["token"]))["data"][
        "requestToJoin"
    ]

    listed = await api.execute(
        """query($id: ID!) { event(id: $id) { joinRequests {
        id status message user { username } } } }""",
        {"id": unlisted["id"]},
        token=alice["token"],
    )
    assert {r["user"]["username"] for r in listed["data"]["event"]["joinRequests"]} == {
        bob["username"],
        carol["username"],
    }
    decide = """mutation($id: ID!) { %s(input: {joinRequestId: $id}) {
        joinRequest { status } participant { role } errors { code } } }"""
    assert_error(
        await api.execute(
            decide % "approveJoinRequest", {"id": asked["joinRequest"]["id"]}, token=bob["token"]
        ),
        "NOT_FOUND",
    )  # join requests are an organizers' matter
    approved = (
        await api.execute(
            decide % "approveJoinRequest", {"id": asked["joinRequest"]["id"]}, token=alice["token"]
        )
    )["data"]["approveJoinRequest"]
    assert approved == {
        "joinRequest": {"status": "APPROVED"},
        "participant": {"role": "PARTICIPANT"},
        "errors": [],
    }
    # the event is now full (capacity 2): approving carol fails and changes nothing
    full = (
        await api.execute(
            decide % "approveJoinRequest",
            {"id": carol_asks["joinRequest"]["id"]},
            token=alice["token"],
        )
    )["data"]["approveJoinRequest"]
    assert_payload_error(full, "EVENT_FULL")
    rejected = (
        await api.execute(
            decide % "rejectJoinRequest",
            {"id": carol_asks["joinRequest"]["id"]},
            token=alice["token"],
        )
    )["data"]["rejectJoinRequest"]
    assert rejected["joinRequest"]["status"] == "REJECTED"
    assert_payload_error(
        (await api.execute(ask, {"e": share}, token=bob["token"]))["data"]["requestToJoin"],
        "ALREADY_PARTICIPANT",
    )
