"""Invitations (account, username, email before sign-up) and join requests."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from sqlalchemy import update

from stores.db import utcnow
from stores.invitations import Invitation
from tests.factories import Accounts, Events
from tests.support import GraphQLClient, assert_error, assert_payload_error
from tests.support.events import ACCEPT, DECLINE, INVITE

MINE = """query($s: InvitationStatus) { myInvitations(status: $s) { id status role message
  inviter { username } event { id title description viewerRole } } }"""
REVOKE = """mutation($id: ID!) { revokeInvitation(input: {invitationId: $id}) {
  invitation { status } errors { code } } }"""


async def invite(
    api: GraphQLClient, token: str, event_id: str, *invitees: dict[str, str], **extra: str
) -> dict[str, Any]:
    """inviteParticipants' payload for `invitees`."""
    result = await api.execute(
        INVITE, {"input": {"eventId": event_id, "invitees": list(invitees), **extra}}, token=token
    )
    return result["data"]["inviteParticipants"]  # type: ignore[no-any-return]


async def participant_count(api: GraphQLClient, token: str, event_id: str) -> int:
    count = await api.execute(
        "query($id: ID!) { event(id: $id) { participantCount } }", {"id": event_id}, token=token
    )
    return count["data"]["event"]["participantCount"]  # type: ignore[no-any-return]


async def test_invite_by_account_username_and_email(api, accounts, events, mailbox):
    alice, bob, carol = [await accounts.user() for _ in range(3)]
    event = await events.create(alice["token"], description="details")
    payload = await invite(
        api,
        alice["token"],
        event["id"],
        {"userId": bob["id"]},
        {"username": carol["username"].upper()},
        {"email": "New.Friend@Example.com"},
        message="Come!",
    )
    assert payload["errors"] == []
    assert [i["status"] for i in payload["invitations"]] == ["PENDING"] * 3
    assert payload["invitations"][2]["inviteeEmail"] == "new.friend@example.com"
    mail = await mailbox.wait_for("new.friend@example.com", "Invitation to")
    assert mail["subject"] == f'Invitation to "{event["title"]}" on IVEN'


async def test_a_pending_invitation_shows_only_the_event_public_fields(api, accounts, events):
    alice, bob = await accounts.user(), await accounts.user()
    event = await events.create(alice["token"], description="details")
    await invite(api, alice["token"], event["id"], {"userId": bob["id"]}, message="Come!")
    mine = (await api.execute(MINE, {"s": "PENDING"}, token=bob["token"]))["data"]["myInvitations"]
    assert len(mine) == 1 and mine[0]["message"] == "Come!"
    assert mine[0]["inviter"]["username"] == alice["username"]
    assert mine[0]["event"]["title"] == "Picnic" and mine[0]["event"]["description"] is None


async def test_accepting_an_invitation_makes_a_participant_once(api, accounts, events):
    alice, bob = await accounts.user(), await accounts.user()
    event = await events.create(alice["token"])
    invitation = (await invite(api, alice["token"], event["id"], {"userId": bob["id"]}))[
        "invitations"
    ][0]
    accepted = (await api.execute(ACCEPT, {"id": invitation["id"]}, token=bob["token"]))["data"][
        "acceptInvitation"
    ]
    assert accepted["participant"]["role"] == "PARTICIPANT"
    assert accepted["event"]["viewerRole"] == "PARTICIPANT"
    again = (await api.execute(ACCEPT, {"id": invitation["id"]}, token=bob["token"]))["data"][
        "acceptInvitation"
    ]
    assert again["participant"]["id"] == accepted["participant"]["id"]  # idempotent


async def test_a_declined_invitation_cannot_be_accepted(api, accounts, events):
    alice, carol = await accounts.user(), await accounts.user()
    event = await events.create(alice["token"])
    await invite(api, alice["token"], event["id"], {"username": carol["username"]})
    carols = (await api.execute(MINE, {}, token=carol["token"]))["data"]["myInvitations"]
    declined = await api.execute(DECLINE, {"id": carols[0]["id"]}, token=carol["token"])
    assert declined["data"]["declineInvitation"]["invitation"]["status"] == "DECLINED"
    late = (await api.execute(ACCEPT, {"id": carols[0]["id"]}, token=carol["token"]))["data"][
        "acceptInvitation"
    ]
    assert_payload_error(late, "INVITATION_NOT_PENDING")


