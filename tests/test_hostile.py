"""The hostile corpus (issue 15): every attack seen, as a request that is refused with its code,
stores nothing, and leaves the server answering a `{ __typename }` probe right after.

Runs on both backend sets. Sections, one per concern, so each grows on its own:
cost and validation; transport, secrets and readiness; visibility and abuse; text, sign-in and
uploads.
"""

from __future__ import annotations

import base64
import json
import secrets
from email.header import decode_header, make_header
from typing import Any

from strawberry.relay import to_base64

from resolvers import accounts as accounts_uc
from resolvers.core.background import drain_background
from stores import events as event_store
from stores.accounts import User as UserRow
from tests.factories import pk
from tests.support import GraphQLClient, assert_error, assert_payload_error


async def assert_still_serving(api: GraphQLClient) -> None:
    """The probe every hostile test ends with: the server still answers at once."""
    result: dict[str, Any] = await api.execute("{ __typename }")
    assert result["data"] == {"__typename": "Query"} and not result.get("errors")


# ---------------------------------------------------------------------------------------------
# Cost and validation: fragment fan-out, introspection, aliases x nodes, caches, suggestions
# ---------------------------------------------------------------------------------------------


# ---------------------------------------------------------------------------------------------
# Transport, secrets and readiness: body and header limits, JSON depth, JSON refusals,
# development secret, /readyz, HTTP subscriptions, invalid Unicode
# ---------------------------------------------------------------------------------------------


# ---------------------------------------------------------------------------------------------
# Visibility and abuse: guessable ids, User nodes, revoked invitations, oversized ids,
# invitation floods
# ---------------------------------------------------------------------------------------------

EVENT_NODES = """query($ids: [ID!]!) { nodes(ids: $ids) { id ... on Event {
  title owner { username displayName avatarUrl } } } }"""
USER_NODES = """query($ids: [ID!]!) { nodes(ids: $ids) { id ... on User {
  username firstName lastName role bio timezone } } }"""
SHARE = "query($id: ID!) { event(id: $id) { shareToken owner { avatarUrl } } }"
BY_SHARE = "query($t: String!) { eventByShareToken(token: $t) { id title owner { username } } }"
BIG = "1234567890123456789012345678901234567890"  # 40 digits: no BIGINT holds it


async def _set_avatar_key(server: Any, user_id: str) -> str:
    """Gives a user a profile picture key at the store level (the URL is all that is tested)."""
    key = secrets.token_hex(16)
    async with server.deps.db.unit_of_work() as db:
        row = await db.get(UserRow, pk(user_id))
        assert row is not None
        row.avatar_key = key
        db.add(row)
    await accounts_uc.users_changed(server.deps, pk(user_id))
    return key


async def test_sequential_event_ids_open_no_unlisted_event(api, accounts, events, server):
    """Attack 6: anonymous `nodes` over Event:1..n listed every UNLISTED event, its owner's
    name and a working avatar URL. By id, an UNLISTED event is now hidden from outsiders like a
    missing one; only its share token (random, 144 bits) opens its public fields."""
    owner, stranger = await accounts.user(), await accounts.user()
    await _set_avatar_key(server, owner["id"])
    unlisted = [await events.create(owner["token"], visibility="UNLISTED") for _ in range(3)]
    private = await events.create(owner["token"])
    top = max(pk(e["id"]) for e in [*unlisted, private])
    ids = [to_base64("Event", n) for n in range(1, top + 3)]
    for token in (None, stranger["token"]):
        result = await api.execute(EVENT_NODES, {"ids": ids}, token=token)
        assert result == {"data": {"nodes": [None] * len(ids)}}, result
        for event in unlisted:
            by_id = await api.execute(SHARE, {"id": event["id"]}, token=token)
            assert by_id == {"data": {"event": None}}
    # the flow that stays: a member shares the token, an outsider opens the public fields
    seen = (await api.execute(SHARE, {"id": unlisted[0]["id"]}, token=owner["token"]))["data"]
    share = seen["event"]["shareToken"]
    assert len(share) >= 24 and str(pk(unlisted[0]["id"])) not in share
    opened = (await api.execute(BY_SHARE, {"t": share}, token=stranger["token"]))["data"]
    assert opened["eventByShareToken"]["id"] == unlisted[0]["id"]
    assert opened["eventByShareToken"]["owner"] == {"username": owner["username"]}
    # the avatar URL names a random key, not the account: no directory of profile pictures
    url = seen["event"]["owner"]["avatarUrl"]
    assert url.startswith("/avatars/") and f"/avatars/{pk(owner['id'])}/" not in url
    assert "k=" not in url
    await assert_still_serving(api)


