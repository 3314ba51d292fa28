"""Notifications: every type reaches the right people, grouping, email with quiet hours, the
reminder, the inbox and its unread count, preferences, and the live stream."""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlmodel import col, select
from strawberry.relay import GlobalID

from resolvers import notifications as uc
from resolvers import projections
from resolvers.dispatcher import DomainEvent
from schema.core import encode_cursor
from stores import outbox
from stores.db import utcnow
from tests.conftest import start_server, stop_server
from tests.factories import crew
from tests.media_samples import jpeg
from tests.support import GraphQLClient, assert_error, drain_outbox
from tests.support.chat import SEND
from tests.support.events import ACCEPT, DECLINE, INVITE, REMOVE, ROLE
from tests.support.live import until_listening, until_processes_listening
from tests.support.media import uploaded
from tests.support.tasks import CREATE_EXPENSE, CREATE_TASK, create_task, expense, run_step

INBOX = """query($first: Int, $unread: Boolean) { unreadNotificationCount
  notifications(first: $first, unreadOnly: $unread) { edges { node {
    id type title occurrences targetType targetId actor { username } actorName readAt
    event { id } } } } }"""
MARK = """mutation($input: MarkNotificationsReadInput!) { markNotificationsRead(input: $input) {
  unreadCount errors { code } } }"""
RECEIVED = """subscription { notificationReceived { unreadCount notification { type title } } }"""


async def second_session(accounts, user) -> dict[str, str]:
    signed_in = await accounts.login(user["email"], user["password"])
    return {"token": signed_in["accessToken"]}


async def inbox(api, user, **variables: Any) -> tuple[int, list[dict[str, Any]]]:
    result = await api.execute(INBOX, variables, token=user["token"])
    assert "errors" not in result, result
    data = result["data"]
    return data["unreadNotificationCount"], [e["node"] for e in data["notifications"]["edges"]]


async def types_of(api, user) -> list[str]:
    return [n["type"] for n in (await inbox(api, user))[1]]


@pytest.fixture
def clock(server):
    """Sets the server's clock (restored after the test)."""
    original = server.deps.clock

    def set_to(when: datetime) -> None:
        server.deps.clock = lambda: when

    yield set_to
    server.deps.clock = original


Person = dict[str, Any]


async def ski_weekend_invitations(
    api, accounts, events, server
) -> tuple[Person, Person, Person, dict[str, Any], dict[str, str]]:
    """The owner invites bob and carol to "Ski weekend": (owner, bob, carol, event, invitation
    ids by username)."""
    owner, bob, carol = [await accounts.user() for _ in range(3)]
    event = await events.create(owner["token"], title="Ski weekend")
    invited = (
        await api.execute(
            INVITE,
            {
                "input": {
                    "eventId": event["id"],
                    "invitees": [{"username": bob["username"]}, {"username": carol["username"]}],
                }
            },
            token=owner["token"],
        )
    )["data"]["inviteParticipants"]["invitations"]
    await drain_outbox(server)
    by_name = {i["invitee"]["username"]: i["id"] for i in invited}
    return owner, bob, carol, event, by_name


async def bob_accepts_and_is_promoted(api, owner, bob, carol, event, by_name, server) -> str:
    """Bob accepts, carol declines, the owner makes bob an organizer: bob's participant id."""
    accepted = await api.execute(ACCEPT, {"id": by_name[bob["username"]]}, token=bob["token"])
    bob_pid: str = accepted["data"]["acceptInvitation"]["participant"]["id"]
    await api.execute(DECLINE, {"id": by_name[carol["username"]]}, token=carol["token"])
    await api.execute(
        ROLE, {"e": event["id"], "p": bob_pid, "r": "ORGANIZER"}, token=owner["token"]
    )
    await drain_outbox(server)
    return bob_pid


