"""Events and membership through the API: create, read, edit, cancel, delete, links, roles."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from strawberry.relay import to_base64

from tests.conftest import cold_caches
from tests.factories import EVENT_FIELDS
from tests.support import assert_error, assert_payload_error
from tests.support.events import REMOVE, ROLE
from tests.support.live import until
from tests.support.tasks import create_task

EVENT = f"query($id: ID!) {{ event(id: $id) {{ {EVENT_FIELDS} }} }}"
UPDATE = f"""mutation($input: UpdateEventInput!) {{ updateEvent(input: $input) {{
  event {{ {EVENT_FIELDS} }} errors {{ code field message }} }} }}"""
CREATE = f"""mutation($input: CreateEventInput!) {{ createEvent(input: $input) {{
  event {{ {EVENT_FIELDS} }} errors {{ code field message }} }} }}"""


def later(days: int) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).isoformat()


async def my_event_ids(api: Any, token: str) -> list[str]:
    """The ids of all the viewer's events, past and future."""
    mine = await api.execute(
        "{ myEvents(filter: {when: ALL}) { edges { node { id } } } }", token=token
    )
    return [e["node"]["id"] for e in mine["data"]["myEvents"]["edges"]]


async def test_create_and_read_an_event(api, accounts, events):
    alice = await accounts.user()
    event = await events.create(
        alice["token"],
        title="  Picnic  ",
        description="Bring food",
        location={"name": "Parc", "address": "1 rue X", "latitude": 48.85, "longitude": 2.35},
        capacity=10,
    )
    assert event["title"] == "Picnic"
    assert event["startsAt"] == "2030-06-01T10:00:00+00:00"
    assert event["status"] == "ACTIVE" and event["visibility"] == "PRIVATE"
    assert event["viewerRole"] == "OWNER" and event["participantCount"] == 1
    assert event["owner"]["id"] == alice["id"]
    assert event["location"] == {
        "name": "Parc",
        "address": "1 rue X",
        "latitude": 48.85,
        "longitude": 2.35,
    }
    assert event["viewerParticipation"]["role"] == "OWNER"
    read = (await api.execute(EVENT, {"id": event["id"]}, token=alice["token"]))["data"]["event"]
    assert read == event
    mine = await api.execute("{ myEvents { edges { node { id } } } }", token=alice["token"])
    assert [e["node"]["id"] for e in mine["data"]["myEvents"]["edges"]] == [event["id"]]


async def test_bad_input_gets_typed_errors_and_creates_nothing(api, accounts):
    alice = await accounts.user()
    result = await api.execute(
        CREATE,
        {
            "input": {
                "title": " ",
                "startsAt": "2030-06-02T12:00:00Z",
                "endsAt": "2030-06-01T12:00:00Z",
                "currency": "XXX",
                "timezone": "Mars/Olympus",
                "capacity": 0,
                "description": "x" * 5001,
                "location": {"latitude": 91, "longitude": 0},
            }
        },
        token=alice["token"],
    )
    payload = result["data"]["createEvent"]
    assert payload["event"] is None
    codes = {(e["code"], tuple(e["field"] or ())) for e in payload["errors"]}
    assert codes == {
        ("INVALID_TITLE", ("input", "title")),
        ("INVALID_DATES", ("input", "endsAt")),
        ("INVALID_CURRENCY", ("input", "currency")),
        ("INVALID_TIMEZONE", ("input", "timezone")),
        ("INVALID_CAPACITY", ("input", "capacity")),
        ("VALUE_TOO_LONG", ("input", "description")),
        ("INVALID_LOCATION", ("input", "location", "latitude")),
    }
    assert await my_event_ids(api, alice["token"]) == []


async def test_naive_times_are_invalid_dates_and_create_nothing(api, accounts):
    alice = await accounts.user()
    naive = await api.execute(
        CREATE,
        {
            "input": {
                "title": "x",
                "startsAt": "2030-06-01T12:00:00",
                "endsAt": "2030-06-01T13:00:00",
                "currency": "EUR",
            }
        },
        token=alice["token"],
    )
    assert_payload_error(naive["data"]["createEvent"], "INVALID_DATES")
    assert await my_event_ids(api, alice["token"]) == []


async def test_anonymous_cannot_create_an_event(api):
    anonymous = await api.execute(
        CREATE,
        {"input": {"title": "x", "startsAt": later(1), "endsAt": later(2), "currency": "EUR"}},
    )
    assert_error(anonymous, "UNAUTHENTICATED")


MISSING_EVENT = to_base64("Event", 987654)
NODE_ID = "query($id: ID!) { node(id: $id) { id } }"


async def private_or_missing(accounts: Any, events: Any, which: str) -> tuple[Any, str]:
    """An outsider, and the id of alice's private event or of an event that does not exist."""
    alice = await accounts.user()
    mallory = await accounts.user()
    event = await events.create(alice["token"])
    return mallory, (event["id"] if which == "private" else MISSING_EVENT)