async def test_a_stranger_cannot_list_accounts_by_id(api, accounts, events):
    """Attack 6: `nodes(ids: [User:1..100])` listed every account (username, names, ADMIN role,
    bio). Now only yourself and people you share an event with (admins: everyone)."""
    admin = await accounts.admin()
    others = [await accounts.user() for _ in range(3)]
    stranger = await accounts.user()
    top = max(pk(u["id"]) for u in [admin, *others, stranger])
    ids = [to_base64("User", n) for n in range(1, min(top + 3, 100) + 1)]
    result = await api.execute(USER_NODES, {"ids": ids}, token=stranger["token"])
    assert "errors" not in result, result
    seen = [n for n in result["data"]["nodes"] if n is not None]
    assert seen == [
        {
            "id": stranger["id"],
            "username": stranger["username"],
            "firstName": "Test",
            "lastName": "User",
            "role": "USER",
            "bio": "",
            "timezone": "UTC",
        }
    ]
    anonymous = await api.execute(USER_NODES, {"ids": ids})
    assert anonymous == {"data": {"nodes": [None] * len(ids)}}
    # sharing an event shows the other, as Participant.user does; the admin sees everyone
    event = await events.create(others[0]["token"])
    await events.add(others[0]["token"], event["id"], stranger)
    again = await api.execute(USER_NODES, {"ids": ids}, token=stranger["token"])
    assert {n["id"] for n in again["data"]["nodes"] if n} == {stranger["id"], others[0]["id"]}
    everyone = await api.execute(USER_NODES, {"ids": ids}, token=admin["token"])
    assert {n["id"] for n in everyone["data"]["nodes"] if n} >= {
        u["id"] for u in [admin, *others, stranger]
    }
    await assert_still_serving(api)


INVITE = """mutation($input: InviteParticipantsInput!) { inviteParticipants(input: $input) {
  invitations { id status } errors { code field message retryAfterSeconds } } }"""
MY_INVITATIONS = """{ myInvitations { id status event { title startsAt participantCount
  owner { username } } } }"""


