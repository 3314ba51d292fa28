"""Authorization of the events domain through the API, as a matrix: every operation × every role.

| | outsider | participant | organizer | owner |
| see the event and its children                     | NOT_FOUND (null) | ✓ | ✓ | ✓ |
| RSVP, leave, create tasks and expenses, complete   | –                | ✓ | ✓ | ✓ |
| edit/delete others' tasks and expenses, validate,  |                  |   |   |   |
|   invite, remove participants, edit event          | –                | – | ✓ | ✓ |
| change roles, transfer ownership, delete event     | –                | – | – | ✓ |
| vote in a chat poll                                | NOT_FOUND        | ✓ | ✓ | ✓ |
| close a chat poll (its author: a participant too)  | NOT_FOUND        | – | ✓ | ✓ |

Anonymous: UNAUTHENTICATED (mutations), null (reads). An outsider of a PRIVATE event gets exactly
the answer given for an id that does not exist. So does an outsider of an UNLISTED event who names
it by its id (event ids are sequential, no secret): reads and mutations alike. Only its share
token (`eventByShareToken`, `requestToJoin(shareToken:)`) shows an outsider its public fields. A
participant lacking the role: FORBIDDEN. Every refusal changes nothing (the whole event, read back
by its owner, is the same before and after). `node`/`nodes` on User: yourself, people you share an
event with, admins everyone; anyone else gets a missing id's answer.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import delete
from strawberry.relay import GlobalID, to_base64

from resolvers.dispatcher import dispatcher
from schema.core import encode_cursor
from stores import notifications as notifications_store
from stores.db import utcnow
from stores.outbox import OutboxEvent
from tests import media_samples as samples
from tests.support import assert_error, assert_payload_error
from tests.support.chat import SEND_POLL
from tests.support.media import uploaded

MISSING = 987_654_321  # a database id nothing has


@pytest.fixture(autouse=True)
async def _no_side_effects(server: Any) -> AsyncIterator[None]:
    """The matrix is about who may do what, read back from the event itself: the domain events
    its set-up and cases commit (notifications, activity, projections: tests/test_outbox.py and
    tests/test_notifications.py cover them) are dropped instead of handled, which would cost
    more than the cases themselves."""
    running = dispatcher(server.deps)
    assert running is not None
    await running.close()
    try:
        yield
    finally:
        async with server.deps.db.unit_of_work() as db:
            await db.exec(delete(OutboxEvent))
        await running.start()


# --- documents ---------------------------------------------------------------------------------

SNAPSHOT = """query($id: ID!) { event(id: $id) {
  id title description status visibility capacity version updatedAt viewerRole
  owner { id }
  participants { nodes { id role rsvp state user { id } } }
  tasks { nodes { id title description status version assignees { id } createdBy { id }
                  completedBy { id } validatedBy { id } } }
  expenses { nodes { id title note version amount { amount currency } paidBy { id }
                     createdBy { id } shares { participant { id } amount { amount } } } }
  balances { participant { id } net { amount } }
  settlements { id from { id } to { id } amount { amount } recordedBy { id } }
  invitations { id status role inviteeEmail }
  inviteLinks { id role revokedAt }
  startsAt endsAt cover { id }
  datePoll { id status version deadline hideVotes voterCount chosenOption { id }
             options { id startsAt yesCount ifNeedBeCount noCount votes { participant { id } } } }
} }"""

EVENT_READ = """
  id title status visibility participantCount viewerRole owner { id }
  description location { name }
  viewerParticipation { id }
  participants { nodes { id } }
  tasks { nodes { id } }
  expenses { nodes { id } }
  balances { participant { id } }
  settlementPlan { amount { amount } }
  settlements { id }
  invitations { id }
  joinRequests { id }
  datePoll { id options { id } }
  inviteLinks { id }
"""
READ = f"query($id: ID!) {{ event(id: $id) {{ {EVENT_READ} }} }}"
READ_SHARED = f"query($t: String!) {{ eventByShareToken(token: $t) {{ shareToken {EVENT_READ} }} }}"
SHARE_TOKEN = "query($id: ID!) { event(id: $id) { shareToken } }"

NODE = "query($id: ID!) { node(id: $id) { id } }"
NODES = "query($ids: [ID!]!) { nodes(ids: $ids) { id } }"

ERRORS = "errors { code field message }"
PARTICIPANT = f"participant {{ id role rsvp state }} {ERRORS}"
TASK = (
    f"task {{ id title status assignees {{ id }} completedBy {{ id }} validatedBy {{ id }} }} "
    f"{ERRORS}"
)
EXPENSE = f"expense {{ id title paidBy {{ id }} createdBy {{ id }} }} {ERRORS}"


def mutation(name: str, input_type: str, selection: str) -> str:
    return f"mutation($input: {input_type}!) {{ {name}(input: $input) {{ {selection} }} }}"


# --- the world each case runs in ---------------------------------------------------------------


@dataclass
class World:
    """A fresh event: owner, organizer, two participants (one acts, one is a target), an
    outsider, and a valid target for every operation."""

    api: Any
    event_id: str
    users: dict[str, dict[str, Any]]  # owner, organizer, participant, target, outsider
    pids: dict[str, str]  # participant ids: owner, organizer, participant, target
    task_of_target: str = ""  # created by the target participant, unassigned, TODO
    open_task: str = ""  # created by the owner, unassigned, TODO
    done_task: str = ""  # created by the owner, completed by the target participant
    expense_of_target: str = ""  # created and paid by the target participant
    invitation: str = ""  # pending, sent by the owner to an address without an account
    invite_link: str = ""  # created by the owner, not revoked
    date_poll: str = ""  # opened by the owner, with two options, no votes
    date_options: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def token(self, role: str) -> str | None:
        user = ROLE_USER[role]
        return self.users[user]["token"] if user else None

    def pid(self, role: str) -> str | None:
        return self.pids.get(ROLE_USER[role] or "")

    async def run(self, document: str, variables: dict[str, Any], role: str) -> dict[str, Any]:
        result: dict[str, Any] = await self.api.execute(document, variables, token=self.token(role))
        return result

    async def snapshot(self) -> dict[str, Any] | None:
        """The whole event as its owner sees it (null once deleted)."""
        result = await self.api.execute(
            SNAPSHOT, {"id": self.event_id}, token=self.users["owner"]["token"]
        )
        assert "errors" not in result, result
        return result["data"]["event"]  # type: ignore[no-any-return]


ROLE_USER = {
    "anonymous": None,
    "outsider": "outsider",
    "outsider_unlisted": "outsider",  # an outsider of an UNLISTED event
    "participant": "participant",
    "organizer": "organizer",
    "owner": "owner",
}
ROLES = list(ROLE_USER)


async def ok(
    api: Any, document: str, variables: dict[str, Any], token: str, name: str
) -> dict[str, Any]:
    result = await api.execute(document, variables, token=token)
    assert "errors" not in result, result
    payload = result["data"][name]
    assert payload["errors"] == [], payload
    return payload  # type: ignore[no-any-return]


CREATE_TASK = mutation("createTask", "CreateTaskInput", TASK)
COMPLETE_TASK = mutation("completeTask", "TaskRefInput", TASK)
CREATE_EXPENSE = mutation("createExpense", "CreateExpenseInput", EXPENSE)
INVITE = mutation(
    "inviteParticipants",
    "InviteParticipantsInput",
    f"invitations {{ id status role inviteeEmail }} {ERRORS}",
)
DATE_POLL = f"datePoll {{ id status version options {{ id }} }} {ERRORS}"
CREATE_DATE_POLL = mutation("createDatePoll", "CreateDatePollInput", DATE_POLL)
LINK = mutation(
    "createInviteLink", "CreateInviteLinkInput", f"token inviteLink {{ id role }} {ERRORS}"
)


async def build_world(api: Any, accounts: Any, events: Any, visibility: str = "PRIVATE") -> World:
    owner, organizer, participant, target, outsider = await asyncio.gather(
        *[accounts.user() for _ in range(5)]
    )
    event = await events.create(owner["token"], visibility=visibility)
    eid = event["id"]
    pids = {"owner": event["viewerParticipation"]["id"]}
    pids["organizer"] = await events.add(owner["token"], eid, organizer, role="ORGANIZER")
    pids["participant"] = await events.add(owner["token"], eid, participant)
    pids["target"] = await events.add(owner["token"], eid, target)
    w = World(
        api=api,
        event_id=eid,
        pids=pids,
        users={
            "owner": owner,
            "organizer": organizer,
            "participant": participant,
            "target": target,
            "outsider": outsider,
        },
    )

    async def task(token: str, title: str) -> str:
        payload = await ok(
            api, CREATE_TASK, {"input": {"eventId": eid, "title": title}}, token, "createTask"
        )
        return payload["task"]["id"]  # type: ignore[no-any-return]

    w.task_of_target = await task(target["token"], "Target's task")
    w.open_task = await task(owner["token"], "Open task")
    w.done_task = await task(owner["token"], "Done task")
    await ok(
        api, COMPLETE_TASK, {"input": {"taskId": w.done_task}}, target["token"], "completeTask"
    )
    expense = await ok(
        api,
        CREATE_EXPENSE,
        {
            "input": {
                "eventId": eid,
                "title": "Target's groceries",
                "amount": "30.00",
                "paidById": pids["target"],
                "split": {"mode": "EQUAL"},
            }
        },
        target["token"],
        "createExpense",
    )
    w.expense_of_target = expense["expense"]["id"]
    invited = await ok(
        api,
        INVITE,
        {
            "input": {
                "eventId": eid,
                "invitees": [{"email": f"guest-{uuid.uuid4().hex[:8]}@example.com"}],
            }
        },
        owner["token"],
        "inviteParticipants",
    )
    w.invitation = invited["invitations"][0]["id"]
    link = await ok(api, LINK, {"input": {"eventId": eid}}, owner["token"], "createInviteLink")
    w.invite_link = link["inviteLink"]["id"]
    poll = await ok(
        api,
        CREATE_DATE_POLL,
        {
            "input": {
                "eventId": eid,
                "options": [
                    {"startsAt": (utcnow() + timedelta(days=d)).isoformat()} for d in (30, 31)
                ],
            }
        },
        owner["token"],
        "createDatePoll",
    )
    w.date_poll = poll["datePoll"]["id"]
    w.date_options = [o["id"] for o in poll["datePoll"]["options"]]
    return w


async def share_token(w: World) -> str:
    """The event's share token, as its owner reads it."""
    result = await w.api.execute(SHARE_TOKEN, {"id": w.event_id}, token=w.users["owner"]["token"])
    token = result["data"]["event"]["shareToken"]
    assert isinstance(token, str) and len(token) >= 24, result
    return token