@pytest.mark.parametrize("which", ["private", "missing"])
async def test_an_outsider_reads_a_private_event_as_a_missing_one(api, accounts, events, which):
    mallory, event_id = await private_or_missing(accounts, events, which)
    seen = await api.execute(EVENT, {"id": event_id}, token=mallory["token"])
    assert seen == {"data": {"event": None}}
    node = await api.execute(NODE_ID, {"id": event_id}, token=mallory["token"])
    assert node == {"data": {"node": None}}


@pytest.mark.parametrize("which", ["private", "missing"])
@pytest.mark.parametrize(
    ("mutation", "extra"),
    [("updateEvent", {"title": "mine"}), ("cancelEvent", {}), ("deleteEvent", {})],
    ids=["update", "cancel", "delete"],
)
async def test_an_outsider_edits_a_private_event_as_a_missing_one(
    api, accounts, events, which, mutation, extra
):
    mallory, event_id = await private_or_missing(accounts, events, which)
    input_type = "UpdateEventInput" if mutation == "updateEvent" else "EventRefInput"
    result = await api.execute(
        f"mutation($input: {input_type}!) {{ {mutation}(input: $input) {{ errors {{ code }} }} }}",
        {"input": {"eventId": event_id, **extra}},
        token=mallory["token"],
    )
    error = assert_error(result, "NOT_FOUND")
    assert error["message"] == "Event not found."


@pytest.mark.parametrize("which", ["private", "missing"])
async def test_an_outsider_rsvps_to_a_private_event_as_a_missing_one(api, accounts, events, which):
    mallory, event_id = await private_or_missing(accounts, events, which)
    rsvp = await api.execute(
        "mutation($id: ID!) { setRsvp(input: {eventId: $id, status: GOING}) { errors { code } } }",
        {"id": event_id},
        token=mallory["token"],
    )
    assert_error(rsvp, "NOT_FOUND")


async def test_anonymous_reads_a_private_event_as_nothing(api, accounts, events):
    alice = await accounts.user()
    event = await events.create(alice["token"])
    assert (await api.execute(EVENT, {"id": event["id"]}))["data"]["event"] is None


SHARE_TOKEN = "query($id: ID!) { event(id: $id) { shareToken } }"


async def share_token_of(api: Any, token: str, event_id: str) -> str:
    """The event's share token, as a participant reads it."""
    found = (await api.execute(SHARE_TOKEN, {"id": event_id}, token=token))["data"]["event"]
    assert found and found["shareToken"], found
    return found["shareToken"]  # type: ignore[no-any-return]


PUBLIC_FIELDS = """title description location { name } shareToken
    viewerRole participantCount participants { edges { node { id } } } owner { username }"""
BY_ID = f"query($id: ID!) {{ event(id: $id) {{ {PUBLIC_FIELDS} }} }}"
BY_TOKEN = f"query($t: String!) {{ eventByShareToken(token: $t) {{ {PUBLIC_FIELDS} }} }}"


async def unlisted_event(api: Any, accounts: Any, events: Any) -> dict[str, Any]:
    """alice's unlisted event with a description and a location, its share token, and bob."""
    alice = await accounts.user()
    bob = await accounts.user()
    event = await events.create(
        alice["token"], visibility="UNLISTED", description="secret", location={"name": "Home"}
    )
    share = await share_token_of(api, alice["token"], event["id"])
    return {"alice": alice, "bob": bob, "event": event, "share": share}


async def test_an_unlisted_event_id_opens_nothing_to_an_outsider(api, accounts, events):
    u = await unlisted_event(api, accounts, events)
    assert len(u["share"]) >= 24
    # its sequential id opens nothing to an outsider: exactly a missing event's answer
    assert (await api.execute(BY_ID, {"id": u["event"]["id"]}, token=u["bob"]["token"])) == {
        "data": {"event": None}
    }


@pytest.mark.parametrize("viewer", ["outsider", "anonymous"])
async def test_a_share_token_opens_an_unlisted_events_public_fields(api, accounts, events, viewer):
    u = await unlisted_event(api, accounts, events)
    token = u["bob"]["token"] if viewer == "outsider" else None
    # signed in or not, the share token opens it
    seen = (await api.execute(BY_TOKEN, {"t": u["share"]}, token=token))["data"]
    assert seen["eventByShareToken"] == {
        "title": "Picnic",
        "description": None,
        "location": None,
        "shareToken": None,
        "viewerRole": None,
        "participantCount": 1,
        "participants": None,
        "owner": {"username": u["alice"]["username"]},
    }


async def test_a_participant_reads_the_whole_event_by_share_token(api, accounts, events):
    u = await unlisted_event(api, accounts, events)
    mine = (await api.execute(BY_TOKEN, {"t": u["share"]}, token=u["alice"]["token"]))["data"]
    assert mine["eventByShareToken"]["description"] == "secret"