async def test_signing_up_with_an_invited_email_finds_the_invitation_waiting(api, accounts, events):
    alice, bob = await accounts.user(), await accounts.user()
    event = await events.create(alice["token"])
    await events.add(alice["token"], event["id"], bob)
    await invite(api, alice["token"], event["id"], {"email": "New.Friend@Example.com"})
    newcomer = await accounts.user(username="newfriend", email="new.friend@example.com")
    waiting = (await api.execute(MINE, {}, token=newcomer["token"]))["data"]["myInvitations"]
    assert len(waiting) == 1 and waiting[0]["event"]["id"] == event["id"]
    joined = (await api.execute(ACCEPT, {"id": waiting[0]["id"]}, token=newcomer["token"]))["data"][
        "acceptInvitation"
    ]
    assert joined["errors"] == []
    assert await participant_count(api, alice["token"], event["id"]) == 3


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


async def test_an_invitee_with_both_a_username_and_an_email_is_invalid(api, accounts, events):
    alice = await accounts.user()
    event = await events.create(alice["token"])
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


async def test_a_participant_cannot_invite(api, accounts, events):
    alice, bob = await accounts.user(), await accounts.user()
    event = await events.create(alice["token"])
    await events.add(alice["token"], event["id"], bob)
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


async def invited_pair(api: Any, accounts: Any, events: Any) -> dict[str, Any]:
    """alice's event with pending invitations for bob and carol (in that order)."""
    alice, bob, carol = [await accounts.user() for _ in range(3)]
    event = await events.create(alice["token"])
    invited = (
        await invite(
            api, alice["token"], event["id"], {"userId": bob["id"]}, {"userId": carol["id"]}
        )
    )["invitations"]
    return {"alice": alice, "bob": bob, "carol": carol, "event": event, "invited": invited}


async def test_only_organizers_revoke_an_invitation(api, accounts, events):
    p = await invited_pair(api, accounts, events)
    assert_error(
        await api.execute(REVOKE, {"id": p["invited"][0]["id"]}, token=p["bob"]["token"]),
        "NOT_FOUND",
    )


async def test_a_revoked_invitation_cannot_be_accepted(api, accounts, events):
    p = await invited_pair(api, accounts, events)
    invitation_id = p["invited"][0]["id"]
    revoked = await api.execute(REVOKE, {"id": invitation_id}, token=p["alice"]["token"])
    assert revoked["data"]["revokeInvitation"]["invitation"]["status"] == "REVOKED"
    assert_payload_error(
        (await api.execute(ACCEPT, {"id": invitation_id}, token=p["bob"]["token"]))["data"][
            "acceptInvitation"
        ],
        "INVITATION_NOT_PENDING",
    )


async def test_someone_elses_invitation_is_not_yours_to_accept(api, accounts, events):
    p = await invited_pair(api, accounts, events)
    assert_error(
        await api.execute(ACCEPT, {"id": p["invited"][1]["id"]}, token=p["bob"]["token"]),
        "NOT_FOUND",
    )


async def test_concurrent_accepts_make_one_participation(api, accounts, events):
    p = await invited_pair(api, accounts, events)
    carols = p["invited"][1]["id"]
    results = await asyncio.gather(
        *[api.execute(ACCEPT, {"id": carols}, token=p["carol"]["token"]) for _ in range(4)]
    )
    ids = {r["data"]["acceptInvitation"]["participant"]["id"] for r in results}
    assert len(ids) == 1
    assert await participant_count(api, p["alice"]["token"], p["event"]["id"]) == 2


ASK_BY_ID = """mutation($e: ID!) { requestToJoin(input: {eventId: $e, message: "hi"}) {
    joinRequest { id status } errors { code } } }"""
ASK = """mutation($e: String!) { requestToJoin(input: {shareToken: $e, message: "hi"}) {
    joinRequest { id status } errors { code } } }"""
SHARE_TOKEN = "query($id: ID!) { event(id: $id) { shareToken } }"
DECIDE = """mutation($id: ID!) { %s(input: {joinRequestId: $id}) {
    joinRequest { status } participant { role } errors { code } } }"""


async def share_token(api: GraphQLClient, token: str, event_id: str) -> str:
    result = await api.execute(SHARE_TOKEN, {"id": event_id}, token=token)
    return result["data"]["event"]["shareToken"]  # type: ignore[no-any-return]


async def ask_to_join(api: GraphQLClient, token: str, share: str) -> dict[str, Any]:
    """requestToJoin's payload for a share token."""
    return (await api.execute(ASK, {"e": share}, token=token))["data"]["requestToJoin"]  # type: ignore[no-any-return]