# --- helpers on snapshots ----------------------------------------------------------------------


def by_id(items: list[dict[str, Any]], item_id: str) -> dict[str, Any] | None:
    return next((i for i in items if i["id"] == item_id), None)


def participant(snap: dict[str, Any], pid: str | None) -> dict[str, Any] | None:
    return by_id(snap["participants"]["nodes"], pid or "")


def task_in(snap: dict[str, Any], task_id: str) -> dict[str, Any] | None:
    return by_id(snap["tasks"]["nodes"], task_id)


def expense_in(snap: dict[str, Any], expense_id: str) -> dict[str, Any] | None:
    return by_id(snap["expenses"]["nodes"], expense_id)


def ref(value: str | None) -> dict[str, str] | None:
    return {"id": value} if value else None


def without_position(error: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in error.items() if k not in ("path", "locations")}


# --- the operations ----------------------------------------------------------------------------

Check = Callable[[World, str, dict[str, Any], dict[str, Any], dict[str, Any] | None], None]

ANY_PARTICIPANT = {
    "anonymous": "UNAUTHENTICATED",
    "outsider": "NOT_FOUND",
    "outsider_unlisted": "NOT_FOUND",  # by its id, an UNLISTED event is hidden like a PRIVATE one
    "participant": "OK",
    "organizer": "OK",
    "owner": "OK",
}
ORGANIZERS = {**ANY_PARTICIPANT, "participant": "FORBIDDEN"}
OWNER_ONLY = {**ORGANIZERS, "organizer": "FORBIDDEN"}

# Operations on a task, an expense or an invitation of an UNLISTED event, by an outsider: like
# the event itself named by its id, exactly a missing id's answer (the case checks it is).
UNLISTED_CHILD = "NOT_FOUND"  # children of an UNLISTED event are not public: like a missing id


def on_child(expected: dict[str, str]) -> dict[str, str]:
    return {**expected, "outsider_unlisted": UNLISTED_CHILD}


@dataclass(frozen=True)
class Op:
    name: str
    document: str
    variables: Callable[[World, str], dict[str, Any]]
    target: tuple[str, str]  # (input field, node type) replaced by a missing id for outsiders
    expected: dict[str, str]  # role → UNAUTHENTICATED | NOT_FOUND | FORBIDDEN | OK | payload code
    check: Check  # (world, role, payload, before, after) when allowed
    prepare: Callable[[World], Awaitable[None]] | None = None  # more set-up for this one

    def __repr__(self) -> str:
        return self.name


def check_nothing(w, role, payload, before, after):
    raise AssertionError(f"{role}: expected a refusal, got {payload}")


def check_update_date_poll(w, role, payload, before, after):
    assert after["datePoll"]["hideVotes"] is True
    assert after["datePoll"]["version"] == before["datePoll"]["version"] + 1


def check_vote_date_poll(w, role, payload, before, after):
    voters = [v["participant"]["id"] for v in after["datePoll"]["options"][0]["votes"]]
    assert voters == [w.pid(role)] and after["datePoll"]["options"][0]["yesCount"] == 1


def check_close_date_poll(w, role, payload, before, after):
    assert after["datePoll"]["status"] == "CLOSED"
    chosen = after["datePoll"]["chosenOption"]["id"]
    assert chosen == w.date_options[0]
    assert after["startsAt"] == after["datePoll"]["options"][0]["startsAt"]
    assert after["version"] == before["version"] + 1


def check_delete_date_poll(w, role, payload, before, after):
    assert payload["deletedDatePollId"] == w.date_poll and after["datePoll"] is None


def check_update_event(w, role, payload, before, after):
    assert payload["event"]["title"] == after["title"] == f"Renamed by {role}"
    assert after["version"] == before["version"] + 1