@pytest.mark.parametrize("wrong", ["empty", "truncated", "extended", "long"])
async def test_a_wrong_share_token_opens_nothing(api, accounts, events, wrong):
    u = await unlisted_event(api, accounts, events)
    share = u["share"]
    token = {"empty": "", "truncated": share[:-1], "extended": share + "x", "long": "x" * 1000}
    answer = await api.execute(BY_TOKEN, {"t": token[wrong]}, token=u["bob"]["token"])
    assert answer == {"data": {"eventByShareToken": None}}


async def test_an_outsider_cannot_edit_an_unlisted_event(api, accounts, events):
    u = await unlisted_event(api, accounts, events)
    result = await api.execute(
        UPDATE, {"input": {"eventId": u["event"]["id"], "title": "x"}}, token=u["bob"]["token"]
    )
    assert_error(result, "NOT_FOUND")


async def test_a_private_events_share_token_opens_nothing_to_outsiders(api, accounts, events):
    u = await unlisted_event(api, accounts, events)
    await api.execute(
        UPDATE,
        {"input": {"eventId": u["event"]["id"], "visibility": "PRIVATE"}},
        token=u["alice"]["token"],
    )
    hidden = await api.execute(BY_TOKEN, {"t": u["share"]}, token=u["bob"]["token"])
    assert hidden == {"data": {"eventByShareToken": None}}


async def test_concurrent_edits_with_one_expected_version_one_wins(api, accounts, events):
    alice = await accounts.user()
    bob = await accounts.user()
    event = await events.create(alice["token"], capacity=5)
    await events.add(alice["token"], event["id"], bob, role="ORGANIZER")
    v = event["version"]
    first, second = await asyncio.gather(
        api.execute(
            UPDATE,
            {"input": {"eventId": event["id"], "title": "A", "expectedVersion": v}},
            token=alice["token"],
        ),
        api.execute(
            UPDATE,
            {"input": {"eventId": event["id"], "title": "B", "expectedVersion": v}},
            token=bob["token"],
        ),
    )
    outcomes = sorted(
        [
            bool(first["data"]["updateEvent"]["errors"]),
            bool(second["data"]["updateEvent"]["errors"]),
        ]
    )
    assert outcomes == [False, True]  # one wins, the other is told its copy is stale
    loser = first if first["data"]["updateEvent"]["errors"] else second
    assert_payload_error(loser["data"]["updateEvent"], "STALE", ["input", "expectedVersion"])
    read = (await api.execute(EVENT, {"id": event["id"]}, token=alice["token"]))["data"]["event"]
    assert read["version"] == v + 1 and read["title"] in {"A", "B"}


async def test_capacity_below_the_participants_is_refused(api, accounts, events):
    alice, bob = await accounts.user(), await accounts.user()
    event = await events.create(alice["token"], capacity=5)
    await events.add(alice["token"], event["id"], bob, role="ORGANIZER")
    payload = (
        await api.execute(
            UPDATE,
            {"input": {"eventId": event["id"], "clearLocation": True, "capacity": 1}},
            token=alice["token"],
        )
    )["data"]["updateEvent"]
    assert_payload_error(payload, "CAPACITY_BELOW_PARTICIPANTS")


async def test_update_sets_the_location_and_clears_the_capacity(api, accounts, events):
    alice = await accounts.user()
    event = await events.create(alice["token"], capacity=5)
    payload = (
        await api.execute(
            UPDATE,
            {
                "input": {
                    "eventId": event["id"],
                    "location": {"name": "Beach"},
                    "clearCapacity": True,
                }
            },
            token=alice["token"],
        )
    )["data"]["updateEvent"]
    assert payload["errors"] == []
    assert payload["event"]["location"]["name"] == "Beach" and payload["event"]["capacity"] is None


INVITE_LINKS = """query($id: ID!) { event(id: $id) { participantCount
    inviteLinks { id uses maxUses role } } }"""
REVOKE_LINK = """mutation($id: ID!) { revokeInviteLink(input: {inviteLinkId: $id}) {
    inviteLink { revokedAt } errors { code } } }"""


async def invite_links(api: Any, token: str, event_id: str) -> dict[str, Any]:
    """The event's participantCount and inviteLinks as `token` sees them."""
    links = await api.execute(INVITE_LINKS, {"id": event_id}, token=token)
    return links["data"]["event"]  # type: ignore[no-any-return]


async def test_joining_with_an_invite_link_is_idempotent(accounts, events):
    alice, bob = await accounts.user(), await accounts.user()
    event = await events.create(alice["token"])
    link = await events.link(alice["token"], event["id"], maxUses=5)
    joined = await events.join(bob["token"], link)
    assert joined["errors"] == [] and joined["participant"]["role"] == "PARTICIPANT"
    again = await events.join(bob["token"], link)  # idempotent
    assert again["participant"]["id"] == joined["participant"]["id"]