async def decide(api: GraphQLClient, token: str, mutation: str, request_id: str) -> dict[str, Any]:
    """The whole answer to approveJoinRequest / rejectJoinRequest."""
    return await api.execute(DECIDE % mutation, {"id": request_id}, token=token)


async def unlisted_event(
    accounts: Accounts, events: Events
) -> tuple[dict[str, Any], dict[str, Any], str]:
    """An owner, their unlisted event with room for one more, and its share token."""
    alice = await accounts.user()
    unlisted = await events.create(alice["token"], visibility="UNLISTED", capacity=2)
    return alice, unlisted, await share_token(events.api, alice["token"], unlisted["id"])


async def test_a_private_event_share_token_takes_no_join_requests(api, accounts, events):
    alice, bob = await accounts.user(), await accounts.user()
    private = await events.create(alice["token"])
    share = await share_token(api, alice["token"], private["id"])
    assert_error(await api.execute(ASK, {"e": share}, token=bob["token"]), "NOT_FOUND")


async def test_an_outsider_cannot_ask_to_join_by_event_id(api, accounts, events):
    # an outsider's request names the event by its share token: its id alone is NOT_FOUND
    _, unlisted, _ = await unlisted_event(accounts, events)
    bob = await accounts.user()
    assert_error(
        await api.execute(ASK_BY_ID, {"e": unlisted["id"]}, token=bob["token"]), "NOT_FOUND"
    )


async def test_asking_to_join_again_returns_the_pending_request(api, accounts, events):
    _, _, share = await unlisted_event(accounts, events)
    bob = await accounts.user()
    asked = await ask_to_join(api, bob["token"], share)
    assert asked["joinRequest"]["status"] == "PENDING"
    again = await ask_to_join(api, bob["token"], share)
    assert again["joinRequest"]["id"] == asked["joinRequest"]["id"]


async def test_organizers_see_the_join_requests(api, accounts, events):
    alice, unlisted, share = await unlisted_event(accounts, events)
    bob, carol = await accounts.user(), await accounts.user()
    await ask_to_join(api, bob["token"], share)
    await ask_to_join(api, carol["token"], share)
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


async def test_only_organizers_approve_join_requests(api, accounts, events):
    _, _, share = await unlisted_event(accounts, events)
    bob = await accounts.user()
    asked = await ask_to_join(api, bob["token"], share)
    assert_error(
        await decide(api, bob["token"], "approveJoinRequest", asked["joinRequest"]["id"]),
        "NOT_FOUND",
    )  # join requests are an organizers' matter


async def test_approving_a_join_request_makes_a_participant(api, accounts, events):
    alice, _, share = await unlisted_event(accounts, events)
    bob = await accounts.user()
    asked = await ask_to_join(api, bob["token"], share)
    approved = (
        await decide(api, alice["token"], "approveJoinRequest", asked["joinRequest"]["id"])
    )["data"]["approveJoinRequest"]
    assert approved == {
        "joinRequest": {"status": "APPROVED"},
        "participant": {"role": "PARTICIPANT"},
        "errors": [],
    }


async def test_approving_a_join_request_to_a_full_event_fails(api, accounts, events):
    alice, unlisted, share = await unlisted_event(accounts, events)
    bob, carol = await accounts.user(), await accounts.user()
    carol_asks = await ask_to_join(api, carol["token"], share)
    await events.add(alice["token"], unlisted["id"], bob)
    # the event is now full (capacity 2): approving carol fails and changes nothing
    full = (
        await decide(api, alice["token"], "approveJoinRequest", carol_asks["joinRequest"]["id"])
    )["data"]["approveJoinRequest"]
    assert_payload_error(full, "EVENT_FULL")


async def test_rejecting_a_join_request(api, accounts, events):
    alice, _, share = await unlisted_event(accounts, events)
    carol = await accounts.user()
    carol_asks = await ask_to_join(api, carol["token"], share)
    rejected = (
        await decide(api, alice["token"], "rejectJoinRequest", carol_asks["joinRequest"]["id"])
    )["data"]["rejectJoinRequest"]
    assert rejected["joinRequest"]["status"] == "REJECTED"


async def test_a_participant_asking_to_join_is_already_a_participant(api, accounts, events):
    alice, _, share = await unlisted_event(accounts, events)
    bob = await accounts.user()
    asked = await ask_to_join(api, bob["token"], share)
    await decide(api, alice["token"], "approveJoinRequest", asked["joinRequest"]["id"])
    assert_payload_error(await ask_to_join(api, bob["token"], share), "ALREADY_PARTICIPANT")