async def test_a_closed_invitation_shows_no_event(api, accounts, events):
    """Attack 7: after revocation, `myInvitations { event { … } }` showed the PRIVATE event's
    current (renamed, moved) details. A declined or revoked invitation now opens nothing."""
    owner, bob, carol = [await accounts.user() for _ in range(3)]
    event = await events.create(owner["token"], title="Surprise party")
    sent = await api.execute(
        INVITE,
        {
            "input": {
                "eventId": event["id"],
                "invitees": [{"userId": bob["id"]}, {"userId": carol["id"]}],
            }
        },
        token=owner["token"],
    )
    bob_inv, carol_inv = [i["id"] for i in sent["data"]["inviteParticipants"]["invitations"]]
    pending = (await api.execute(MY_INVITATIONS, token=bob["token"]))["data"]["myInvitations"]
    assert pending[0]["event"]["title"] == "Surprise party"  # while pending: public fields
    revoke = """mutation($id: ID!) { revokeInvitation(input: {invitationId: $id}) {
        invitation { status } errors { code } } }"""
    decline = """mutation($id: ID!) { declineInvitation(input: {invitationId: $id}) {
        invitation { status event { title } } errors { code } } }"""
    assert (await api.execute(revoke, {"id": bob_inv}, token=owner["token"]))["data"][
        "revokeInvitation"
    ]["errors"] == []
    declined = (await api.execute(decline, {"id": carol_inv}, token=carol["token"]))["data"]
    assert declined["declineInvitation"] == {
        "invitation": {"status": "DECLINED", "event": None},
        "errors": [],
    }
    update = """mutation($input: UpdateEventInput!) { updateEvent(input: $input) {
        errors { code } } }"""
    moved = {
        "eventId": event["id"],
        "title": "Moved party",
        "startsAt": "2030-07-01T12:00:00Z",
        "endsAt": "2030-07-01T18:00:00Z",
    }
    assert (await api.execute(update, {"input": moved}, token=owner["token"]))["data"][
        "updateEvent"
    ]["errors"] == []
    node = "query($id: ID!) { node(id: $id) { ... on Invitation { status event { title } } } }"
    for person, invitation, status in ((bob, bob_inv, "REVOKED"), (carol, carol_inv, "DECLINED")):
        mine = await api.execute(MY_INVITATIONS, token=person["token"])
        assert mine == {
            "data": {"myInvitations": [{"id": invitation, "status": status, "event": None}]}
        }
        assert "Moved" not in json.dumps(mine)
        by_node = await api.execute(node, {"id": invitation}, token=person["token"])
        assert by_node == {"data": {"node": {"status": status, "event": None}}}
    await assert_still_serving(api)


async def test_invitation_floods_are_rate_limited(api, accounts, events, server, mailbox):
    """Attack 9: 3 aliased `inviteParticipants` x 50 external emails sent 150 mails in one
    second, with a subject the sender wrote. Now invitations are counted per sender and hour
    (mailed ones more tightly: IVEN_RATE_INVITE_EMAIL, 50/3600 by default): the first batch
    goes, the others are RATE_LIMITED with the wait and create nothing; subjects quote only
    the cleaned, capped title."""
    owner = await accounts.user(first_name="Free", last_name="Prize")
    event = await events.create(owner["token"])
    async with server.deps.db.unit_of_work() as db:  # a title the API may refuse, stored anyway
        row = await event_store.lock_event(db, pk(event["id"]))
        assert row is not None
        row.title = "Party\r\nBcc: victim@example.com\x00 " + "x" * 150
        await event_store.save_event(db, row)
    batches = [[{"email": f"spam{b}-{n}@example.com"} for n in range(50)] for b in range(3)]
    aliased = " ".join(
        f"""b{b}: inviteParticipants(input: {{eventId: $e, invitees: $i{b},
            message: "Claim your prize at evil.example"}}) {{
            invitations {{ id }} errors {{ code field retryAfterSeconds }} }}"""
        for b in range(3)
    )
    document = (
        f"mutation($e: ID!, $i0: [InviteeInput!]!, $i1: [InviteeInput!]!, "
        f"$i2: [InviteeInput!]!) {{ {aliased} }}"
    )
    result = await api.execute(
        document,
        {"e": event["id"], "i0": batches[0], "i1": batches[1], "i2": batches[2]},
        token=owner["token"],
    )
    assert "errors" not in result, result
    first, second, third = (result["data"][f"b{b}"] for b in range(3))
    assert first["errors"] == [] and len(first["invitations"]) == 50
    for refused in (second, third):
        assert refused["invitations"] == []
        error = assert_payload_error(refused, "RATE_LIMITED", ["input", "invitees"])
        assert 0 < error["retryAfterSeconds"] <= 3600
    listed = await api.execute(
        "query($id: ID!) { event(id: $id) { invitations { inviteeEmail } } }",
        {"id": event["id"]},
        token=owner["token"],
    )
    stored = {i["inviteeEmail"] for i in listed["data"]["event"]["invitations"]}
    assert stored == {i["email"] for i in batches[0]}  # nothing stored for the refused ones
    await drain_background()
    mailed = [m for m in mailbox.messages if any("spam" in to for to in m["to"])]
    assert {m["to"][0] for m in mailed} == stored  # one mail each, none for the refused
    for mail in mailed:
        subject = str(make_header(decode_header(mail["subject"])))
        assert subject.startswith('Invitation to "Party Bcc: victim@example.com xxx')
        assert len(subject) <= len('Invitation to "" on IVEN') + 60
        assert "\r" not in subject and "\n" not in subject and "\x00" not in subject
        assert "prize" not in subject.lower()  # neither the message nor the sender's name
    await assert_still_serving(api)