async def test_an_invite_link_admits_until_the_event_is_full(api, accounts, events):
    alice, bob, carol, dave = [await accounts.user() for _ in range(4)]
    event = await events.create(alice["token"], capacity=3)
    link = await events.link(alice["token"], event["id"], maxUses=5)
    assert (await events.join(bob["token"], link))["errors"] == []
    assert (await events.join(carol["token"], link))["errors"] == []
    full = await events.join(dave["token"], link)
    assert_payload_error(full, "EVENT_FULL")
    data = await invite_links(api, alice["token"], event["id"])
    assert data["participantCount"] == 3
    assert data["inviteLinks"][0]["uses"] == 2 and data["inviteLinks"][0]["maxUses"] == 5


async def test_participants_do_not_see_invite_links(api, accounts, events):
    alice, bob = await accounts.user(), await accounts.user()
    event = await events.create(alice["token"])
    await events.link(alice["token"], event["id"], maxUses=5)
    await events.add(alice["token"], event["id"], bob)
    hidden = await api.execute(
        "query($id: ID!) { event(id: $id) { inviteLinks { id } } }",
        {"id": event["id"]},
        token=bob["token"],
    )
    assert hidden["data"]["event"]["inviteLinks"] == []


async def test_only_organizers_revoke_an_invite_link_which_then_admits_nobody(
    api, accounts, events
):
    alice, bob, dave = [await accounts.user() for _ in range(3)]
    event = await events.create(alice["token"])
    link = await events.link(alice["token"], event["id"], maxUses=5)
    await events.add(alice["token"], event["id"], bob)
    # events.add leaves a used link of its own: the one under test is the one with 5 uses
    listed = (await invite_links(api, alice["token"], event["id"]))["inviteLinks"]
    [link_id] = [entry["id"] for entry in listed if entry["maxUses"] == 5]
    assert_error(await api.execute(REVOKE_LINK, {"id": link_id}, token=bob["token"]), "FORBIDDEN")
    revoked = await api.execute(REVOKE_LINK, {"id": link_id}, token=alice["token"])
    assert revoked["data"]["revokeInviteLink"]["inviteLink"]["revokedAt"]
    assert_payload_error(await events.join(dave["token"], link), "INVALID_INVITE_LINK")


async def test_an_unknown_invite_token_is_invalid(accounts, events):
    dave = await accounts.user()
    assert_payload_error(await events.join(dave["token"], "not-a-token"), "INVALID_INVITE_LINK")


async def test_a_single_use_invite_link_admits_one(accounts, events):
    alice, dave, erin = [await accounts.user() for _ in range(3)]
    event = await events.create(alice["token"])
    once = await events.link(alice["token"], event["id"], maxUses=1)
    assert (await events.join(dave["token"], once))["errors"] == []
    assert_payload_error(await events.join(erin["token"], once), "INVALID_INVITE_LINK")


async def test_bad_invite_link_input_gets_typed_errors(api, accounts, events):
    alice = await accounts.user()
    event = await events.create(alice["token"])
    bad = await api.execute(
        """mutation($input: CreateInviteLinkInput!) {
        createInviteLink(input: $input) { token errors { code field } } }""",
        {
            "input": {
                "eventId": event["id"],
                "role": "OWNER",
                "maxUses": 0,
                "expiresAt": "2001-01-01T00:00:00Z",
            }
        },
        token=alice["token"],
    )
    codes = {e["code"] for e in bad["data"]["createInviteLink"]["errors"]}
    assert codes == {"INVALID_ROLE", "INVALID_INPUT", "INVALID_DATES"}


async def test_participants_cannot_create_organizer_links(api, accounts, events):
    alice, bob = await accounts.user(), await accounts.user()
    event = await events.create(alice["token"])
    await events.add(alice["token"], event["id"], bob)
    organizer_link = await api.execute(
        """mutation($id: ID!) { createInviteLink(input:
        {eventId: $id, role: ORGANIZER}) { token } }""",
        {"id": event["id"]},
        token=bob["token"],
    )
    assert_error(organizer_link, "FORBIDDEN")


async def test_concurrent_joins_make_one_participation(api, accounts, events):
    alice = await accounts.user()
    bob = await accounts.user()
    event = await events.create(alice["token"])
    link = await events.link(alice["token"], event["id"])
    results = await asyncio.gather(*[events.join(bob["token"], link) for _ in range(4)])
    ids = {r["participant"]["id"] for r in results if r["participant"]}
    assert len(ids) == 1 and all(r["errors"] == [] for r in results)
    read = (await api.execute(EVENT, {"id": event["id"]}, token=alice["token"]))["data"]["event"]
    assert read["participantCount"] == 2


async def _members(api, token: str, event_id: str) -> dict[str, dict[str, Any]]:
    result = await api.execute(
        """query($id: ID!) { event(id: $id) { participants { edges {
        node { id role rsvp state user { username } } } } } }""",
        {"id": event_id},
        token=token,
    )
    edges = result["data"]["event"]["participants"]["edges"]
    return {e["node"]["user"]["username"]: e["node"] for e in edges}