async def test_an_invitation_notifies_the_invitee_without_showing_the_event(
    api, accounts, events, server
):
    owner, bob, _, _, _ = await ski_weekend_invitations(api, accounts, events, server)
    _, bob_inbox = await inbox(api, bob)
    assert [n["type"] for n in bob_inbox] == ["INVITATION_RECEIVED"]
    assert bob_inbox[0]["title"].endswith("invites you to Ski weekend")
    assert bob_inbox[0]["actor"]["username"] == owner["username"]
    assert bob_inbox[0]["event"] is None  # not a participant yet: the event stays hidden


async def test_answers_notify_the_inviter_and_a_new_role_the_participant(
    api, accounts, events, server
):
    owner, bob, carol, event, by_name = await ski_weekend_invitations(api, accounts, events, server)
    await bob_accepts_and_is_promoted(api, owner, bob, carol, event, by_name, server)
    assert sorted(await types_of(api, owner)) == ["INVITATION_ACCEPTED", "INVITATION_DECLINED"]
    assert await types_of(api, bob) == ["ROLE_CHANGED", "INVITATION_RECEIVED"]


async def test_removal_notifies_the_removed_participant(api, accounts, events, server):
    owner, bob, carol, event, by_name = await ski_weekend_invitations(api, accounts, events, server)
    bob_pid = await bob_accepts_and_is_promoted(api, owner, bob, carol, event, by_name, server)
    await api.execute(REMOVE, {"e": event["id"], "p": bob_pid}, token=owner["token"])
    await drain_outbox(server)
    assert (await types_of(api, bob))[0] == "REMOVED_FROM_EVENT"


async def test_a_join_request_notifies_the_owner(api, accounts, events, server):
    owner, carol = await accounts.user(), await accounts.user()
    unlisted = await events.create(owner["token"], visibility="UNLISTED")
    share = (
        await api.execute(
            "query($id: ID!) { event(id: $id) { shareToken } }",
            {"id": unlisted["id"]},
            token=owner["token"],
        )
    )["data"]["event"]["shareToken"]
    ask = """mutation($t: String!) { requestToJoin(input: {shareToken: $t}) { errors { code } } }"""
    await api.execute(ask, {"t": share}, token=carol["token"])
    await drain_outbox(server)
    assert (await types_of(api, owner))[0] == "JOIN_REQUEST"


async def test_task_steps_notify_those_involved(api, accounts, events, server):
    c = await crew(accounts, events, 4)
    owner, organizer, alice, bob = c["people"]
    task = await create_task(api, organizer, c["event"]["id"], "Tent", assigneeIds=[c["pids"][2]])
    await drain_outbox(server)
    assert await types_of(api, alice) == ["TASK_ASSIGNED"]
    assert await types_of(api, bob) == []
    await run_step(api, alice, "completeTask", task["id"])
    await drain_outbox(server)
    assert (await types_of(api, owner)) == ["TASK_COMPLETED"]
    assert "TASK_COMPLETED" in await types_of(api, organizer)
    await run_step(api, owner, "validateTask", task["id"])
    await drain_outbox(server)
    assert (await types_of(api, alice))[0] == "TASK_VALIDATED"


async def fuel_for_alice(api, c, server) -> dict[str, Any]:
    """The owner adds a 10.00 expense all owed by alice (c's third person)."""
    split = {"mode": "EXACT", "parts": [{"participantId": c["pids"][2], "value": "10.00"}]}
    created: dict[str, Any] = (
        await api.execute(
            CREATE_EXPENSE,
            expense(c, amount="10.00", title="Fuel", split=split),
            token=c["people"][0]["token"],
        )
    )["data"]["createExpense"]
    assert created["errors"] == []
    await drain_outbox(server)
    return created


async def test_a_new_expense_notifies_only_those_involved(api, accounts, events, server):
    c = await crew(accounts, events, 4)
    _, _, alice, bob = c["people"]
    await fuel_for_alice(api, c, server)
    _, alice_inbox = await inbox(api, alice)
    assert alice_inbox[0]["type"] == "EXPENSE_ADDED" and "Fuel" in alice_inbox[0]["title"]
    assert "EXPENSE_ADDED" not in await types_of(api, bob)  # not involved