def check_cancel_event(w, role, payload, before, after):
    assert payload["event"]["status"] == after["status"] == "CANCELLED"


def check_delete_event(w, role, payload, before, after):
    assert payload["deletedEventId"] == w.event_id
    assert after is None


def check_set_rsvp(w, role, payload, before, after):
    assert payload["participant"]["rsvp"] == "MAYBE"
    assert participant(after, w.pid(role))["rsvp"] == "MAYBE"  # type: ignore[index]


def check_leave(w, role, payload, before, after):
    assert payload["participant"]["id"] == w.pid(role)
    assert payload["participant"]["state"] == "LEFT"
    assert participant(after, w.pid(role)) is None


def check_invite(w, role, payload, before, after):
    sent = payload["invitations"]
    assert len(sent) == 1 and sent[0]["status"] == "PENDING"
    invitation = by_id(after["invitations"], sent[0]["id"])
    assert invitation is not None and invitation["inviteeEmail"] == "newcomer@example.com"


def check_revoke_invitation(w, role, payload, before, after):
    assert payload["invitation"]["status"] == "REVOKED"
    invitation = by_id(after["invitations"], w.invitation)
    assert invitation is not None and invitation["status"] == "REVOKED"


def check_invite_link(w, role, payload, before, after):
    assert payload["token"] and payload["inviteLink"]["role"] == "PARTICIPANT"
    assert len(after["inviteLinks"]) == len(before["inviteLinks"]) + 1
    assert by_id(after["inviteLinks"], payload["inviteLink"]["id"]) is not None


def check_revoke_link(w, role, payload, before, after):
    assert payload["inviteLink"]["revokedAt"]
    assert by_id(after["inviteLinks"], w.invite_link)["revokedAt"]  # type: ignore[index]


def check_remove(w, role, payload, before, after):
    assert payload["participant"]["id"] == w.pids["target"]
    assert payload["participant"]["state"] == "REMOVED"
    assert participant(after, w.pids["target"]) is None


def check_role(w, role, payload, before, after):
    assert payload["participant"]["role"] == "ORGANIZER"
    assert participant(after, w.pids["target"])["role"] == "ORGANIZER"  # type: ignore[index]


def check_transfer(w, role, payload, before, after):
    assert payload["owner"]["id"] == w.pids["target"]
    assert payload["previousOwner"]["id"] == w.pids["owner"]
    assert after["owner"] == {"id": w.users["target"]["id"]}
    assert after["viewerRole"] == "ORGANIZER"
    assert participant(after, w.pids["target"])["role"] == "OWNER"  # type: ignore[index]


def check_create_task(w, role, payload, before, after):
    created = task_in(after, payload["task"]["id"])
    assert created is not None and created["title"] == f"Task by {role}"
    assert created["createdBy"] == ref(w.pid(role))


def check_update_task(w, role, payload, before, after):
    assert task_in(after, w.task_of_target)["title"] == f"Edited by {role}"  # type: ignore[index]


def check_delete_task(w, role, payload, before, after):
    assert payload["deletedTaskId"] == w.task_of_target
    assert task_in(after, w.task_of_target) is None
    assert len(after["tasks"]["nodes"]) == len(before["tasks"]["nodes"]) - 1


def check_assign_task(w, role, payload, before, after):
    assigned = task_in(after, w.task_of_target)["assignees"]  # type: ignore[index]
    assert assigned == [{"id": w.pids["target"]}]


def check_complete_task(w, role, payload, before, after):
    done = task_in(after, w.open_task)
    assert done["status"] == "DONE" and done["completedBy"] == ref(w.pid(role))  # type: ignore[index]


def check_validate_task(w, role, payload, before, after):
    valid = task_in(after, w.done_task)
    assert valid["status"] == "VALIDATED"  # type: ignore[index]
    assert valid["validatedBy"] == ref(w.pid(role))  # type: ignore[index]


def check_reopen_task(w, role, payload, before, after):
    reopened = task_in(after, w.done_task)
    assert reopened["status"] == "TODO" and reopened["completedBy"] is None  # type: ignore[index]


def check_create_expense(w, role, payload, before, after):
    created = expense_in(after, payload["expense"]["id"])
    assert created is not None and created["title"] == f"Expense by {role}"
    assert created["createdBy"] == created["paidBy"] == ref(w.pid(role))


def check_update_expense(w, role, payload, before, after):
    assert expense_in(after, w.expense_of_target)["title"] == f"Edited by {role}"  # type: ignore[index]


def check_delete_expense(w, role, payload, before, after):
    assert payload["deletedExpenseId"] == w.expense_of_target
    assert expense_in(after, w.expense_of_target) is None
    assert len(after["expenses"]["nodes"]) == len(before["expenses"]["nodes"]) - 1


def settlement_parties(w: World, role: str) -> tuple[str, str]:
    """Two participants other than the actor."""
    others = [w.pids[r] for r in ("target", "participant", "organizer") if r != role]
    return others[0], others[1]


def check_settlement(w, role, payload, before, after):
    src, dst = settlement_parties(w, role)
    recorded = by_id(after["settlements"], payload["settlement"]["id"])
    assert recorded is not None
    assert recorded["from"] == {"id": src} and recorded["to"] == {"id": dst}
    assert recorded["amount"]["amount"] == "5.00"
    assert recorded["recordedBy"] == ref(w.pid(role))


async def photo_of_target(w: World) -> None:
    """A photo shared in the event by the target participant (w.extra["photo"])."""
    photo = (await uploaded(w.api, w.users["target"], w.event_id, [("p.jpg", samples.jpeg())]))[0]
    w.extra["photo"] = photo["id"]


def check_set_cover(w, role, payload, before, after):
    assert before["cover"] is None and after["cover"] == {"id": w.extra["photo"]}
    assert payload["event"]["cover"] == {"id": w.extra["photo"]}


async def poll_of_target(w: World) -> None:
    """A poll sent by the target participant (w.extra["poll"]): nobody else is its author."""
    result = await w.api.execute(
        SEND_POLL,
        {
            "input": {
                "eventId": w.event_id,
                "body": "",
                "poll": {"question": "When?", "options": ["Fri", "Sat"]},
            }
        },
        token=w.users["target"]["token"],
    )
    assert result["data"]["sendMessage"]["errors"] == [], result
    w.extra["poll"] = result["data"]["sendMessage"]["message"]["id"]


def check_vote_poll(w, role, payload, before, after):
    poll = payload["message"]["poll"]
    assert poll["viewerOptionIds"] == ["o2"] and poll["closed"] is False


def check_close_poll(w, role, payload, before, after):
    assert payload["message"]["poll"]["closed"] is True


POLL = "message { id poll { closed viewerOptionIds } } errors { code field message }"