TRANSFER = """mutation($e: ID!, $p: ID!) {
  transferOwnership(input: {eventId: $e, participantId: $p})
  { owner { role } previousOwner { role } errors { code } } }"""
LEAVE = """mutation($e: ID!) { leaveEvent(input: {eventId: $e}) { participant { state }
  errors { code } } }"""


async def members_of(accounts: Any, events: Any, bob_role: str = "PARTICIPANT") -> dict[str, Any]:
    """alice's event with bob (as `bob_role`) and carol, a participant, and their ids."""
    alice, bob, carol = [await accounts.user() for _ in range(3)]
    event = await events.create(alice["token"])
    bob_p = await events.add(alice["token"], event["id"], bob, role=bob_role)
    carol_p = await events.add(alice["token"], event["id"], carol)
    return {
        "alice": alice,
        "bob": bob,
        "carol": carol,
        "e": event["id"],
        "owner_p": event["viewerParticipation"]["id"],
        "bob_p": bob_p,
        "carol_p": carol_p,
    }


async def test_a_participant_cannot_change_roles(api, accounts, events):
    m = await members_of(accounts, events)
    assert_error(
        await api.execute(
            ROLE, {"e": m["e"], "p": m["carol_p"], "r": "ORGANIZER"}, token=m["bob"]["token"]
        ),
        "FORBIDDEN",
    )


async def test_the_owner_promotes_a_participant_to_organizer(api, accounts, events):
    m = await members_of(accounts, events)
    promoted = await api.execute(
        ROLE, {"e": m["e"], "p": m["bob_p"], "r": "ORGANIZER"}, token=m["alice"]["token"]
    )
    assert promoted["data"]["updateParticipantRole"]["participant"]["role"] == "ORGANIZER"


async def test_a_role_change_cannot_make_an_owner(api, accounts, events):
    m = await members_of(accounts, events, bob_role="ORGANIZER")
    owner_role = await api.execute(
        ROLE, {"e": m["e"], "p": m["bob_p"], "r": "OWNER"}, token=m["alice"]["token"]
    )
    assert_payload_error(owner_role["data"]["updateParticipantRole"], "INVALID_ROLE")


async def test_an_organizer_cannot_remove_the_owner(api, accounts, events):
    m = await members_of(accounts, events, bob_role="ORGANIZER")
    members = await _members(api, m["alice"]["token"], m["e"])
    owner_p = members[m["alice"]["username"]]["id"]
    assert_error(
        await api.execute(REMOVE, {"e": m["e"], "p": owner_p}, token=m["bob"]["token"]),
        "FORBIDDEN",
    )


async def test_an_organizer_removes_a_participant(api, accounts, events):
    m = await members_of(accounts, events, bob_role="ORGANIZER")
    alice, bob, carol, e = m["alice"], m["bob"], m["carol"], m["e"]
    removed = await api.execute(REMOVE, {"e": e, "p": m["carol_p"]}, token=bob["token"])
    assert removed["data"]["removeParticipant"]["participant"]["state"] == "REMOVED"
    assert (await api.execute(EVENT, {"id": e}, token=carol["token"]))["data"]["event"] is None
    assert set(await _members(api, alice["token"], e)) == {alice["username"], bob["username"]}


async def test_a_removed_participant_cannot_rejoin_through_a_link(api, accounts, events):
    m = await members_of(accounts, events, bob_role="ORGANIZER")
    await api.execute(REMOVE, {"e": m["e"], "p": m["carol_p"]}, token=m["bob"]["token"])
    link = await events.link(m["alice"]["token"], m["e"])
    assert_payload_error(await events.join(m["carol"]["token"], link), "REMOVED_FROM_EVENT")


async def test_the_owner_cannot_leave_without_transferring_ownership(api, accounts, events):
    m = await members_of(accounts, events)
    assert_payload_error(
        (await api.execute(LEAVE, {"e": m["e"]}, token=m["alice"]["token"]))["data"]["leaveEvent"],
        "OWNER_CANNOT_LEAVE",
    )


async def test_an_organizer_cannot_take_ownership(api, accounts, events):
    m = await members_of(accounts, events, bob_role="ORGANIZER")
    assert_error(
        await api.execute(TRANSFER, {"e": m["e"], "p": m["bob_p"]}, token=m["bob"]["token"]),
        "FORBIDDEN",
    )


async def owner_hands_over_and_leaves(api: Any, accounts: Any, events: Any) -> dict[str, Any]:
    """alice hands her event over to bob, an organizer, and leaves it."""
    alice, bob = await accounts.user(), await accounts.user()
    event = await events.create(alice["token"])
    bob_p = await events.add(alice["token"], event["id"], bob, role="ORGANIZER")
    moved = (await api.execute(TRANSFER, {"e": event["id"], "p": bob_p}, token=alice["token"]))[
        "data"
    ]["transferOwnership"]
    left = (await api.execute(LEAVE, {"e": event["id"]}, token=alice["token"]))["data"][
        "leaveEvent"
    ]
    return {"alice": alice, "bob": bob, "e": event["id"], "moved": moved, "left": left}