async def test_an_edited_expense_notifies_and_the_notification_is_its_recipients_node(
    api, accounts, events, server
):
    c = await crew(accounts, events, 4)
    owner, _, alice, bob = c["people"]
    created = await fuel_for_alice(api, c, server)
    edit = """mutation($input: UpdateExpenseInput!) { updateExpense(input: $input) {
        errors { code } } }"""
    edited = await api.execute(
        edit,
        {"input": {"expenseId": created["expense"]["id"], "title": "Diesel"}},
        token=owner["token"],
    )
    assert edited["data"]["updateExpense"]["errors"] == []
    await drain_outbox(server)
    _, alice_inbox = await inbox(api, alice)
    assert alice_inbox[0]["type"] == "EXPENSE_EDITED" and "Diesel" in alice_inbox[0]["title"]
    node = await api.execute(
        "query($id: ID!) { node(id: $id) { ... on Notification { type } } }",
        {"id": alice_inbox[0]["id"]},
        token=alice["token"],
    )
    assert node["data"]["node"] == {"type": "EXPENSE_EDITED"}
    hidden = await api.execute(
        "query($id: ID!) { node(id: $id) { id } }", {"id": alice_inbox[0]["id"]}, token=bob["token"]
    )
    assert hidden["data"]["node"] is None  # someone else's notification


async def test_a_settlement_notifies_the_one_paid(api, accounts, events, server):
    c = await crew(accounts, events, 4)
    owner, _, alice, _ = c["people"]
    await fuel_for_alice(api, c, server)
    record = """mutation($input: RecordSettlementInput!) { recordSettlement(input: $input) {
        errors { code } } }"""
    await api.execute(
        record,
        {
            "input": {
                "eventId": c["event"]["id"],
                "fromId": c["pids"][2],
                "toId": c["pids"][0],
                "amount": "10.00",
            }
        },
        token=alice["token"],
    )
    await drain_outbox(server)
    assert (await types_of(api, owner))[0] == "SETTLEMENT_RECORDED"


async def test_new_dates_and_a_cancellation_notify_the_others_but_a_new_title_does_not(
    api, accounts, events, server
):
    c = await crew(accounts, events, 4)
    owner, bob = c["people"][0], c["people"][3]
    eid = c["event"]["id"]
    update = """mutation($input: UpdateEventInput!) { updateEvent(input: $input) {
        errors { code } } }"""
    await api.execute(
        update, {"input": {"eventId": eid, "title": "Renamed only"}}, token=owner["token"]
    )
    await drain_outbox(server)
    assert "EVENT_UPDATED" not in await types_of(api, bob)  # a title is not date or place
    await api.execute(
        update,
        {"input": {"eventId": eid, "startsAt": "2030-06-01T09:00:00Z"}},
        token=owner["token"],
    )
    await api.execute(
        """mutation($e: ID!) { cancelEvent(input: {eventId: $e}) {
        errors { code } } }""",
        {"e": eid},
        token=owner["token"],
    )
    await drain_outbox(server)
    assert (await types_of(api, bob))[:2] == ["EVENT_CANCELLED", "EVENT_UPDATED"]
    assert "EVENT_CANCELLED" not in await types_of(api, owner)  # not told of one's own doing


async def test_the_24h_reminder_is_sent_once_per_start_time(api, accounts, events, server):
    c = await crew(accounts, events, 2)
    soon = (utcnow() + timedelta(hours=20)).isoformat()
    later = (utcnow() + timedelta(hours=21)).isoformat()
    update = """mutation($input: UpdateEventInput!) { updateEvent(input: $input) {
        errors { code } } }"""
    jobs = server.deps.services.notification_jobs
    await jobs.close()  # the server's own round would take the reminder first
    try:
        await api.execute(
            update,
            {"input": {"eventId": c["event"]["id"], "startsAt": soon, "endsAt": later}},
            token=c["people"][0]["token"],
        )
        assert await uc.remind(server.deps) == 1
        assert await uc.remind(server.deps) == 0  # already reminded for this start time
    finally:
        await jobs.start()
    await drain_outbox(server)
    organizer = c["people"][1]
    reminders = [t for t in await types_of(api, organizer) if t == "EVENT_REMINDER"]
    assert reminders == ["EVENT_REMINDER"]