OPS = [
    Op(
        "updateEvent",
        mutation("updateEvent", "UpdateEventInput", f"event {{ title }} {ERRORS}"),
        lambda w, r: {"input": {"eventId": w.event_id, "title": f"Renamed by {r}"}},
        ("eventId", "Event"),
        ORGANIZERS,
        check_update_event,
    ),
    Op(
        "cancelEvent",
        mutation("cancelEvent", "EventRefInput", f"event {{ status }} {ERRORS}"),
        lambda w, r: {"input": {"eventId": w.event_id}},
        ("eventId", "Event"),
        ORGANIZERS,
        check_cancel_event,
    ),
    Op(
        "deleteEvent",
        mutation("deleteEvent", "EventRefInput", f"deletedEventId {ERRORS}"),
        lambda w, r: {"input": {"eventId": w.event_id}},
        ("eventId", "Event"),
        OWNER_ONLY,
        check_delete_event,
    ),
    Op(
        "setRsvp",
        mutation("setRsvp", "SetRsvpInput", PARTICIPANT),
        lambda w, r: {"input": {"eventId": w.event_id, "status": "MAYBE"}},
        ("eventId", "Event"),
        ANY_PARTICIPANT,
        check_set_rsvp,
    ),
    Op(
        "leaveEvent",
        mutation("leaveEvent", "EventRefInput", PARTICIPANT),
        lambda w, r: {"input": {"eventId": w.event_id}},
        ("eventId", "Event"),
        {**ANY_PARTICIPANT, "owner": "OWNER_CANNOT_LEAVE"},
        check_leave,
    ),
    Op(
        "inviteParticipants",
        INVITE,
        lambda w, r: {
            "input": {"eventId": w.event_id, "invitees": [{"email": "newcomer@example.com"}]}
        },
        ("eventId", "Event"),
        ORGANIZERS,
        check_invite,
    ),
    Op(
        "revokeInvitation",
        mutation("revokeInvitation", "InvitationRefInput", f"invitation {{ id status }} {ERRORS}"),
        lambda w, r: {"input": {"invitationId": w.invitation}},
        ("invitationId", "Invitation"),
        on_child(ORGANIZERS),
        check_revoke_invitation,
    ),
    Op(
        "createInviteLink",
        LINK,
        lambda w, r: {"input": {"eventId": w.event_id}},
        ("eventId", "Event"),
        ORGANIZERS,
        check_invite_link,
    ),
    Op(
        "revokeInviteLink",
        mutation(
            "revokeInviteLink", "RevokeInviteLinkInput", f"inviteLink {{ id revokedAt }} {ERRORS}"
        ),
        lambda w, r: {"input": {"inviteLinkId": w.invite_link}},
        ("inviteLinkId", "InviteLink"),
        on_child(ORGANIZERS),
        check_revoke_link,
    ),
    Op(
        "removeParticipant",
        mutation("removeParticipant", "ParticipantRefInput", PARTICIPANT),
        lambda w, r: {"input": {"eventId": w.event_id, "participantId": w.pids["target"]}},
        ("eventId", "Event"),
        ORGANIZERS,
        check_remove,
    ),
    Op(
        "updateParticipantRole",
        mutation("updateParticipantRole", "UpdateParticipantRoleInput", PARTICIPANT),
        lambda w, r: {
            "input": {"eventId": w.event_id, "participantId": w.pids["target"], "role": "ORGANIZER"}
        },
        ("eventId", "Event"),
        OWNER_ONLY,
        check_role,
    ),
    Op(
        "transferOwnership",
        mutation(
            "transferOwnership",
            "ParticipantRefInput",
            f"owner {{ id role }} previousOwner {{ id role }} {ERRORS}",
        ),
        lambda w, r: {"input": {"eventId": w.event_id, "participantId": w.pids["target"]}},
        ("eventId", "Event"),
        OWNER_ONLY,
        check_transfer,
    ),
    Op(
        "createTask",
        CREATE_TASK,
        lambda w, r: {"input": {"eventId": w.event_id, "title": f"Task by {r}"}},
        ("eventId", "Event"),
        ANY_PARTICIPANT,
        check_create_task,
    ),
    Op(
        "updateTask",
        mutation("updateTask", "UpdateTaskInput", TASK),
        lambda w, r: {"input": {"taskId": w.task_of_target, "title": f"Edited by {r}"}},
        ("taskId", "Task"),
        on_child(ORGANIZERS),
        check_update_task,
    ),
    Op(
        "deleteTask",
        mutation("deleteTask", "TaskRefInput", f"deletedTaskId {ERRORS}"),
        lambda w, r: {"input": {"taskId": w.task_of_target}},
        ("taskId", "Task"),
        on_child(ORGANIZERS),
        check_delete_task,
    ),
    Op(
        "assignTask",
        mutation("assignTask", "AssignTaskInput", TASK),
        lambda w, r: {"input": {"taskId": w.task_of_target, "assigneeIds": [w.pids["target"]]}},
        ("taskId", "Task"),
        on_child(ORGANIZERS),
        check_assign_task,
    ),
    Op(
        "completeTask",
        COMPLETE_TASK,
        lambda w, r: {"input": {"taskId": w.open_task}},
        ("taskId", "Task"),
        on_child(ANY_PARTICIPANT),
        check_complete_task,
    ),
    Op(
        "validateTask",
        mutation("validateTask", "TaskRefInput", TASK),
        lambda w, r: {"input": {"taskId": w.done_task}},
        ("taskId", "Task"),
        on_child(ORGANIZERS),
        check_validate_task,
    ),
    Op(
        "reopenTask",
        mutation("reopenTask", "TaskRefInput", TASK),
        lambda w, r: {"input": {"taskId": w.done_task}},
        ("taskId", "Task"),
        on_child(ORGANIZERS),
        check_reopen_task,
    ),
    Op(
        "createExpense",
        CREATE_EXPENSE,
        lambda w, r: {
            "input": {
                "eventId": w.event_id,
                "title": f"Expense by {r}",
                "amount": "12.00",
                "paidById": w.pid(r) or w.pids["owner"],
                "split": {"mode": "EQUAL"},
            }
        },
        ("eventId", "Event"),
        ANY_PARTICIPANT,
        check_create_expense,
    ),
    Op(
        "updateExpense",
        mutation("updateExpense", "UpdateExpenseInput", EXPENSE),
        lambda w, r: {"input": {"expenseId": w.expense_of_target, "title": f"Edited by {r}"}},
        ("expenseId", "Expense"),
        on_child(ORGANIZERS),
        check_update_expense,
    ),
    Op(
        "deleteExpense",
        mutation("deleteExpense", "ExpenseRefInput", f"deletedExpenseId {ERRORS}"),
        lambda w, r: {"input": {"expenseId": w.expense_of_target}},
        ("expenseId", "Expense"),
        on_child(ORGANIZERS),
        check_delete_expense,
    ),
    Op(
        "recordSettlement",
        mutation("recordSettlement", "RecordSettlementInput", f"settlement {{ id }} {ERRORS}"),
        lambda w, r: {
            "input": {
                "eventId": w.event_id,
                "fromId": settlement_parties(w, r)[0],
                "toId": settlement_parties(w, r)[1],
                "amount": "5.00",
            }
        },
        ("eventId", "Event"),
        ORGANIZERS,
        check_settlement,
    ),
    Op(
        "createDatePoll",
        CREATE_DATE_POLL,
        lambda w, r: {
            "input": {
                "eventId": w.event_id,
                "options": [
                    {"startsAt": (utcnow() + timedelta(days=d)).isoformat()} for d in (40, 41)
                ],
            }
        },
        ("eventId", "Event"),
        # authorisation comes first: organizers then meet the world's poll (one per event)
        {**ORGANIZERS, "organizer": "POLL_EXISTS", "owner": "POLL_EXISTS"},
        check_nothing,
    ),
    Op(
        "updateDatePoll",
        mutation("updateDatePoll", "UpdateDatePollInput", DATE_POLL),
        lambda w, r: {"input": {"pollId": w.date_poll, "hideVotes": True}},
        ("pollId", "DatePoll"),
        on_child(ORGANIZERS),
        check_update_date_poll,
    ),
    Op(
        "voteDatePoll",
        mutation("voteDatePoll", "VoteDatePollInput", DATE_POLL),
        lambda w, r: {
            "input": {
                "pollId": w.date_poll,
                "votes": [{"optionId": w.date_options[0], "choice": "YES"}],
            }
        },
        ("pollId", "DatePoll"),
        on_child(ANY_PARTICIPANT),
        check_vote_date_poll,
    ),
    Op(
        "closeDatePoll",
        mutation("closeDatePoll", "CloseDatePollInput", DATE_POLL),
        lambda w, r: {"input": {"pollId": w.date_poll}},
        ("pollId", "DatePoll"),
        on_child(ORGANIZERS),
        check_close_date_poll,
    ),
    Op(
        "reopenDatePoll",
        mutation("reopenDatePoll", "ReopenDatePollInput", DATE_POLL),
        lambda w, r: {"input": {"pollId": w.date_poll}},
        ("pollId", "DatePoll"),
        on_child({**ORGANIZERS, "organizer": "POLL_OPEN", "owner": "POLL_OPEN"}),
        check_nothing,
    ),
    Op(
        "deleteDatePoll",
        mutation("deleteDatePoll", "DeleteDatePollInput", f"deletedDatePollId {ERRORS}"),
        lambda w, r: {"input": {"pollId": w.date_poll}},
        ("pollId", "DatePoll"),
        on_child(ORGANIZERS),
        check_delete_date_poll,
    ),
    Op(
        "setEventCover",
        mutation("setEventCover", "SetEventCoverInput", f"event {{ id cover {{ id }} }} {ERRORS}"),
        lambda w, r: {"input": {"eventId": w.event_id, "mediaId": w.extra["photo"]}},
        ("eventId", "Event"),
        ORGANIZERS,
        check_set_cover,
        photo_of_target,
    ),
    Op(
        "votePoll",
        mutation("votePoll", "VotePollInput", POLL),
        lambda w, r: {"input": {"messageId": w.extra["poll"], "optionIds": ["o2"]}},
        ("messageId", "Message"),
        ANY_PARTICIPANT,
        check_vote_poll,
        poll_of_target,
    ),
    Op(
        "closePoll",
        mutation("closePoll", "ClosePollInput", POLL),
        lambda w, r: {"input": {"messageId": w.extra["poll"]}},
        ("messageId", "Message"),
        ORGANIZERS,
        check_close_poll,
        poll_of_target,
    ),
]