async def test_the_owner_transfers_ownership_then_leaves(api, accounts, events):
    h = await owner_hands_over_and_leaves(api, accounts, events)
    assert h["moved"] == {
        "owner": {"role": "OWNER"},
        "previousOwner": {"role": "ORGANIZER"},
        "errors": [],
    }
    assert h["left"] == {"participant": {"state": "LEFT"}, "errors": []}
    read = (await api.execute(EVENT, {"id": h["e"]}, token=h["bob"]["token"]))["data"]["event"]
    assert read["owner"]["id"] == h["bob"]["id"] and read["participantCount"] == 1


async def test_a_participant_who_left_comes_back_through_a_link(api, accounts, events):
    h = await owner_hands_over_and_leaves(api, accounts, events)
    assert h["left"]["errors"] == []
    link = await events.link(h["bob"]["token"], h["e"])
    assert (await events.join(h["alice"]["token"], link))["errors"] == []


RSVP = """mutation($e: ID!, $s: Rsvp!) { setRsvp(input: {eventId: $e, status: $s}) {
    participant { rsvp } errors { code } } }"""
CANCEL = """mutation($e: ID!) { cancelEvent(input: {eventId: $e}) { event { status }
    errors { code } } }"""
DELETE = """mutation($e: ID!) { deleteEvent(input: {eventId: $e}) { deletedEventId
    errors { code } } }"""


async def owner_and_participant(accounts: Any, events: Any) -> tuple[Any, Any, dict[str, Any]]:
    alice = await accounts.user()
    bob = await accounts.user()
    event = await events.create(alice["token"])
    await events.add(alice["token"], event["id"], bob)
    return alice, bob, event


async def test_a_participant_sets_an_rsvp(api, accounts, events):
    _, bob, event = await owner_and_participant(accounts, events)
    done = await api.execute(RSVP, {"e": event["id"], "s": "MAYBE"}, token=bob["token"])
    assert done["data"]["setRsvp"] == {"participant": {"rsvp": "MAYBE"}, "errors": []}


async def test_only_the_owner_cancels_an_event(api, accounts, events):
    alice, bob, event = await owner_and_participant(accounts, events)
    assert_error(await api.execute(CANCEL, {"e": event["id"]}, token=bob["token"]), "FORBIDDEN")
    cancelled = await api.execute(CANCEL, {"e": event["id"]}, token=alice["token"])
    assert cancelled["data"]["cancelEvent"] == {"event": {"status": "CANCELLED"}, "errors": []}


async def test_no_rsvp_to_a_cancelled_event(api, accounts, events):
    alice, bob, event = await owner_and_participant(accounts, events)
    await api.execute(CANCEL, {"e": event["id"]}, token=alice["token"])
    again = await api.execute(RSVP, {"e": event["id"], "s": "GOING"}, token=bob["token"])
    assert_payload_error(again["data"]["setRsvp"], "EVENT_CANCELLED")


async def test_only_the_owner_deletes_an_event(api, accounts, events):
    alice, bob, event = await owner_and_participant(accounts, events)
    assert_error(await api.execute(DELETE, {"e": event["id"]}, token=bob["token"]), "FORBIDDEN")
    deleted = await api.execute(DELETE, {"e": event["id"]}, token=alice["token"])
    assert deleted["data"]["deleteEvent"] == {"deletedEventId": event["id"], "errors": []}


@pytest.mark.parametrize("who", ["owner", "participant"])
async def test_a_deleted_event_is_gone(api, accounts, events, who):
    alice, bob, event = await owner_and_participant(accounts, events)
    deleted = await api.execute(DELETE, {"e": event["id"]}, token=alice["token"])
    assert deleted["data"]["deleteEvent"]["errors"] == []
    user = alice if who == "owner" else bob
    assert (await api.execute(EVENT, {"id": event["id"]}, token=user["token"]))["data"][
        "event"
    ] is None


async def test_my_events_filters_and_pages(api, accounts, events):
    alice = await accounts.user()
    bob = await accounts.user()
    past = await events.create(alice["token"], title="past", startsAt=later(-10), endsAt=later(-9))
    soon = await events.create(alice["token"], title="soon", startsAt=later(1), endsAt=later(2))
    later_one = await events.create(
        alice["token"], title="later", startsAt=later(5), endsAt=later(6)
    )
    theirs = await events.create(bob["token"], title="bob's", startsAt=later(3), endsAt=later(4))
    await events.add(bob["token"], theirs["id"], alice)

    async def titles(filter: dict[str, Any], first: int = 20, after: str | None = None):
        result = await api.execute(
            """query($f: MyEventsFilter, $first: Int, $after: String) {
            myEvents(first: $first, after: $after, filter: $f) { edges { node { title } }
            pageInfo { hasNextPage endCursor } } }""",
            {"f": filter, "first": first, "after": after},
            token=alice["token"],
        )
        page = result["data"]["myEvents"]
        return [e["node"]["title"] for e in page["edges"]], page["pageInfo"]

    assert (await titles({}))[0] == ["soon", "bob's", "later"]
    assert (await titles({"when": "PAST"}))[0] == ["past"]
    assert (await titles({"when": "ALL", "role": "PARTICIPANT"}))[0] == ["bob's"]
    first_page, info = await titles({"when": "ALL"}, first=2)
    assert first_page == ["past", "soon"] and info["hasNextPage"]
    second_page, info = await titles({"when": "ALL"}, first=2, after=info["endCursor"])
    assert second_page == ["bob's", "later"] and not info["hasNextPage"]
    await api.execute(
        """mutation($e: ID!) { cancelEvent(input: {eventId: $e}) { errors
        { code } } }""",
        {"e": later_one["id"]},
        token=alice["token"],
    )
    assert (await titles({"status": "CANCELLED"}))[0] == ["later"]
    assert soon and past