async def test_same_type_same_event_within_two_minutes_merge(api, accounts, events, server, clock):
    c = await crew(accounts, events, 3)
    owner, _, alice = c["people"]
    start = datetime(2030, 1, 10, 12, 0, tzinfo=UTC)
    for minute, amount in ((0, "3.00"), (1, "4.00"), (2, "5.00")):
        clock(start + timedelta(minutes=minute))
        await api.execute(CREATE_EXPENSE, expense(c, amount=amount), token=owner["token"])
        await drain_outbox(server)
    unread, notes = await inbox(api, alice)
    assert unread == 1 and len(notes) == 1
    assert notes[0]["occurrences"] == 3
    assert notes[0]["title"] == f"3 new expenses in {c['event']['title']}"
    clock(start + timedelta(minutes=5))  # past the grace window: a new one
    await api.execute(CREATE_EXPENSE, expense(c, amount="6.00"), token=owner["token"])
    await drain_outbox(server)
    unread, notes = await inbox(api, alice)
    assert unread == 2 and [n["occurrences"] for n in notes] == [1, 3]


def test_quiet_hours_hold_emails_until_morning_unless_the_event_is_today():
    paris = "Europe/Paris"
    evening = datetime(2030, 1, 10, 22, 30, tzinfo=UTC)  # 23:30 in Paris
    next_week = datetime(2030, 1, 17, 12, 0, tzinfo=UTC)
    assert uc.email_time(evening, paris, next_week) == datetime(2030, 1, 11, 7, 0, tzinfo=UTC)
    early = datetime(2030, 1, 11, 5, 0, tzinfo=UTC)  # 06:00 in Paris
    assert uc.email_time(early, paris, next_week) == datetime(2030, 1, 11, 7, 0, tzinfo=UTC)
    assert uc.email_time(early, paris, datetime(2030, 1, 11, 18, 0, tzinfo=UTC)) == early
    noon = datetime(2030, 1, 10, 11, 0, tzinfo=UTC)
    assert uc.email_time(noon, paris, next_week) == noon
    tokyo_night = datetime(2030, 1, 10, 14, 0, tzinfo=UTC)  # 23:00 in Tokyo, 15:00 in Paris
    assert uc.email_time(tokyo_night, "Asia/Tokyo", next_week) == datetime(
        2030, 1, 10, 23, 0, tzinfo=UTC
    )
    assert uc.email_time(tokyo_night, paris, next_week) == tokyo_night
    # an unknown zone counts as UTC, where 22:30 is quiet too
    assert uc.email_time(evening, "Not/AZone", next_week) == datetime(2030, 1, 11, 8, 0, tzinfo=UTC)


async def test_emails_follow_preferences_and_wait_for_the_end_of_quiet_hours(
    api, accounts, events, server, clock, mailbox
):
    c = await crew(accounts, events, 2)
    owner, organizer = c["people"]
    await api.execute(
        """mutation { updateProfile(input: {timezone: "Europe/Paris"}) {
        errors { code } } }""",
        token=organizer["token"],
    )
    night = datetime(2030, 1, 10, 22, 30, tzinfo=UTC)  # 23:30 in Paris; the event is in June
    clock(night)
    mailbox.clear()
    await api.execute(
        """mutation($e: ID!) { cancelEvent(input: {eventId: $e}) {
        errors { code } } }""",
        {"e": c["event"]["id"]},
        token=owner["token"],
    )
    await drain_outbox(server)
    jobs = uc.Jobs(server.deps)
    await jobs.run_once()
    assert mailbox.to(organizer["email"]) == []  # quiet hours
    clock(datetime(2030, 1, 11, 7, 1, tzinfo=UTC))  # 08:01 in Paris
    await jobs.run_once()
    mail = await mailbox.wait_for(organizer["email"], "is cancelled")
    assert c["event"]["title"] in mail["subject"]
    await jobs.run_once()
    assert len(mailbox.to(organizer["email"])) == 1  # sent once

    prefs = """mutation($input: UpdateNotificationPreferencesInput!) {
      updateNotificationPreferences(input: $input) { preferences { type inApp email }
      errors { code } } }"""
    result = (
        await api.execute(
            prefs,
            {"input": {"preferences": [{"type": "TASK_ASSIGNED", "inApp": False, "email": False}]}},
            token=organizer["token"],
        )
    )["data"]["updateNotificationPreferences"]
    by_type = {p["type"]: p for p in result["preferences"]}
    assert by_type["TASK_ASSIGNED"] == {"type": "TASK_ASSIGNED", "inApp": False, "email": False}
    assert by_type["INVITATION_RECEIVED"]["email"] is True  # the defaults
    assert by_type["EXPENSE_ADDED"] == {"type": "EXPENSE_ADDED", "inApp": True, "email": False}