NODE = "query($id: ID!) { node(id: $id) { id } }"
NODE_TYPES = (
    "Album Article AuditEntry Event Expense Invitation InviteLink JoinRequest Media "
    "MediaComment Message Notification Participant Session Settlement Task User"
).split()


def _cursor(*parts: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(parts).encode()).decode().rstrip("=")


async def test_oversized_numbers_in_ids_are_not_found(api, accounts, events):
    """Attack 12b: a 40-digit number in a global id raised OverflowError (an internal error).
    Ids that fit no signed 64-bit key are missing objects; such cursors are bad input."""
    owner = await accounts.user()
    admin = await accounts.admin()
    event = await events.create(owner["token"])
    for type_name in NODE_TYPES:
        gid = to_base64(type_name, BIG)
        for token in (owner["token"], admin["token"], None):
            one = await api.execute(NODE, {"id": gid}, token=token)
            assert one == {"data": {"node": None}}, (type_name, one)
        many = await api.execute(
            "query($ids: [ID!]!) { nodes(ids: $ids) { id } }",
            {"ids": [gid, to_base64(type_name, "-" + BIG)]},
            token=admin["token"],
        )
        assert many == {"data": {"nodes": [None, None]}}, (type_name, many)
    direct = await api.execute(
        "query($id: ID!) { event(id: $id) { id } }", {"id": to_base64("Event", BIG)}
    )
    assert direct == {"data": {"event": None}}
    update = await api.execute(
        """mutation($input: UpdateEventInput!) { updateEvent(input: $input) {
            errors { code } } }""",
        {"input": {"eventId": to_base64("Event", BIG), "title": "x"}},
        token=owner["token"],
    )
    assert_error(update, "NOT_FOUND")
    accept = await api.execute(
        """mutation($id: ID!) { acceptInvitation(input: {invitationId: $id}) {
            errors { code } } }""",
        {"id": to_base64("Invitation", BIG)},
        token=owner["token"],
    )
    assert_error(accept, "NOT_FOUND")
    invite = await api.execute(
        INVITE,
        {"input": {"eventId": event["id"], "invitees": [{"userId": to_base64("User", BIG)}]}},
        token=owner["token"],
    )
    assert_payload_error(invite["data"]["inviteParticipants"], "USER_NOT_FOUND")
    cursors = {
        "{ myEvents(after: $c) { edges { cursor } } }": _cursor("2030-01-01T00:00:00+00:00", BIG),
        "{ articles(after: $c) { edges { cursor } } }": _cursor(
            "2030-01-01T00:00:00+00:00", int(BIG)
        ),
        "{ adminUsers(after: $c) { edges { cursor } } }": _cursor(int(BIG)),
    }
    for selection, cursor in cursors.items():
        answer = await api.execute(
            f"query($c: String!) {selection}", {"c": cursor}, token=admin["token"]
        )
        assert_error(answer, "BAD_USER_INPUT")
    for field in (
        "participants(after: $c) { edges { cursor } }",
        "activity(after: $c) { edges { cursor } }",
    ):
        answer = await api.execute(
            f"query($id: ID!, $c: String!) {{ event(id: $id) {{ {field} }} }}",
            {"id": event["id"], "c": _cursor(int(BIG))},
            token=owner["token"],
        )
        assert_error(answer, "BAD_USER_INPUT")
    await assert_still_serving(api)


# ---------------------------------------------------------------------------------------------
# Text, sign-in and uploads: control characters, lock-out, register, upload amplification
# ---------------------------------------------------------------------------------------------