async def test_create_event_is_idempotent_with_client_mutation_id(api, accounts):
    alice = await accounts.user()
    data = {
        "title": "Once",
        "startsAt": later(1),
        "endsAt": later(2),
        "currency": "EUR",
        "clientMutationId": "abc-123",
    }
    first, second = await asyncio.gather(
        api.execute(CREATE, {"input": data}, token=alice["token"]),
        api.execute(CREATE, {"input": data}, token=alice["token"]),
    )
    a = first["data"]["createEvent"]["event"]
    b = second["data"]["createEvent"]["event"]
    assert a["id"] == b["id"]
    mine = await api.execute("{ myEvents { edges { node { id } } } }", token=alice["token"])
    assert len(mine["data"]["myEvents"]["edges"]) == 1


async def test_my_events_statement_count_does_not_grow(api, accounts, events, caplog, server):

    caplog.set_level(logging.INFO, logger="iven.graphql")
    alice = await accounts.user()
    query = """query Page { myEvents(first: 50) { edges { node { title owner { username }
        participantCount viewerRole participants { edges { node { role user { username } } } }
        } } } }"""

    async def statements() -> int:
        await cold_caches(server.deps)  # count the cold path
        caplog.clear()
        result = await api.execute(query, token=alice["token"])
        assert "errors" not in result, result
        line = [r for r in caplog.records if getattr(r, "operation", None) == "Page"][-1]
        count: int = line.statements
        return count

    await events.create(alice["token"], startsAt=later(1), endsAt=later(2))
    small = await statements()
    friends = [await accounts.user() for _ in range(3)]
    for _ in range(4):
        event = await events.create(alice["token"], startsAt=later(1), endsAt=later(2))
        for friend in friends:
            await events.add(alice["token"], event["id"], friend)
    large = await statements()
    assert small == large <= 4


async def test_event_reads_use_the_read_cache_and_writes_invalidate_it(
    api, accounts, events, server, caplog
):
    caplog.set_level(logging.INFO, logger="iven.graphql")
    alice, bob, carol = [await accounts.user() for _ in range(3)]
    event = await events.create(alice["token"], visibility="UNLISTED")
    await events.add(alice["token"], event["id"], bob)
    query = """query Read($id: ID!) { event(id: $id) { title participantCount
        participants { edges { node { user { username } } } } } }"""

    share = await share_token_of(api, alice["token"], event["id"])
    by_token = """query Read($t: String!) { eventByShareToken(token: $t) { title participantCount
        participants { edges { node { user { username } } } } } }"""

    async def read(token: str, *, shared: bool = False) -> tuple[Any, int]:
        caplog.clear()
        if shared:  # as an outsider reaches it
            result = await api.execute(by_token, {"t": share}, token=token)
            found = result["data"]["eventByShareToken"]
        else:
            result = await api.execute(query, {"id": event["id"]}, token=token)
            found = result["data"]["event"]
        line = [r for r in caplog.records if getattr(r, "operation", None) == "Read"][-1]
        return found, line.statements

    first, _ = await read(alice["token"])
    assert first["participantCount"] == 2
    cached = [k async for k in server.deps.redis.scan_iter(match="iven:cache:event*")]
    assert len(cached) == 2  # the event row and its participants

    async def served_from_cache() -> bool:  # only the viewer's membership, read fresh (an
        # invalidation of the writes above may still be on its way on a loaded machine)
        again, statements = await read(alice["token"])
        assert again == first
        return statements == 1

    await until(served_from_cache, "a read served from the cache")

    await api.execute(
        UPDATE, {"input": {"eventId": event["id"], "title": "Renamed"}}, token=alice["token"]
    )
    assert (await read(alice["token"]))[0]["title"] == "Renamed"

    # removal takes effect at once, for the removed person and in the lists
    members = await _members(api, alice["token"], event["id"])
    await api.execute(
        REMOVE, {"e": event["id"], "p": members[bob["username"]]["id"]}, token=alice["token"]
    )
    assert (await read(alice["token"]))[0]["participantCount"] == 1
    assert (await read(bob["token"]))[0] is None  # an outsider now: nothing by its id
    seen_by_bob = (await read(bob["token"], shared=True))[0]
    assert seen_by_bob["participants"] is None  # and public fields only by its share token

    # turning the event private hides it from outsiders at once
    assert (await read(carol["token"], shared=True))[0]["title"] == "Renamed"
    await api.execute(
        UPDATE, {"input": {"eventId": event["id"], "visibility": "PRIVATE"}}, token=alice["token"]
    )
    assert (await read(carol["token"], shared=True))[0] is None