# --- the matrix --------------------------------------------------------------------------------


SPOKEN = {"InviteLink": "Invite link", "DatePoll": "Date poll"}  # in "… not found." messages


def assert_refused(result: dict[str, Any], code: str) -> dict[str, Any]:
    """Exactly one top-level error with this code, and no data (the payload is non-null)."""
    error = assert_error(result, code)
    assert len(result["errors"]) == 1, result
    assert result.get("data") is None, result
    return error


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("op", OPS, ids=lambda op: op.name)
async def test_mutation_matrix(api, accounts, events, op: Op, role: str):
    w = await build_world(
        api, accounts, events, "UNLISTED" if role == "outsider_unlisted" else "PRIVATE"
    )
    if op.prepare is not None:
        await op.prepare(w)
    variables = op.variables(w, role)
    expected = op.expected[role]
    before = await w.snapshot()
    assert before is not None
    result = await w.run(op.document, variables, role)

    if expected == "OK":
        assert "errors" not in result, result
        payload = result["data"][op.name]
        assert payload["errors"] == [], payload
        op.check(w, role, payload, before, await w.snapshot())
        return

    if expected in ("UNAUTHENTICATED", "NOT_FOUND", "FORBIDDEN"):
        error = assert_refused(result, expected)
        if expected == "UNAUTHENTICATED":
            assert error["message"] == "You must be signed in."
        if expected == "NOT_FOUND":
            # exactly what an id that does not exist gets: nothing tells the event exists
            field_name, type_name = op.target
            missing = {"input": {**variables["input"], field_name: to_base64(type_name, MISSING)}}
            baseline = await w.run(op.document, missing, role)
            assert_refused(baseline, "NOT_FOUND")
            assert without_position(error) == without_position(baseline["errors"][0]), (
                f"existing target: {error} / missing target: {baseline['errors'][0]}"
            )
            spoken = SPOKEN.get(type_name, type_name)
            assert error["message"] == f"{spoken} not found."
    else:  # an expected failure reported in the payload
        assert "errors" not in result, result
        payload = result["data"][op.name]
        assert [e["code"] for e in payload["errors"]] == [expected], payload
    assert await w.snapshot() == before, "a refused operation changed the event"
    if "poll" in w.extra:  # nor the chat poll it aimed at
        seen = await w.api.execute(
            "query($id: ID!) { node(id: $id) { ... on Message { poll { closed totalVoters } } } }",
            {"id": w.extra["poll"]},
            token=w.users["owner"]["token"],
        )
        assert seen["data"]["node"]["poll"] == {"closed": False, "totalVoters": 0}, seen


@pytest.mark.parametrize("role", ROLES)
async def test_reading_the_event(api, accounts, events, role: str):
    unlisted = role == "outsider_unlisted"
    w = await build_world(api, accounts, events, "UNLISTED" if unlisted else "PRIVATE")
    result = await w.run(READ, {"id": w.event_id}, role)
    assert "errors" not in result, result
    seen = result["data"]["event"]
    node = await w.run(NODE, {"id": w.event_id}, role)
    assert "errors" not in node, node

    if role in ("anonymous", "outsider", "outsider_unlisted"):
        # by its id, nothing tells the event (UNLISTED or not) from a missing one
        assert seen is None
        assert node == {"data": {"node": None}}
        missing = to_base64("Event", MISSING)
        assert await w.run(READ, {"id": missing}, role) == result
        assert await w.run(NODE, {"id": missing}, role) == node
        assert await w.run(NODES, {"ids": [w.event_id, missing]}, role) == {
            "data": {"nodes": [None, None]}
        }
        for child in (w.task_of_target, w.expense_of_target, w.pids["target"]):
            assert await w.run(NODE, {"id": child}, role) == {"data": {"node": None}}
        shared = await w.run(READ_SHARED, {"t": await share_token(w)}, role)
        if not unlisted:  # a PRIVATE event's share token opens nothing to outsiders
            assert shared == {"data": {"eventByShareToken": None}}
            return
        # an UNLISTED event's share token opens its public fields
        assert "errors" not in shared, shared
        seen = shared["data"]["eventByShareToken"]
        assert seen["id"] == w.event_id and seen["shareToken"] is None
        assert seen["title"] == "Picnic" and seen["status"] == "ACTIVE"
        assert seen["visibility"] == "UNLISTED" and seen["participantCount"] == 4
        assert seen["owner"] == {"id": w.users["owner"]["id"]}
        for private in (
            "viewerRole",
            "description",
            "location",
            "viewerParticipation",
            "participants",
            "tasks",
            "expenses",
            "balances",
            "settlementPlan",
            "settlements",
            "invitations",
            "joinRequests",
        ):
            assert seen[private] is None, private
        assert seen["inviteLinks"] == []
        for child in (w.task_of_target, w.expense_of_target, w.pids["target"]):
            assert await w.run(NODE, {"id": child}, role) == {"data": {"node": None}}
        return

    assert node == {"data": {"node": {"id": w.event_id}}}
    # to a participant, the share token opens the same view as the id
    shared = await w.run(READ_SHARED, {"t": await share_token(w)}, role)
    assert shared["data"]["eventByShareToken"] == {"shareToken": await share_token(w), **seen}
    assert seen["viewerRole"] == role.upper()
    assert seen["viewerParticipation"] == {"id": w.pid(role)}
    assert seen["description"] == ""
    assert len(seen["participants"]["nodes"]) == 4
    assert {t["id"] for t in seen["tasks"]["nodes"]} == {w.task_of_target, w.open_task, w.done_task}
    assert [e["id"] for e in seen["expenses"]["nodes"]] == [w.expense_of_target]
    assert len(seen["balances"]) == 4
    assert seen["settlementPlan"] is not None and seen["settlements"] == []
    # tasks and expenses are reached through the event only; participants also by node()
    target = w.pids["target"]
    assert await w.run(NODE, {"id": target}, role) == {"data": {"node": {"id": target}}}
    if role == "participant":  # organizers' lists
        assert seen["invitations"] is None and seen["joinRequests"] is None
        assert seen["inviteLinks"] == []
    else:
        assert [i["id"] for i in seen["invitations"]] == [w.invitation]
        assert seen["joinRequests"] == []
        assert len(seen["inviteLinks"]) == 4  # used to add people, and one more