async def three_tasks_and_an_expense(api, c, server) -> list[dict[str, Any]]:
    """The owner gives alice (c's third person) three tasks, then adds an expense: alice's
    notifications, newest first (the expense; the three tasks merged)."""
    owner, _, alice = c["people"]
    for n in range(3):
        await api.execute(
            CREATE_TASK,
            {
                "input": {
                    "eventId": c["event"]["id"],
                    "title": f"t{n}",
                    "assigneeIds": [c["pids"][2]],
                }
            },
            token=owner["token"],
        )
        await drain_outbox(server)
    await api.execute(CREATE_EXPENSE, expense(c), token=owner["token"])
    await drain_outbox(server)
    return (await inbox(api, alice))[1]


ARCHIVE = """mutation($id: ID!) { archiveNotification(input: {id: $id}) {
  notification { archivedAt } errors { code } } }"""


async def test_the_unread_count_counts_merged_notifications_once(api, accounts, events, server):
    c = await crew(accounts, events, 3)
    await three_tasks_and_an_expense(api, c, server)
    unread, notes = await inbox(api, c["people"][2])
    assert unread == 2 and [n["occurrences"] for n in notes] == [1, 3]  # expense; 3 tasks


async def test_read_marks_from_concurrent_sessions_all_apply(api, accounts, events, server):
    c = await crew(accounts, events, 3)
    alice = c["people"][2]
    notes = await three_tasks_and_an_expense(api, c, server)
    second = await second_session(accounts, alice)
    marks = [
        api.execute(MARK, {"input": {"ids": [notes[0]["id"]]}}, token=alice["token"]),
        api.execute(MARK, {"input": {"all": True}}, token=second["token"]),
        api.execute(MARK, {"input": {"ids": [notes[1]["id"]]}}, token=second["token"]),
    ]
    results = await asyncio.gather(*marks)
    assert all(r["data"]["markNotificationsRead"]["errors"] == [] for r in results)
    unread, notes = await inbox(api, alice)
    assert unread == 0 and all(n["readAt"] for n in notes)
    assert (await inbox(api, alice, unread=True))[1] == []


async def test_marking_read_takes_ids_or_all_not_both(api, accounts):
    alice = await accounts.user()
    bad = await api.execute(MARK, {"input": {"ids": [], "all": True}}, token=alice["token"])
    assert bad["data"]["markNotificationsRead"]["errors"][0]["code"] == "INVALID_INPUT"


async def test_an_archived_notification_leaves_the_inbox(api, accounts, events, server):
    c = await crew(accounts, events, 3)
    alice = c["people"][2]
    notes = await three_tasks_and_an_expense(api, c, server)
    done = await api.execute(ARCHIVE, {"id": notes[0]["id"]}, token=alice["token"])
    assert done["data"]["archiveNotification"]["notification"]["archivedAt"]
    assert len((await inbox(api, alice))[1]) == 1


async def test_someone_elses_notification_cannot_be_archived(api, accounts, events, server):
    c = await crew(accounts, events, 3)
    notes = await three_tasks_and_an_expense(api, c, server)
    stolen = await api.execute(ARCHIVE, {"id": notes[1]["id"]}, token=c["people"][0]["token"])
    assert_error(stolen, "NOT_FOUND")  # another's notification: as if it did not exist
    assert len((await inbox(api, c["people"][2]))[1]) == 2