async def test_deleting_an_account_that_owns_events(api, accounts, events):
    alice, bob = await accounts.user(), await accounts.user()
    solo = await events.create(alice["token"], title="Solo")
    shared = await events.create(alice["token"], title="Shared")
    bob_p = await events.add(alice["token"], shared["id"], bob)
    delete = """mutation($pw: String!) { deleteAccount(input: {password: $pw}) {
        ok errors { code } } }"""
    refused = (await api.execute(delete, {"pw": alice["password"]}, token=alice["token"]))["data"][
        "deleteAccount"
    ]
    assert_payload_error(refused, "OWNS_EVENTS")
    await api.execute(TRANSFER, {"e": shared["id"], "p": bob_p}, token=alice["token"])
    done = (await api.execute(delete, {"pw": alice["password"]}, token=alice["token"]))["data"][
        "deleteAccount"
    ]
    assert done == {"ok": True, "errors": []}
    read = await api.execute(
        """query($id: ID!) { event(id: $id) { participantCount
        balances { participant { displayName user { id } state } } } }""",
        {"id": shared["id"]},
        token=bob["token"],
    )
    assert read["data"]["event"]["participantCount"] == 1
    bob_read = await api.execute(
        "query($id: ID!) { event(id: $id) { title } }", {"id": solo["id"]}, token=bob["token"]
    )
    assert bob_read["data"]["event"] is None  # alice's solo event went with her account


async def test_a_rejected_token_is_an_error_not_anonymity(api, accounts, events):
    alice = await accounts.user()
    event = await events.create(alice["token"], visibility="UNLISTED")
    for query in (EVENT, "query($id: ID!) { node(id: $id) { id } }"):
        assert_error(
            await api.execute(query, {"id": event["id"]}, token="not-a-token"), "UNAUTHENTICATED"
        )
        assert "errors" not in await api.execute(query, {"id": event["id"]})  # anonymous: fine


# --- participantId: a Participant id or the same person's User id (issue 17) -------------------

REMOVE_WITH_FIELD = """mutation($e: ID!, $p: ID!) { removeParticipant(input: {eventId: $e,
  participantId: $p}) { participant { id state } errors { code field } } }"""


async def test_a_user_id_names_the_participant_of_that_person(api, accounts, events):
    m = await members_of(accounts, events)
    promoted = await api.execute(
        ROLE, {"e": m["e"], "p": m["bob"]["id"], "r": "ORGANIZER"}, token=m["alice"]["token"]
    )
    assert promoted["data"]["updateParticipantRole"] == {
        "participant": {"role": "ORGANIZER"},
        "errors": [],
    }
    removed = await api.execute(
        REMOVE_WITH_FIELD, {"e": m["e"], "p": m["carol"]["id"]}, token=m["alice"]["token"]
    )
    assert removed["data"]["removeParticipant"] == {
        "participant": {"id": m["carol_p"], "state": "REMOVED"},
        "errors": [],
    }
    await create_task(api, m["alice"], m["e"], "Bob's", assigneeIds=[m["bob_p"]])
    await create_task(api, m["alice"], m["e"], "Anyone's")
    listed = await api.execute(
        """query($e: ID!, $u: ID!) { event(id: $e) { tasks(assigneeId: $u) { edges { node {
        title } } } } }""",
        {"e": m["e"], "u": m["bob"]["id"]},
        token=m["alice"]["token"],
    )
    assert listed["data"]["event"]["tasks"]["edges"] == [{"node": {"title": "Bob's"}}]


@pytest.mark.parametrize(
    "wrong",
    ["not an id!", to_base64("Event", 1), "outsider"],
    ids=["garbage", "another kind", "a user who is not in the event"],
)
async def test_a_participant_id_that_names_nobody_is_a_payload_error(api, accounts, events, wrong):
    m = await members_of(accounts, events)
    if wrong == "outsider":
        wrong = (await accounts.user())["id"]
    removed = await api.execute(
        REMOVE_WITH_FIELD, {"e": m["e"], "p": wrong}, token=m["alice"]["token"]
    )
    assert "errors" not in removed
    assert removed["data"]["removeParticipant"] == {
        "participant": None,
        "errors": [{"code": "PARTICIPANT_NOT_FOUND", "field": ["input", "participantId"]}],
    }
    assert set(await _members(api, m["alice"]["token"], m["e"])) == {
        m["alice"]["username"],
        m["bob"]["username"],
        m["carol"]["username"],
    }