# --- finer rules -------------------------------------------------------------------------------

UPDATE_TASK = mutation("updateTask", "UpdateTaskInput", TASK)
ASSIGN_TASK = mutation("assignTask", "AssignTaskInput", TASK)
DELETE_TASK = mutation("deleteTask", "TaskRefInput", f"deletedTaskId {ERRORS}")
VALIDATE_TASK = mutation("validateTask", "TaskRefInput", TASK)
REOPEN_TASK = mutation("reopenTask", "TaskRefInput", TASK)
UPDATE_EXPENSE = mutation("updateExpense", "UpdateExpenseInput", EXPENSE)
DELETE_EXPENSE = mutation("deleteExpense", "ExpenseRefInput", f"deletedExpenseId {ERRORS}")
REMOVE = mutation("removeParticipant", "ParticipantRefInput", PARTICIPANT)
SETTLE = mutation("recordSettlement", "RecordSettlementInput", f"settlement {{ id }} {ERRORS}")
LEAVE = mutation("leaveEvent", "EventRefInput", PARTICIPANT)
TRANSFER = mutation(
    "transferOwnership", "ParticipantRefInput", f"owner {{ id }} previousOwner {{ id }} {ERRORS}"
)
ROLE = mutation("updateParticipantRole", "UpdateParticipantRoleInput", PARTICIPANT)
UPDATE_EVENT = mutation("updateEvent", "UpdateEventInput", f"event {{ title }} {ERRORS}")


async def refused(w: World, document: str, variables: dict[str, Any], role: str, code: str) -> None:
    before = await w.snapshot()
    assert_refused(await w.run(document, variables, role), code)
    assert await w.snapshot() == before


async def allowed(
    w: World, document: str, variables: dict[str, Any], role: str, name: str
) -> dict[str, Any]:
    return await ok(w.api, document, variables, w.token(role) or "", name)


async def test_a_participant_edits_their_own_task(api, accounts, events):
    w = await build_world(api, accounts, events)
    mine = (
        await allowed(
            w,
            CREATE_TASK,
            {"input": {"eventId": w.event_id, "title": "Mine"}},
            "participant",
            "createTask",
        )
    )["task"]["id"]
    edited = await allowed(
        w,
        UPDATE_TASK,
        {"input": {"taskId": mine, "title": "Still mine"}},
        "participant",
        "updateTask",
    )
    assert edited["task"]["title"] == "Still mine"
    assigned = await allowed(
        w,
        ASSIGN_TASK,
        {"input": {"taskId": mine, "assigneeIds": [w.pids["participant"], w.pids["target"]]}},
        "participant",
        "assignTask",
    )
    assert {a["id"] for a in assigned["task"]["assignees"]} == {
        w.pids["participant"],
        w.pids["target"],
    }
    # the owner's task is someone else's too
    await refused(
        w, UPDATE_TASK, {"input": {"taskId": w.open_task, "title": "x"}}, "participant", "FORBIDDEN"
    )
    await refused(w, DELETE_TASK, {"input": {"taskId": w.open_task}}, "participant", "FORBIDDEN")
    deleted = await allowed(
        w, DELETE_TASK, {"input": {"taskId": mine}}, "participant", "deleteTask"
    )
    assert deleted["deletedTaskId"] == mine
    assert task_in(await w.snapshot(), mine) is None  # type: ignore[arg-type]


async def test_who_created_or_paid_an_expense_edits_it(api, accounts, events):
    w = await build_world(api, accounts, events)
    mine = (
        await allowed(
            w,
            CREATE_EXPENSE,
            {
                "input": {
                    "eventId": w.event_id,
                    "title": "Mine",
                    "amount": "9.00",
                    "paidById": w.pids["participant"],
                    "split": {"mode": "EQUAL"},
                }
            },
            "participant",
            "createExpense",
        )
    )["expense"]["id"]
    paid_for_me = (
        await allowed(
            w,
            CREATE_EXPENSE,
            {
                "input": {
                    "eventId": w.event_id,
                    "title": "Paid by the participant",
                    "amount": "8.00",
                    "paidById": w.pids["participant"],
                    "split": {"mode": "EQUAL"},
                }
            },
            "owner",
            "createExpense",
        )
    )["expense"]
    assert paid_for_me["createdBy"] == {"id": w.pids["owner"]}
    owners = (
        await allowed(
            w,
            CREATE_EXPENSE,
            {
                "input": {
                    "eventId": w.event_id,
                    "title": "Owner's",
                    "amount": "7.00",
                    "paidById": w.pids["owner"],
                    "split": {"mode": "EQUAL"},
                }
            },
            "owner",
            "createExpense",
        )
    )["expense"]["id"]

    for expense_id in (mine, paid_for_me["id"]):
        edited = await allowed(
            w,
            UPDATE_EXPENSE,
            {"input": {"expenseId": expense_id, "note": "edited"}},
            "participant",
            "updateExpense",
        )
        assert edited["errors"] == []
    await refused(
        w,
        UPDATE_EXPENSE,
        {"input": {"expenseId": owners, "title": "x"}},
        "participant",
        "FORBIDDEN",
    )
    await refused(w, DELETE_EXPENSE, {"input": {"expenseId": owners}}, "participant", "FORBIDDEN")
    await allowed(
        w,
        DELETE_EXPENSE,
        {"input": {"expenseId": paid_for_me["id"]}},
        "participant",
        "deleteExpense",
    )
    await allowed(w, DELETE_EXPENSE, {"input": {"expenseId": mine}}, "participant", "deleteExpense")
    left = await w.snapshot()
    assert left is not None
    assert {e["id"] for e in left["expenses"]["nodes"]} == {
        owners,
        w.expense_of_target,
    }


