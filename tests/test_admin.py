"""Administration through GraphQL: the admin-only matrix for every operation, user management
(search, status with session revocation, roles, the last-admin rule), statistics, moderation
tombstones, the audit log and the instance settings."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from tests import media_samples as samples
from tests.factories import crew
from tests.support import assert_error, assert_payload_error, drain_outbox
from tests.support.chat import send
from tests.support.media import fetch, mutate, stored_files, uploaded

STATUS = """mutation($input: SetUserStatusInput!) { setUserStatus(input: $input) {
  user { id status disabledReason } errors { code field message } } }"""
ROLE = """mutation($input: SetUserRoleInput!) { setUserRole(input: $input) {
  user { id role } errors { code field message } } }"""
INSTANCE = """mutation($input: UpdateInstanceSettingsInput!) {
  updateInstanceSettings(input: $input) {
  instance { banner registrationsOpen } errors { code field } } }"""
REMOVE_MESSAGE = """mutation($input: AdminRemoveMessageInput!) {
  adminRemoveMessage(input: $input) {
  message { id body deleted removedByAdmin } errors { code field } } }"""
REMOVE_MEDIA = """mutation($input: AdminRemoveMediaInput!) { adminRemoveMedia(input: $input) {
  media { id removedAt urls { original } caption commentCount likeCount }
  errors { code field } } }"""
REMOVE_COMMENT = """mutation($input: AdminRemoveMediaCommentInput!) {
  adminRemoveMediaComment(input: $input) { comment { id body removedAt }
  errors { code field } } }"""
CANCEL = """mutation($input: AdminCancelEventInput!) { adminCancelEvent(input: $input) {
  event { id status } errors { code field } } }"""
USERS = """query($first: Int, $after: String, $search: String, $role: Role, $status: UserStatus) {
  adminUsers(first: $first, after: $after, search: $search, role: $role, status: $status) {
    edges { cursor node { id username email status lastLoginAt createdAt role } }
    pageInfo { hasNextPage endCursor } } }"""
STATS = """{ adminStats { usersTotal usersActive usersDisabled eventsUpcoming eventsPast
  eventsCancelled messagesRecent mediaRecent outboxPending dispatcherLagSeconds windowDays } }"""
AUDIT = """query($first: Int, $after: String, $actorId: ID, $action: AdminAction) {
  adminAuditLog(first: $first, after: $after, actorId: $actorId, action: $action) {
    edges { cursor node { id actor { id } actorUsername action targetType targetId reason
      details createdAt } } pageInfo { hasNextPage endCursor } } }"""
PUBLIC_INSTANCE = "{ instance { banner registrationsOpen } }"
REGISTER = """mutation($input: RegisterInput!) { register(input: $input) {
  user { id } errors { code } } }"""


def _gid(type_name: str, pk: Any) -> str:
    return base64.b64encode(f"{type_name}:{pk}".encode()).decode()


async def _world(api: Any, accounts: Any, events: Any) -> dict[str, Any]:
    """An admin, a user, an event with a chat message, a photo and a comment on it."""
    c = await crew(accounts, events, 3)
    owner, _, alice = c["people"]
    eid = c["event"]["id"]
    message = (await send(api, alice, eid, "Something rude"))["message"]
    photo = (await uploaded(api, alice, eid, [("p.jpg", samples.jpeg())]))[0]
    comment = (
        await mutate(
            api,
            owner,
            "commentOnMedia",
            {"mediaId": photo["id"], "body": "Nasty words"},
            "comment { id }",
        )
    )["comment"]
    admin = await accounts.admin()
    return {
        "admin": admin,
        "owner": owner,
        "alice": alice,
        "event": eid,
        "message": message["id"],
        "photo": photo["id"],
        "comment": comment["id"],
    }


# Every admin operation: (document, variables built from the world, result field).
OPERATIONS: dict[str, tuple[str, Any]] = {
    "adminUsers": (USERS, lambda w: {}),
    "adminStats": (STATS, lambda w: {}),
    "adminAuditLog": (AUDIT, lambda w: {}),
    "setUserStatus": (
        STATUS,
        lambda w: {"input": {"userId": w["alice"]["id"], "status": "DISABLED", "reason": "spam"}},
    ),
    "setUserRole": (ROLE, lambda w: {"input": {"userId": w["alice"]["id"], "role": "ADMIN"}}),
    "updateInstanceSettings": (
        INSTANCE,
        lambda w: {"input": {"registrationsOpen": False, "banner": "Maintenance"}},
    ),
    "adminRemoveMessage": (
        REMOVE_MESSAGE,
        lambda w: {"input": {"messageId": w["message"], "reason": "abuse"}},
    ),
    "adminRemoveMedia": (
        REMOVE_MEDIA,
        lambda w: {"input": {"mediaId": w["photo"], "reason": "abuse"}},
    ),
    "adminRemoveMediaComment": (
        REMOVE_COMMENT,
        lambda w: {"input": {"commentId": w["comment"], "reason": "abuse"}},
    ),
    "adminCancelEvent": (CANCEL, lambda w: {"input": {"eventId": w["event"], "reason": "fraud"}}),
}


async def _nothing_changed(api: Any, w: dict[str, Any]) -> None:
    """What the refused operations would have changed is as it was."""
    me = (await api.execute("{ me { status role } }", token=w["alice"]["token"]))["data"]["me"]
    assert me == {"status": "ACTIVE", "role": "USER"}
    assert (await api.execute(PUBLIC_INSTANCE))["data"]["instance"] == {
        "banner": None,
        "registrationsOpen": True,
    }
    found = (
        await api.execute(
            """query($m: ID!, $p: ID!, $c: ID!, $e: ID!) {
             m: node(id: $m) { ... on Message { body removedByAdmin } }
             p: node(id: $p) { ... on Media { removedAt } }
             c: node(id: $c) { ... on MediaComment { body removedAt } }
             e: node(id: $e) { ... on Event { status } } }""",
            {"m": w["message"], "p": w["photo"], "c": w["comment"], "e": w["event"]},
            token=w["owner"]["token"],
        )
    )["data"]
    assert found == {
        "m": {"body": "Something rude", "removedByAdmin": False},
        "p": {"removedAt": None},
        "c": {"body": "Nasty words", "removedAt": None},
        "e": {"status": "ACTIVE"},
    }
    audit = await api.execute(AUDIT, token=w["admin"]["token"])
    assert audit["data"]["adminAuditLog"]["edges"] == []


@pytest.mark.parametrize("name", sorted(OPERATIONS))
async def test_admin_only_matrix(name, api, accounts, events):
    w = await _world(api, accounts, events)
    document, variables = OPERATIONS[name]
    anonymous = await api.execute(document, variables(w))
    assert_error(anonymous, "UNAUTHENTICATED")
    user = await api.execute(document, variables(w), token=w["owner"]["token"])
    assert_error(user, "FORBIDDEN")
    await _nothing_changed(api, w)

    allowed = await api.execute(document, variables(w), token=w["admin"]["token"])
    assert "errors" not in allowed, allowed
    data = allowed["data"][name]
    if "errors" in data:
        assert data["errors"] == [], data


async def alice_and_bob(accounts) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """An admin, then alice_w (Alice Wonder) and bob_b (Bob Builder), in that order."""
    admin = await accounts.admin()
    alice = await accounts.user(username="alice_w", first_name="Alice", last_name="Wonder")
    bob = await accounts.user(username="bob_b", first_name="Bob", last_name="Builder")
    return admin, alice, bob


async def admin_usernames(api, admin, **variables: Any) -> list[str]:
    result = await api.execute(USERS, variables, token=admin["token"])
    return [e["node"]["username"] for e in result["data"]["adminUsers"]["edges"]]


async def test_admins_see_private_user_fields(api, accounts, events):
    admin, alice, bob = await alice_and_bob(accounts)
    query = """query($id: ID!) { node(id: $id) { ... on User { email status lastLoginAt } } }"""
    # a stranger does not find alice by id at all; once they share an event, bob sees her
    # public profile, without the private fields
    as_bob = (await api.execute(query, {"id": alice["id"]}, token=bob["token"]))["data"]["node"]
    assert as_bob is None
    shared = await events.create(alice["token"])
    await events.add(alice["token"], shared["id"], bob)
    as_bob = (await api.execute(query, {"id": alice["id"]}, token=bob["token"]))["data"]["node"]
    assert as_bob == {"email": None, "status": None, "lastLoginAt": None}
    as_admin = (await api.execute(query, {"id": alice["id"]}, token=admin["token"]))["data"]["node"]
    assert as_admin["email"] == alice["email"] and as_admin["status"] == "ACTIVE"
    assert as_admin["lastLoginAt"] is not None


ADMIN = "<the admin>"


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        ({"search": "WONDER"}, ["alice_w"]),  # name, any case
        ({"search": "bob_b@"}, ["bob_b"]),  # email
        ({"search": "%"}, []),  # wildcards are plain characters
        ({"role": "ADMIN"}, [ADMIN]),
        ({}, ["bob_b", "alice_w", ADMIN]),  # newest first
    ],
    ids=["name", "email", "wildcard", "role", "all"],
)
async def test_admins_search_users(api, accounts, variables, expected):
    admin, _, _ = await alice_and_bob(accounts)
    found = await admin_usernames(api, admin, **variables)
    assert found == [admin["username"] if name == ADMIN else name for name in expected]


async def test_admin_user_list_pages(api, accounts):
    admin, _, _ = await alice_and_bob(accounts)
    page = (await api.execute(USERS, {"first": 2}, token=admin["token"]))["data"]["adminUsers"]
    assert page["pageInfo"]["hasNextPage"]
    rest = await admin_usernames(api, admin, first=2, after=page["pageInfo"]["endCursor"])
    assert rest == [admin["username"]]


async def test_admins_filter_users_by_status(api, accounts):
    admin, _, bob = await alice_and_bob(accounts)
    await api.execute(
        STATUS,
        {"input": {"userId": bob["id"], "status": "DISABLED", "reason": "spam"}},
        token=admin["token"],
    )
    assert await admin_usernames(api, admin, status="DISABLED") == ["bob_b"]
    assert await admin_usernames(api, admin, status="ACTIVE") == ["alice_w", admin["username"]]


FORGED_CURSOR = base64.urlsafe_b64encode(b'["x"]').decode().rstrip("=")


@pytest.mark.parametrize(
    ("document", "variables"),
    [
        (USERS, {"first": 101}),
        (USERS, {"after": FORGED_CURSOR}),
        (USERS, {"after": "not a cursor"}),
        (AUDIT, {"after": FORGED_CURSOR}),
        (AUDIT, {"after": "not a cursor"}),
    ],
    ids=["users-too-many", "users-forged", "users-garbage", "audit-forged", "audit-garbage"],
)
async def test_admin_lists_refuse_a_bad_page(api, accounts, document, variables):
    admin = await accounts.admin()
    assert_error(await api.execute(document, variables, token=admin["token"]), "BAD_USER_INPUT")


async def set_status(api, admin, user, status: str, reason: str | None = None) -> dict[str, Any]:
    change = {"userId": user["id"], "status": status}
    if reason is not None:
        change["reason"] = reason
    payload: dict[str, Any] = (await api.execute(STATUS, {"input": change}, token=admin["token"]))[
        "data"
    ]["setUserStatus"]
    return payload


async def test_disabling_needs_a_reason(api, accounts):
    admin = await accounts.admin()
    alice = await accounts.user()
    payload = await set_status(api, admin, alice, "DISABLED")
    assert_payload_error(payload, "REQUIRED", ["input", "reason"])
    assert (await api.execute("{ me { id } }", token=alice["token"]))["data"]["me"]


async def test_disabling_closes_the_live_session_at_once(api, accounts):
    admin = await accounts.admin()
    alice = await accounts.user()
    async with api.ws({"authorization": f"Bearer {alice['token']}"}) as ws:
        assert (await ws.receive())["type"] == "connection_ack"
        await ws.subscribe("subscription { sessionStatus(intervalSeconds: 1) }")
        assert (await ws.receive(timeout=3))["type"] == "next"
        result = await set_status(api, admin, alice, "DISABLED", "Spam links")
        assert result == {
            "user": {"id": alice["id"], "status": "DISABLED", "disabledReason": "Spam links"},
            "errors": [],
        }
        assert await ws.closed_with(timeout=3) == 4401


async def test_disabling_revokes_every_session_and_refuses_sign_in(api, accounts):
    admin = await accounts.admin()
    alice = await accounts.user()
    other = await accounts.login(alice["email"], alice["password"])
    await set_status(api, admin, alice, "DISABLED", "Spam links")
    assert_error(await api.execute("{ me { id } }", token=alice["token"]), "UNAUTHENTICATED")
    assert_error(await api.execute("{ me { id } }", token=other["accessToken"]), "UNAUTHENTICATED")
    refreshed = await api.execute(
        """mutation($t: String!) {
        refreshSession(input: {refreshToken: $t}) { accessToken errors { code } } }""",
        {"t": alice["refresh"]},
    )
    assert refreshed["data"]["refreshSession"]["accessToken"] is None
    login = await accounts.login(alice["email"], alice["password"])
    assert [e["code"] for e in login["errors"]] == ["ACCOUNT_DISABLED"]


async def test_a_reenabled_account_signs_in_and_kept_its_data(api, accounts, events):
    admin = await accounts.admin()
    alice = await accounts.user()
    event = await events.create(alice["token"], title="Alice's party")
    await set_status(api, admin, alice, "DISABLED", "Spam links")
    await set_status(api, admin, alice, "ACTIVE")
    back = await accounts.login(alice["email"], alice["password"])
    assert back["errors"] == []
    mine = await api.execute(
        """query($id: ID!) { event(id: $id) { title } }""",
        {"id": event["id"]},
        token=back["accessToken"],
    )
    assert mine["data"]["event"]["title"] == "Alice's party"  # the data was kept


@pytest.mark.parametrize(
    ("document", "change"),
    [(ROLE, {"role": "USER"}), (STATUS, {"status": "DISABLED", "reason": "bye"})],
    ids=["demoted", "disabled"],
)
async def test_the_last_active_admin_stays(api, accounts, document, change):
    first = await accounts.admin()
    variables = {"input": {"userId": first["id"], **change}}
    result = await api.execute(document, variables, token=first["token"])
    payload = next(iter(result["data"].values()))
    assert_payload_error(payload, "LAST_ADMIN", ["input", "userId"])
    me = (await api.execute("{ me { role status } }", token=first["token"]))["data"]["me"]
    assert me == {"role": "ADMIN", "status": "ACTIVE"}


async def test_with_another_admin_an_admin_steps_down_at_once(api, accounts):
    first = await accounts.admin()
    second = await accounts.user()
    promoted = await api.execute(
        ROLE, {"input": {"userId": second["id"], "role": "ADMIN"}}, token=first["token"]
    )
    assert promoted["data"]["setUserRole"]["user"]["role"] == "ADMIN"
    # with another active admin, stepping down is allowed, and takes effect at once
    result = await api.execute(
        ROLE, {"input": {"userId": first["id"], "role": "USER"}}, token=first["token"]
    )
    assert result["data"]["setUserRole"]["errors"] == []
    assert_error(await api.execute(STATS, token=first["token"]), "FORBIDDEN")
    # now the second is the last one
    result = await api.execute(
        ROLE, {"input": {"userId": second["id"], "role": "USER"}}, token=second["token"]
    )
    assert_payload_error(result["data"]["setUserRole"], "LAST_ADMIN")


async def test_an_unknown_user_cannot_be_given_a_role(api, accounts):
    admin = await accounts.admin()
    missing = await api.execute(
        ROLE, {"input": {"userId": _gid("User", 999999), "role": "USER"}}, token=admin["token"]
    )
    assert_payload_error(missing["data"]["setUserRole"], "USER_NOT_FOUND")


async def test_stats(api, accounts, events, server):
    w = await _world(api, accounts, events)
    await events.create(
        w["owner"]["token"],
        title="Old one",
        startsAt="2020-01-01T10:00:00Z",
        endsAt="2020-01-01T12:00:00Z",
    )
    await drain_outbox(server)
    stats = (await api.execute(STATS, token=w["admin"]["token"]))["data"]["adminStats"]
    assert stats == {
        "usersTotal": 4,
        "usersActive": 4,
        "usersDisabled": 0,
        "eventsUpcoming": 1,
        "eventsPast": 1,
        "eventsCancelled": 0,
        "messagesRecent": 1,
        "mediaRecent": 1,
        "outboxPending": 0,
        "dispatcherLagSeconds": 0.0,
        "windowDays": 30,
    }
    await api.execute(
        CANCEL, {"input": {"eventId": w["event"], "reason": "fraud"}}, token=w["admin"]["token"]
    )
    await api.execute(
        STATUS,
        {"input": {"userId": w["alice"]["id"], "status": "DISABLED", "reason": "spam"}},
        token=w["admin"]["token"],
    )
    stats = (await api.execute(STATS, token=w["admin"]["token"]))["data"]["adminStats"]
    assert (stats["eventsUpcoming"], stats["eventsCancelled"], stats["usersDisabled"]) == (0, 1, 1)


# each moderation: its document and its input's target, from the world
MODERATIONS = [
    (REMOVE_MESSAGE, lambda w: {"messageId": w["message"]}),
    (REMOVE_MEDIA, lambda w: {"mediaId": w["photo"]}),
    (REMOVE_COMMENT, lambda w: {"commentId": w["comment"]}),
    (CANCEL, lambda w: {"eventId": w["event"]}),
]


@pytest.mark.parametrize(
    ("document", "target"), MODERATIONS, ids=["message", "media", "comment", "event"]
)
async def test_a_moderation_needs_a_reason(api, accounts, events, document, target):
    w = await _world(api, accounts, events)
    refused = await api.execute(
        document, {"input": {**target(w), "reason": "  "}}, token=w["admin"]["token"]
    )
    assert_payload_error(next(iter(refused["data"].values())), "REQUIRED", ["input", "reason"])
    await _nothing_changed(api, w)


async def test_a_removed_comment_stays_as_a_tombstone(api, accounts, events):
    w = await _world(api, accounts, events)
    admin, owner, alice = w["admin"], w["owner"], w["alice"]
    comment = (
        await api.execute(
            REMOVE_COMMENT,
            {"input": {"commentId": w["comment"], "reason": "insults"}},
            token=admin["token"],
        )
    )["data"]
    assert comment["adminRemoveMediaComment"]["comment"]["body"] == ""
    assert comment["adminRemoveMediaComment"]["comment"]["removedAt"] is not None
    seen = await api.execute(
        """query($id: ID!) { node(id: $id) { ... on Media {
        comments { edges { node { id body removedAt } } } } } }""",
        {"id": w["photo"]},
        token=alice["token"],
    )
    [shown] = seen["data"]["node"]["comments"]["edges"]
    assert shown["node"]["id"] == w["comment"] and shown["node"]["removedAt"] is not None
    edit = await mutate(
        api,
        owner,
        "editMediaComment",
        {"commentId": w["comment"], "body": "Sorry"},
        "comment { id }",
    )
    assert_payload_error(edit, "COMMENT_REMOVED")


async def test_a_removed_message_stays_as_a_tombstone(api, accounts, events):
    w = await _world(api, accounts, events)
    admin, owner = w["admin"], w["owner"]
    message = (
        await api.execute(
            REMOVE_MESSAGE,
            {"input": {"messageId": w["message"], "reason": "harassment"}},
            token=admin["token"],
        )
    )["data"]
    assert message["adminRemoveMessage"]["message"] == {
        "id": w["message"],
        "body": "",
        "deleted": True,
        "removedByAdmin": True,
    }
    history = await api.execute(
        """query($id: ID!) { event(id: $id) { messages(last: 5) {
        edges { node { id body deleted removedByAdmin } } } } }""",
        {"id": w["event"]},
        token=owner["token"],
    )
    assert [e["node"] for e in history["data"]["event"]["messages"]["edges"]] == [
        {"id": w["message"], "body": "", "deleted": True, "removedByAdmin": True}
    ]


async def test_removed_media_stays_as_a_tombstone_without_its_files(
    api, http, accounts, events, server
):
    w = await _world(api, accounts, events)
    admin, owner, alice = w["admin"], w["owner"], w["alice"]
    files_before = stored_files(server)
    assert files_before
    photo = (
        await api.execute(
            """query($id: ID!) { node(id: $id) { ... on Media {
        urls { original } } } }""",
            {"id": w["photo"]},
            token=owner["token"],
        )
    )["data"]["node"]
    media = (
        await api.execute(
            REMOVE_MEDIA,
            {"input": {"mediaId": w["photo"], "reason": "not allowed"}},
            token=admin["token"],
        )
    )["data"]
    tomb = media["adminRemoveMedia"]["media"]
    assert tomb["removedAt"] is not None and tomb["urls"] is None
    assert (tomb["caption"], tomb["commentCount"], tomb["likeCount"]) == ("", 0, 0)
    assert stored_files(server) == set()  # the files are gone
    assert (await fetch(http, photo["urls"]["original"])).status_code == 404
    liked = await mutate(api, owner, "likeMedia", {"mediaId": w["photo"]}, "media { id }")
    assert_payload_error(liked, "MEDIA_REMOVED")
    # the same file can be uploaded again (the tombstone does not hold it)
    again = await uploaded(api, alice, w["event"], [("p.jpg", samples.jpeg())])
    assert again[0]["id"] != w["photo"]


async def test_a_cancelled_event_cannot_be_cancelled_again_and_its_people_are_told(
    api, accounts, events, server
):
    w = await _world(api, accounts, events)
    admin, alice = w["admin"], w["alice"]
    cancelled = await api.execute(
        CANCEL, {"input": {"eventId": w["event"], "reason": "scam"}}, token=admin["token"]
    )
    assert cancelled["data"]["adminCancelEvent"]["event"]["status"] == "CANCELLED"
    twice = await api.execute(
        CANCEL, {"input": {"eventId": w["event"], "reason": "scam"}}, token=admin["token"]
    )
    assert_payload_error(twice["data"]["adminCancelEvent"], "EVENT_CANCELLED")
    await drain_outbox(server)
    inbox = await api.execute(
        "{ notifications(first: 10) { edges { node { type } } } }", token=alice["token"]
    )
    assert "EVENT_CANCELLED" in [e["node"]["type"] for e in inbox["data"]["notifications"]["edges"]]


@pytest.mark.parametrize(
    ("document", "target"),
    [
        (REMOVE_MESSAGE, {"messageId": _gid("Message", "0" * 24)}),
        (REMOVE_MEDIA, {"mediaId": _gid("Event", 1)}),
        (CANCEL, {"eventId": _gid("Event", 999999)}),
    ],
    ids=["message", "media", "event"],
)
async def test_moderating_what_does_not_exist_is_not_found(api, accounts, document, target):
    admin = await accounts.admin()
    missing = await api.execute(
        document, {"input": {**target, "reason": "x"}}, token=admin["token"]
    )
    assert_error(missing, "NOT_FOUND")  # like any id one may not see: top-level


async def audited_world(api, accounts, events) -> tuple[dict[str, Any], dict[str, Any]]:
    """The world after its admin ran six operations and another admin made alice an admin:
    (the world, the other admin)."""
    w = await _world(api, accounts, events)
    admin, alice = w["admin"], w["alice"]
    other_admin = await accounts.admin()
    token = admin["token"]
    for name in (
        "setUserStatus",
        "adminRemoveMessage",
        "adminRemoveMediaComment",
        "adminRemoveMedia",
        "adminCancelEvent",
        "updateInstanceSettings",
    ):
        document, variables = OPERATIONS[name]
        result = await api.execute(document, variables(w), token=token)
        assert next(iter(result["data"].values()))["errors"] == [], result
    await api.execute(
        ROLE,
        {"input": {"userId": alice["id"], "role": "ADMIN", "reason": "trusted"}},
        token=other_admin["token"],
    )
    return w, other_admin


async def audit_entries(api, admin) -> list[dict[str, Any]]:
    log = (await api.execute(AUDIT, token=admin["token"]))["data"]["adminAuditLog"]
    return [e["node"] for e in log["edges"]]


async def test_audit_log_records_every_action(api, accounts, events):
    w, other_admin = await audited_world(api, accounts, events)
    admin, alice = w["admin"], w["alice"]
    log = (await api.execute(AUDIT, token=admin["token"]))["data"]["adminAuditLog"]
    entries = [e["node"] for e in log["edges"]]
    assert [e["action"] for e in entries] == [
        "USER_ROLE_CHANGED",
        "INSTANCE_UPDATED",
        "EVENT_CANCELLED",
        "MEDIA_REMOVED",
        "COMMENT_REMOVED",
        "MESSAGE_REMOVED",
        "USER_DISABLED",
    ]
    role, disabled = entries[0], entries[-1]
    assert role["actor"] == {"id": other_admin["id"]} and role["targetId"] == alice["id"]
    assert role["details"] == {"before": "USER", "after": "ADMIN"} and role["reason"] == "trusted"
    assert disabled["actorUsername"] == admin["username"] and disabled["reason"] == "spam"
    assert disabled["targetType"] == "USER" and disabled["targetId"] == alice["id"]
    removed = {e["action"]: e for e in entries}
    assert removed["MESSAGE_REMOVED"]["targetId"] == w["message"]
    assert removed["MEDIA_REMOVED"]["targetId"] == w["photo"]
    assert removed["EVENT_CANCELLED"]["targetId"] == w["event"]
    assert removed["INSTANCE_UPDATED"]["details"] == {
        "banner": "Maintenance",
        "registrationsOpen": False,
    }


async def test_audit_log_filters_by_actor_and_action(api, accounts, events):
    w, other_admin = await audited_world(api, accounts, events)
    token = w["admin"]["token"]
    mine = await api.execute(AUDIT, {"actorId": other_admin["id"]}, token=token)
    assert [e["node"]["action"] for e in mine["data"]["adminAuditLog"]["edges"]] == [
        "USER_ROLE_CHANGED"
    ]
    only = await api.execute(AUDIT, {"action": "MEDIA_REMOVED"}, token=token)
    assert [e["node"]["targetId"] for e in only["data"]["adminAuditLog"]["edges"]] == [w["photo"]]


async def test_audit_log_pages(api, accounts, events):
    w, _ = await audited_world(api, accounts, events)
    token = w["admin"]["token"]
    entries = await audit_entries(api, w["admin"])
    page = (await api.execute(AUDIT, {"first": 3}, token=token))["data"]["adminAuditLog"]
    rest = await api.execute(
        AUDIT, {"first": 10, "after": page["pageInfo"]["endCursor"]}, token=token
    )
    assert [e["node"]["id"] for e in page["edges"] + rest["data"]["adminAuditLog"]["edges"]] == [
        e["id"] for e in entries
    ]


async def test_audit_entries_are_nodes_for_admins_only_and_nothing_edits_them(
    api, accounts, events
):
    w, _ = await audited_world(api, accounts, events)
    token = w["admin"]["token"]
    role = (await audit_entries(api, w["admin"]))[0]
    node = """query($id: ID!) { node(id: $id) { ... on AuditEntry { reason } } }"""
    assert (await api.execute(node, {"id": role["id"]}, token=token))["data"]["node"] == {
        "reason": "trusted"
    }
    assert (await api.execute(node, {"id": role["id"]}, token=w["owner"]["token"]))["data"][
        "node"
    ] is None
    fields = await api.execute("""{ __schema { mutationType { fields { name } } } }""")
    names = [f["name"].lower() for f in fields["data"]["__schema"]["mutationType"]["fields"]]
    assert not [n for n in names if "audit" in n]


async def close_with_a_banner(api, admin) -> dict[str, Any]:
    result: dict[str, Any] = await api.execute(
        INSTANCE,
        {"input": {"registrationsOpen": False, "banner": "  Back at 18:00  "}},
        token=admin["token"],
    )
    return result


async def test_an_admin_closes_registrations_and_shows_a_trimmed_banner(api, accounts):
    admin = await accounts.admin()
    assert (await api.execute(PUBLIC_INSTANCE))["data"]["instance"] == {
        "banner": None,
        "registrationsOpen": True,
    }
    result = await api.execute(
        INSTANCE,
        {"input": {"registrationsOpen": False, "banner": "  Back at 18:00  "}},
        token=admin["token"],
    )
    assert result["data"]["updateInstanceSettings"] == {
        "instance": {"banner": "Back at 18:00", "registrationsOpen": False},
        "errors": [],
    }
    assert (await api.execute(PUBLIC_INSTANCE))["data"]["instance"] == {
        "banner": "Back at 18:00",
        "registrationsOpen": False,
    }


LATE_COMER = {
    "username": "late_comer",
    "email": "late@example.com",
    "password": "correct-horse-9",
    "firstName": "Late",
    "lastName": "Comer",
}


async def test_closed_registrations_refuse_a_sign_up(api, accounts):
    admin = await accounts.admin()
    await close_with_a_banner(api, admin)
    refused = await api.execute(REGISTER, {"input": LATE_COMER})
    assert_payload_error(refused["data"]["register"], "REGISTRATIONS_CLOSED")
    users = await api.execute(USERS, {"search": "late"}, token=admin["token"])
    assert users["data"]["adminUsers"]["edges"] == []  # nothing was created


async def test_a_banner_over_500_characters_is_refused(api, accounts):
    admin = await accounts.admin()
    too_long = await api.execute(INSTANCE, {"input": {"banner": "x" * 501}}, token=admin["token"])
    assert_payload_error(
        too_long["data"]["updateInstanceSettings"], "VALUE_TOO_LONG", ["input", "banner"]
    )


async def test_reopened_registrations_accept_a_sign_up_and_the_banner_is_cleared(api, accounts):
    admin = await accounts.admin()
    await close_with_a_banner(api, admin)
    reopened = await api.execute(
        INSTANCE, {"input": {"registrationsOpen": True, "clearBanner": True}}, token=admin["token"]
    )
    assert reopened["data"]["updateInstanceSettings"]["instance"] == {
        "banner": None,
        "registrationsOpen": True,
    }
    await accounts.register(username="late_comer")