async def test_a_forged_inbox_cursor_is_refused(api, accounts):
    alice = await accounts.user()
    forged = encode_cursor("2030-01-01T00:00:00+00:00", "not-an-object-id")
    assert_error(
        await api.execute(
            "query($a: String) { notifications(after: $a) { edges { cursor } } }",
            {"a": forged},
            token=alice["token"],
        ),
        "BAD_USER_INPUT",
    )


async def test_the_inbox_needs_a_session(api):
    anonymous = await api.execute(INBOX, {})
    assert anonymous["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_a_redelivered_event_makes_no_second_notification(api, accounts, events, server):

    c = await crew(accounts, events, 3)
    owner, _, alice = c["people"]
    await api.execute(
        CREATE_TASK,
        {"input": {"eventId": c["event"]["id"], "title": "Once", "assigneeIds": [c["pids"][2]]}},
        token=owner["token"],
    )
    await drain_outbox(server)
    async with server.deps.db.reader() as db:
        row = (
            await db.exec(
                select(outbox.OutboxEvent)
                .where(col(outbox.OutboxEvent.event_type) == "task.created")
                .order_by(col(outbox.OutboxEvent.id).desc())
            )
        ).first()
    await uc.notify(server.deps, DomainEvent.of(row))  # delivered again
    unread, notes = await inbox(api, alice)
    assert unread == 1 and notes[0]["occurrences"] == 1


async def test_new_notifications_are_pushed_to_every_session_of_the_recipient(
    api, accounts, events, server
):
    c = await crew(accounts, events, 3)
    owner, _, alice = c["people"]
    second = await second_session(accounts, alice)
    async with (
        api.ws({"authorization": f"Bearer {alice['token']}"}) as one,
        api.ws({"authorization": f"Bearer {second['token']}"}) as two,
    ):
        for ws in (one, two):
            assert (await ws.receive())["type"] == "connection_ack"
            await ws.subscribe(RECEIVED)
        await until_listening(server.deps, uc.channel(user_pk(alice)), 2)
        await api.execute(
            CREATE_TASK,
            {"input": {"eventId": c["event"]["id"], "title": "Go", "assigneeIds": [c["pids"][2]]}},
            token=owner["token"],
        )
        for ws in (one, two):
            message = await ws.receive(timeout=5)
            payload = message["payload"]["data"]["notificationReceived"]
            assert payload["notification"]["type"] == "TASK_ASSIGNED"
            assert payload["unreadCount"] == 1


@pytest.mark.skipif(
    os.environ.get("IVEN_TEST_BACKEND", "embedded") != "services",
    reason="needs a Redis shared between two server processes",
)
async def test_a_mutation_on_one_process_notifies_a_socket_on_another(
    api, accounts, events, settings, server
):

    c = await crew(accounts, events, 3)
    owner, _, alice = c["people"]
    other, uv, task = await start_server(settings)
    try:
        async with httpx.AsyncClient(base_url=other.url, timeout=20) as http:
            other_api = GraphQLClient(http, other.ws_url)
            async with other_api.ws({"authorization": f"Bearer {alice['token']}"}) as ws:
                assert (await ws.receive())["type"] == "connection_ack"
                await ws.subscribe(RECEIVED)
                await until_processes_listening(server.deps, uc.channel(user_pk(alice)))
                await api.execute(
                    CREATE_TASK,
                    {
                        "input": {
                            "eventId": c["event"]["id"],
                            "title": "Far",
                            "assigneeIds": [c["pids"][2]],
                        }
                    },
                    token=owner["token"],
                )
                message = await ws.receive(timeout=5)
                assert (
                    message["payload"]["data"]["notificationReceived"]["notification"]["type"]
                    == "TASK_ASSIGNED"
                )
    finally:
        await stop_server(uv, task)
        await server.deps.documents.bind()


async def test_the_stream_ends_when_the_session_is_revoked(api, accounts):
    alice = await accounts.user()
    async with api.ws({"authorization": f"Bearer {alice['token']}"}) as ws:
        assert (await ws.receive())["type"] == "connection_ack"
        await ws.subscribe(RECEIVED)
        await until_listening(api.server.deps, uc.channel(user_pk(alice)))
        await api.execute("mutation { logout { ok } }", token=alice["token"])
        assert await ws.closed_with(timeout=3) == 4401


def user_pk(user: dict[str, Any]) -> int:
    return int(GlobalID.from_id(user["id"]).node_id)


async def test_a_send_retried_after_its_mentions_failed_notifies_once(
    api, accounts, events, server, monkeypatch
):
    """The message is stored before its mentions are recorded (MongoDB, then MySQL): a send that
    failed in between is retried with its clientId, and the retry records the mentions. However
    often it is retried, the mentioned get one notification (issue 16)."""
    c = await crew(accounts, events, 3)
    owner, _, alice = c["people"]
    real = projections.record_event
    failures = [RuntimeError("MySQL went away")]

    def failing_once(*args: Any, **kwargs: Any) -> None:
        if failures:
            raise failures.pop()
        real(*args, **kwargs)

    monkeypatch.setattr(projections, "record_event", failing_once)
    variables = {
        "input": {
            "eventId": c["event"]["id"],
            "body": f"Hi @{alice['username']}",
            "clientId": "mention-once",
        }
    }
    failed = await api.execute(SEND, variables, token=owner["token"])
    assert_error(failed, "INTERNAL_SERVER_ERROR")
    await drain_outbox(server)
    assert await types_of(api, alice) == []  # stored, but its mention not recorded
    answers = [await api.execute(SEND, variables, token=owner["token"]) for _ in range(2)]
    assert [a["data"]["sendMessage"]["errors"] for a in answers] == [[], []], answers
    await drain_outbox(server)
    _, notes = await inbox(api, alice)
    assert [(n["type"], n["occurrences"]) for n in notes] == [("MENTIONED", 1)]


async def test_a_comment_retried_after_its_event_failed_notifies_once(
    api, accounts, events, server, monkeypatch
):
    """The same for a media comment (MongoDB, then MySQL): the retry records the comment's
    event again; the uploader gets one notification and the event one activity entry."""
    c = await crew(accounts, events, 3)
    owner, _, alice = c["people"]
    media = await uploaded(api, owner, c["event"]["id"], [("a.jpg", jpeg())])
    real = projections.record_event
    failures = [RuntimeError("MySQL went away")]

    def failing_once(*args: Any, **kwargs: Any) -> None:
        if failures:
            raise failures.pop()
        real(*args, **kwargs)

    monkeypatch.setattr(projections, "record_event", failing_once)
    variables = {"input": {"mediaId": media[0]["id"], "body": "Nice", "clientMutationId": "c"}}
    comment = """mutation($input: CommentOnMediaInput!) { commentOnMedia(input: $input) {
        comment { id } errors { code } } }"""
    assert_error(
        await api.execute(comment, variables, token=alice["token"]), "INTERNAL_SERVER_ERROR"
    )
    answers = [await api.execute(comment, variables, token=alice["token"]) for _ in range(2)]
    assert [a["data"]["commentOnMedia"]["errors"] for a in answers] == [[], []], answers
    await drain_outbox(server)
    _, notes = await inbox(api, owner)
    assert [(n["type"], n["occurrences"]) for n in notes if n["type"] == "MEDIA_COMMENTED"] == [
        ("MEDIA_COMMENTED", 1)
    ]
    feed = await api.execute(
        "query($id: ID!) { node(id: $id) { ... on Event { activity(first: 50) { edges { node {"
        " verb } } } } } }",
        {"id": c["event"]["id"]},
        token=owner["token"],
    )
    verbs = [e["node"]["verb"] for e in feed["data"]["node"]["activity"]["edges"]]
    assert verbs.count("MEDIA_COMMENTED") == 1, verbs