async def test_organizers_remove_participants_only(api, accounts, events):
    w = await build_world(api, accounts, events)
    second = await accounts.user()
    second_pid = await events.add(w.users["owner"]["token"], w.event_id, second, role="ORGANIZER")
    for target in (second_pid, w.pids["owner"]):
        await refused(
            w,
            REMOVE,
            {"input": {"eventId": w.event_id, "participantId": target}},
            "organizer",
            "FORBIDDEN",
        )
    itself = (
        await w.run(
            REMOVE,
            {"input": {"eventId": w.event_id, "participantId": w.pids["organizer"]}},
            "organizer",
        )
    )["data"]["removeParticipant"]
    assert_payload_error(itself, "CANNOT_REMOVE_SELF", ["input", "participantId"])
    # a participant cannot remove anyone, not even another participant
    await refused(
        w,
        REMOVE,
        {"input": {"eventId": w.event_id, "participantId": w.pids["target"]}},
        "participant",
        "FORBIDDEN",
    )
    removed = await allowed(
        w,
        REMOVE,
        {"input": {"eventId": w.event_id, "participantId": second_pid}},
        "owner",
        "removeParticipant",
    )
    assert removed["participant"]["state"] == "REMOVED"
    assert participant(await w.snapshot(), second_pid) is None  # type: ignore[arg-type]
    # removed: now an outsider of a private event
    gone = await api.execute(READ, {"id": w.event_id}, token=second["token"])
    assert gone == {"data": {"event": None}}


async def test_nobody_validates_their_own_completion(api, accounts, events):
    w = await build_world(api, accounts, events)
    for role in ("organizer", "owner"):
        task = (
            await allowed(
                w,
                CREATE_TASK,
                {"input": {"eventId": w.event_id, "title": f"Done by {role}"}},
                "owner",
                "createTask",
            )
        )["task"]["id"]
        await allowed(w, COMPLETE_TASK, {"input": {"taskId": task}}, role, "completeTask")
        own = (await w.run(VALIDATE_TASK, {"input": {"taskId": task}}, role))["data"][
            "validateTask"
        ]
        assert_payload_error(own, "SELF_VALIDATION")
        other = "owner" if role == "organizer" else "organizer"
        valid = await allowed(w, VALIDATE_TASK, {"input": {"taskId": task}}, other, "validateTask")
        assert valid["task"]["validatedBy"] == {"id": w.pid(other)}
    # a participant reopens their own completion, not someone else's (see the matrix)
    task = (
        await allowed(
            w, CREATE_TASK, {"input": {"eventId": w.event_id, "title": "P"}}, "owner", "createTask"
        )
    )["task"]["id"]
    await allowed(w, COMPLETE_TASK, {"input": {"taskId": task}}, "participant", "completeTask")
    await refused(w, VALIDATE_TASK, {"input": {"taskId": task}}, "participant", "FORBIDDEN")
    reopened = await allowed(
        w, REOPEN_TASK, {"input": {"taskId": task}}, "participant", "reopenTask"
    )
    assert reopened["task"]["status"] == "TODO"


async def test_only_assignees_complete_an_assigned_task(api, accounts, events):
    w = await build_world(api, accounts, events)
    task = (
        await allowed(
            w,
            CREATE_TASK,
            {
                "input": {
                    "eventId": w.event_id,
                    "title": "For the target",
                    "assigneeIds": [w.pids["target"]],
                }
            },
            "owner",
            "createTask",
        )
    )["task"]["id"]
    for role in ("participant", "organizer", "owner"):
        await refused(w, COMPLETE_TASK, {"input": {"taskId": task}}, role, "FORBIDDEN")
    done = await ok(
        api, COMPLETE_TASK, {"input": {"taskId": task}}, w.users["target"]["token"], "completeTask"
    )
    assert done["task"]["completedBy"] == {"id": w.pids["target"]}


async def test_a_party_records_its_own_settlement(api, accounts, events):
    w = await build_world(api, accounts, events)
    for src, dst in (
        (w.pids["participant"], w.pids["target"]),
        (w.pids["target"], w.pids["participant"]),
    ):
        recorded = await allowed(
            w,
            SETTLE,
            {"input": {"eventId": w.event_id, "fromId": src, "toId": dst, "amount": "3.00"}},
            "participant",
            "recordSettlement",
        )
        assert recorded["settlement"]["id"]
    assert len((await w.snapshot())["settlements"]) == 2  # type: ignore[index]


async def test_only_the_owner_makes_organizers(api, accounts, events):
    w = await build_world(api, accounts, events)
    organizer_invite = {
        "input": {
            "eventId": w.event_id,
            "role": "ORGANIZER",
            "invitees": [{"email": "boss@example.com"}],
        }
    }
    await refused(w, INVITE, organizer_invite, "organizer", "FORBIDDEN")
    await refused(
        w, LINK, {"input": {"eventId": w.event_id, "role": "ORGANIZER"}}, "organizer", "FORBIDDEN"
    )
    await refused(
        w,
        ROLE,
        {"input": {"eventId": w.event_id, "participantId": w.pids["target"], "role": "ORGANIZER"}},
        "organizer",
        "FORBIDDEN",
    )
    sent = await allowed(w, INVITE, organizer_invite, "owner", "inviteParticipants")
    assert sent["invitations"][0]["role"] == "ORGANIZER"
    link = await allowed(
        w,
        LINK,
        {"input": {"eventId": w.event_id, "role": "ORGANIZER"}},
        "owner",
        "createInviteLink",
    )
    assert link["token"]
    # the organizer can demote nobody either
    await refused(
        w,
        ROLE,
        {
            "input": {
                "eventId": w.event_id,
                "participantId": w.pids["organizer"],
                "role": "PARTICIPANT",
            }
        },
        "organizer",
        "FORBIDDEN",
    )


async def test_the_owner_leaves_after_transferring(api, accounts, events):
    w = await build_world(api, accounts, events)
    before = await w.snapshot()
    cannot = (await w.run(LEAVE, {"input": {"eventId": w.event_id}}, "owner"))["data"]["leaveEvent"]
    assert_payload_error(cannot, "OWNER_CANNOT_LEAVE")
    assert await w.snapshot() == before
    await allowed(
        w,
        TRANSFER,
        {"input": {"eventId": w.event_id, "participantId": w.pids["participant"]}},
        "owner",
        "transferOwnership",
    )
    # the former owner is now an organizer: owner-only operations are refused
    await refused(
        w,
        TRANSFER,
        {"input": {"eventId": w.event_id, "participantId": w.pids["owner"]}},
        "owner",
        "FORBIDDEN",
    )
    left = await allowed(w, LEAVE, {"input": {"eventId": w.event_id}}, "owner", "leaveEvent")
    assert left["participant"]["state"] == "LEFT"
    # having left, they are an outsider of a private event
    assert (await w.run(READ, {"id": w.event_id}, "owner")) == {"data": {"event": None}}
    gone = await w.run(UPDATE_EVENT, {"input": {"eventId": w.event_id, "title": "x"}}, "owner")
    missing = await w.run(
        UPDATE_EVENT, {"input": {"eventId": to_base64("Event", MISSING), "title": "x"}}, "owner"
    )
    assert without_position(assert_refused(gone, "NOT_FOUND")) == without_position(
        assert_refused(missing, "NOT_FOUND")
    )


async def test_a_rejected_token_is_unauthenticated(api, accounts, events):
    w = await build_world(api, accounts, events)
    before = await w.snapshot()
    result = await api.execute(
        UPDATE_EVENT, {"input": {"eventId": w.event_id, "title": "x"}}, token="not-a-token"
    )
    error = assert_refused(result, "UNAUTHENTICATED")
    assert error["message"] == "Access token rejected: invalid or expired token."
    assert await w.snapshot() == before


# --- looking people up by id, and asking to join -----------------------------------------------

USER_NODES = """query($ids: [ID!]!) { nodes(ids: $ids) { id ... on User {
  username firstName lastName displayName bio timezone role } } }"""
USER_NODE = "query($id: ID!) { node(id: $id) { id ... on User { username } } }"


@pytest.mark.parametrize("role", [*ROLES, "admin"])
async def test_looking_up_users_by_id(api, accounts, events, role: str):
    """node/nodes on User show what the direct fields show: yourself and the people you take
    part in an event with (admins: everyone). Any other account, like a missing id, is null."""
    w = await build_world(
        api, accounts, events, "UNLISTED" if role == "outsider_unlisted" else "PRIVATE"
    )
    stranger = await accounts.user()  # in no event with anyone
    admin = await accounts.admin() if role == "admin" else None
    token = admin["token"] if admin else w.token(role)
    target = w.users["target"]["id"]
    user = None if admin else ROLE_USER[role]
    me = admin["id"] if admin else (w.users[user]["id"] if user else None)
    ids = [target, stranger["id"], to_base64("User", MISSING)] + ([me] if me else [])
    result = await api.execute(USER_NODES, {"ids": ids}, token=token)
    assert "errors" not in result, result
    found = [n["id"] if n else None for n in result["data"]["nodes"]]
    single = await api.execute(USER_NODE, {"id": target}, token=token)
    assert "errors" not in single, single

    if role == "admin":
        assert found == [target, stranger["id"], None, me]
    elif role in ("participant", "organizer", "owner"):
        assert found == [target, None, None, me]  # the stranger shares no event with them
        assert single["data"]["node"] == {"id": target, "username": w.users["target"]["username"]}
    else:  # anonymous, outsiders: nobody but themself, exactly as for a missing id
        assert found == [None, None, None] + ([me] if me else [])
        assert single == {"data": {"node": None}}
        assert await api.execute(USER_NODE, {"id": to_base64("User", MISSING)}, token=token) == {
            "data": {"node": None}
        }


ASK_BY_TOKEN = mutation(
    "requestToJoin", "RequestToJoinInput", f"joinRequest {{ id status }} {ERRORS}"
)
JOIN_REQUESTS = "query($id: ID!) { event(id: $id) { joinRequests { id user { id } } } }"


@pytest.mark.parametrize("role", ROLES)
async def test_asking_to_join(api, accounts, events, role: str):
    """requestToJoin: by share token, an outsider of an UNLISTED event may ask; by id, nobody
    outside learns the event exists (a missing id's answer); members are already in."""
    unlisted = role == "outsider_unlisted"
    w = await build_world(api, accounts, events, "UNLISTED" if unlisted else "PRIVATE")
    share = await share_token(w)
    by_token = await w.run(ASK_BY_TOKEN, {"input": {"shareToken": share}}, role)
    by_id = await w.run(ASK_BY_TOKEN, {"input": {"eventId": w.event_id}}, role)
    missing_id = await w.run(
        ASK_BY_TOKEN, {"input": {"eventId": to_base64("Event", MISSING)}}, role
    )
    listed = await api.execute(JOIN_REQUESTS, {"id": w.event_id}, token=w.token("owner"))
    requests = listed["data"]["event"]["joinRequests"]

    if role == "anonymous":
        for result in (by_token, by_id):
            assert_refused(result, "UNAUTHENTICATED")
        assert requests == []
        return
    if role in ("outsider", "outsider_unlisted"):
        refused = assert_refused(by_id, "NOT_FOUND")
        assert without_position(refused) == without_position(
            assert_refused(missing_id, "NOT_FOUND")
        )
        if role == "outsider":  # a PRIVATE event's token opens nothing either
            assert without_position(assert_refused(by_token, "NOT_FOUND")) == without_position(
                refused
            )
            assert requests == []
            return
        asked = by_token["data"]["requestToJoin"]
        assert asked["errors"] == [] and asked["joinRequest"]["status"] == "PENDING"
        assert requests == [
            {"id": asked["joinRequest"]["id"], "user": {"id": w.users["outsider"]["id"]}}
        ]
        return
    for result in (by_token, by_id):  # members
        assert_payload_error(result["data"]["requestToJoin"], "ALREADY_PARTICIPANT")
    assert requests == []


# --- notificationReceived(after:): your own notifications only ----------------------------------

NOTIFICATIONS_AFTER = """subscription($after: String) { notificationReceived(after: $after) {
  cursor notification { id title } } }"""


async def _notification_for(user: dict[str, Any], title: str) -> Any:
    """A notification document for `user`, at the store level."""
    return await notifications_store.add(
        notifications_store.Notification(
            user_id=int(GlobalID.from_id(user["id"]).node_id),
            type="EVENT_UPDATED",
            group_key=f"EVENT_UPDATED:0:{uuid.uuid4().hex}",
            title=title,
        )
    )


async def _first_error(ws: Any) -> dict[str, Any]:
    message = await ws.receive()
    payload = message["payload"]
    errors = payload if message["type"] == "error" else payload.get("errors")
    assert errors, message
    error: dict[str, Any] = errors[0]
    return error


async def test_anonymous_notification_stream_with_a_cursor_is_unauthenticated(api):
    async with api.ws({}) as ws:
        assert (await ws.receive())["type"] == "connection_ack"
        await ws.subscribe(
            NOTIFICATIONS_AFTER, {"after": encode_cursor("2020-01-01T00:00:00+00:00", "0" * 24)}
        )
        assert (await _first_error(ws))["extensions"]["code"] == "UNAUTHENTICATED"


async def test_a_cursor_replays_only_the_viewers_own_notifications(api, accounts):
    """Bob resumes from before Alice's notification (or from its very cursor): he gets his own
    notifications, never hers."""
    alice, bob = await accounts.user(), await accounts.user()
    hers = await _notification_for(alice, "for alice only")
    his = await _notification_for(bob, "for bob")
    for after in (
        encode_cursor("2020-01-01T00:00:00+00:00", "0" * 24),
        encode_cursor(hers.updated_at.isoformat(), "0" * 24),
    ):
        async with api.ws({"authorization": f"Bearer {bob['token']}"}) as ws:
            assert (await ws.receive())["type"] == "connection_ack"
            await ws.subscribe(NOTIFICATIONS_AFTER, {"after": after})
            message = await ws.receive()
            assert message["type"] == "next", message
            got = message["payload"]["data"]["notificationReceived"]["notification"]
            assert got["title"] == his.title
            with pytest.raises(TimeoutError):
                raise AssertionError(await ws.receive(timeout=0.5))
