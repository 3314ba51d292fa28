"""Tasks (status flow) and expenses (exact splits, balances, settlement) through the API."""

from __future__ import annotations

import base64
import logging
import os
from decimal import Decimal
from typing import Any

import httpx
import pytest

from resolvers import event_content
from tests.conftest import cold_caches, start_server, stop_server
from tests.factories import crew
from tests.support import GraphQLClient, assert_error, assert_payload_error
from tests.support.live import until
from tests.support.tasks import (
    CREATE_EXPENSE,
    CREATE_TASK,
    EXPENSE_FIELDS,
    create_task,
    expense,
    run_step,
    step,
)


def step_payload(result: dict[str, Any], name: str) -> dict[str, Any]:
    payload: dict[str, Any] = result["data"][name]
    return payload


async def assigned_task(api, accounts, events) -> tuple[dict[str, Any], dict[str, Any]]:
    """A crew of four (owner, organizer, alice, bob) and a task bob created for alice."""
    c = await crew(accounts, events, 4)
    bob, alice_p = c["people"][3], c["pids"][2]
    task = await create_task(
        api, bob, c["event"]["id"], assigneeIds=[alice_p], dueAt="2030-06-01T09:00:00+00:00"
    )
    return c, task


async def test_a_new_task_is_todo_with_its_assignees(api, accounts, events):
    c, task = await assigned_task(api, accounts, events)
    assert task["status"] == "TODO" and task["assignees"] == [{"id": c["pids"][2]}]


async def test_an_assignee_completes_a_task_and_others_cannot(api, accounts, events):
    c, task = await assigned_task(api, accounts, events)
    _, _, alice, bob = c["people"]
    assert_error(await run_step(api, bob, "completeTask", task["id"]), "FORBIDDEN")
    done = step_payload(await run_step(api, alice, "completeTask", task["id"]), "completeTask")
    assert done["task"]["status"] == "DONE" and done["task"]["completedBy"] == {"id": c["pids"][2]}
    assert done["task"]["completedAt"]


async def test_a_done_task_cannot_be_completed_again(api, accounts, events):
    c, task = await assigned_task(api, accounts, events)
    alice = c["people"][2]
    await run_step(api, alice, "completeTask", task["id"])
    again = step_payload(await run_step(api, alice, "completeTask", task["id"]), "completeTask")
    assert_payload_error(again, "INVALID_TRANSITION")


async def test_an_organizer_validates_a_done_task_and_a_participant_cannot(api, accounts, events):
    c, task = await assigned_task(api, accounts, events)
    _, organizer, alice, bob = c["people"]
    await run_step(api, alice, "completeTask", task["id"])
    assert_error(await run_step(api, bob, "validateTask", task["id"]), "FORBIDDEN")
    valid = step_payload(await run_step(api, organizer, "validateTask", task["id"]), "validateTask")
    assert valid["task"]["status"] == "VALIDATED"
    assert valid["task"]["validatedBy"] == {"id": c["pids"][1]}


async def test_reopening_clears_completion_and_validation(api, accounts, events):
    c, task = await assigned_task(api, accounts, events)
    _, organizer, alice, _ = c["people"]
    await run_step(api, alice, "completeTask", task["id"])
    await run_step(api, organizer, "validateTask", task["id"])
    reopened = step_payload(await run_step(api, alice, "reopenTask", task["id"]), "reopenTask")
    assert reopened["task"]["status"] == "TODO"
    assert reopened["task"]["completedBy"] is None and reopened["task"]["validatedBy"] is None


async def test_an_organizer_who_completed_a_task_cannot_validate_it(api, accounts, events):
    # another organizer (the owner) can
    c = await crew(accounts, events, 3)
    owner, organizer, _ = c["people"]
    own = await create_task(api, owner, c["event"]["id"], "Unassigned")
    await run_step(api, organizer, "completeTask", own["id"])
    self_check = step_payload(
        await run_step(api, organizer, "validateTask", own["id"]), "validateTask"
    )
    assert_payload_error(self_check, "SELF_VALIDATION")
    by_owner = step_payload(await run_step(api, owner, "validateTask", own["id"]), "validateTask")
    assert by_owner["task"]["status"] == "VALIDATED"


async def test_a_todo_task_cannot_be_validated(api, accounts, events):
    c, task = await assigned_task(api, accounts, events)
    owner = c["people"][0]
    todo = step_payload(await run_step(api, owner, "validateTask", task["id"]), "validateTask")
    assert_payload_error(todo, "INVALID_TRANSITION")


async def test_tasks_are_listed_by_status_and_assignee_and_paged(api, accounts, events):
    c, _ = await assigned_task(api, accounts, events)
    owner, organizer, _, bob = c["people"]
    own = await create_task(api, owner, c["event"]["id"], "Unassigned")
    await run_step(api, organizer, "completeTask", own["id"])
    await run_step(api, owner, "validateTask", own["id"])
    listed = await api.execute(
        """query($id: ID!, $a: ID) { event(id: $id) {
        todo: tasks(status: TODO) { edges { node { title } } }
        alice: tasks(assigneeId: $a) { edges { node { title } } }
        all: tasks(first: 1) { edges { node { title } } pageInfo { hasNextPage } } } }""",
        {"id": c["event"]["id"], "a": c["pids"][2]},
        token=bob["token"],
    )
    data = listed["data"]["event"]
    assert [e["node"]["title"] for e in data["todo"]["edges"]] == ["Buy bread"]
    assert [e["node"]["title"] for e in data["alice"]["edges"]] == ["Buy bread"]
    assert data["all"]["pageInfo"]["hasNextPage"] is True


async def event_tasks(api, user, event_id: str) -> list[dict[str, Any]]:
    listed = await api.execute(
        "query($id: ID!) { event(id: $id) { tasks { edges { node { id } } } } }",
        {"id": event_id},
        token=user["token"],
    )
    edges: list[dict[str, Any]] = listed["data"]["event"]["tasks"]["edges"]
    return edges


UNKNOWN_PARTICIPANT = "UGFydGljaXBhbnQ6OTk5OTk="
UPDATE_TASK = """mutation($input: UpdateTaskInput!) { updateTask(input: $input) {
  task { title version } errors { code } } }"""
DELETE_TASK = """mutation($id: ID!) { deleteTask(input: {taskId: $id}) { deletedTaskId
  errors { code } } }"""


async def test_a_blank_title_and_a_bad_due_date_are_both_reported(api, accounts, events):
    c = await crew(accounts, events, 3)
    owner, _, alice = c["people"]
    bad = (
        await api.execute(
            CREATE_TASK,
            {
                "input": {
                    "eventId": c["event"]["id"],
                    "title": " ",
                    "dueAt": "2030-01-01T00:00:00",
                    "assigneeIds": [c["pids"][2], UNKNOWN_PARTICIPANT],
                }
            },
            token=alice["token"],
        )
    )["data"]["createTask"]
    assert {e["code"] for e in bad["errors"]} == {"INVALID_TITLE", "INVALID_DATES"}
    assert await event_tasks(api, owner, c["event"]["id"]) == []


async def test_an_unknown_assignee_is_refused(api, accounts, events):
    c = await crew(accounts, events, 3)
    owner, _, alice = c["people"]
    unknown = (
        await api.execute(
            CREATE_TASK,
            {
                "input": {
                    "eventId": c["event"]["id"],
                    "title": "x",
                    "assigneeIds": [c["pids"][2], UNKNOWN_PARTICIPANT],
                }
            },
            token=alice["token"],
        )
    )["data"]["createTask"]
    assert_payload_error(unknown, "UNKNOWN_PARTICIPANT", ["input", "assigneeIds", "1"])
    assert await event_tasks(api, owner, c["event"]["id"]) == []


async def test_a_task_update_bumps_its_version(api, accounts, events):
    c = await crew(accounts, events, 3)
    alice = c["people"][2]
    task = await create_task(api, alice, c["event"]["id"], "Mine")
    ok = (
        await api.execute(
            UPDATE_TASK,
            {
                "input": {
                    "taskId": task["id"],
                    "title": "Mine too",
                    "expectedVersion": task["version"],
                }
            },
            token=alice["token"],
        )
    )["data"]["updateTask"]
    assert ok["task"] == {"title": "Mine too", "version": task["version"] + 1}


async def test_a_task_update_from_a_stale_version_is_refused(api, accounts, events):
    c = await crew(accounts, events, 3)
    owner, _, alice = c["people"]
    task = await create_task(api, alice, c["event"]["id"], "Mine")
    await api.execute(
        UPDATE_TASK,
        {"input": {"taskId": task["id"], "title": "Mine too", "expectedVersion": task["version"]}},
        token=alice["token"],
    )
    stale = (
        await api.execute(
            UPDATE_TASK,
            {"input": {"taskId": task["id"], "title": "x", "expectedVersion": task["version"]}},
            token=owner["token"],
        )
    )["data"]["updateTask"]
    assert_payload_error(stale, "STALE")


async def test_an_outsider_cannot_update_a_task(api, accounts, events):
    c = await crew(accounts, events, 3)
    task = await create_task(api, c["people"][2], c["event"]["id"], "Mine")
    outsider = await accounts.user()
    assert_error(
        await api.execute(
            UPDATE_TASK, {"input": {"taskId": task["id"], "title": "x"}}, token=outsider["token"]
        ),
        "NOT_FOUND",
    )


async def test_the_owner_deletes_a_task(api, accounts, events):
    c = await crew(accounts, events, 3)
    owner, _, alice = c["people"]
    task = await create_task(api, alice, c["event"]["id"], "Mine")
    assert (await api.execute(DELETE_TASK, {"id": task["id"]}, token=owner["token"]))["data"][
        "deleteTask"
    ]["deletedTaskId"] == task["id"]


LEDGER = """query($id: ID!) { event(id: $id) {
  balances { participant { id } paid { amount } owed { amount } net { amount } }
  settlementPlan { from { id } to { id } amount { amount currency } }
  settlements { from { id } to { id } amount { amount } }
  expenses { edges { node { title } } } } }"""


async def create_expense(api, user, c, **over: Any) -> dict[str, Any]:
    payload: dict[str, Any] = (
        await api.execute(CREATE_EXPENSE, expense(c, **over), token=user["token"])
    )["data"]["createExpense"]
    assert payload["errors"] == [], payload
    return payload


async def ledger_of(api, user, c) -> dict[str, Any]:
    ledger: dict[str, Any] = (
        await api.execute(LEDGER, {"id": c["event"]["id"]}, token=user["token"])
    )["data"]["event"]
    return ledger


def plan_of(ledger: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [
        (t["from"]["id"], t["to"]["id"], t["amount"]["amount"]) for t in ledger["settlementPlan"]
    ]


async def equal_and_fuel(api, c) -> None:
    """Alice (c's third person) adds 10.00 split equally and paid by the owner, then 9 of fuel
    she paid, split 1:2 between the owner and herself."""
    o, _, a = c["pids"]
    alice = c["people"][2]
    await create_expense(api, alice, c, amount="10.00")
    await create_expense(
        api, alice, c, title="Fuel", amount="9", paidById=a, split=fuel_split(o, a)
    )


def fuel_split(o: str, a: str) -> dict[str, Any]:
    return {
        "mode": "SHARES",
        "parts": [{"participantId": o, "value": "1"}, {"participantId": a, "value": "2"}],
    }


async def test_an_equal_split_is_exact_and_the_first_gets_the_cent(api, accounts, events):
    c = await crew(accounts, events, 3)
    o, g, a = c["pids"]
    equal = await create_expense(api, c["people"][2], c, amount="10.00")
    shares = [(s["participant"]["id"], s["amount"]["amount"]) for s in equal["expense"]["shares"]]
    assert shares == [(o, "3.34"), (g, "3.33"), (a, "3.33")]  # exact, first gets the cent


async def test_a_split_by_shares_is_weighted(api, accounts, events):
    c = await crew(accounts, events, 3)
    o, _, a = c["pids"]
    weighted = (
        await create_expense(
            api, c["people"][2], c, title="Fuel", amount="9", paidById=a, split=fuel_split(o, a)
        )
    )["expense"]
    assert [s["amount"]["amount"] for s in weighted["shares"]] == ["3.00", "6.00"]
    assert weighted["amount"] == {"amount": "9.00", "currency": "EUR"}


async def test_balances_sum_to_zero_and_the_plan_settles_them(api, accounts, events):
    c = await crew(accounts, events, 3)
    o, g, a = c["pids"]
    await equal_and_fuel(api, c)
    ledger = await ledger_of(api, c["people"][2], c)
    nets = {b["participant"]["id"]: Decimal(b["net"]["amount"]) for b in ledger["balances"]}
    assert nets == {o: Decimal("3.66"), g: Decimal("-3.33"), a: Decimal("-0.33")}
    assert sum(nets.values()) == 0
    assert sorted(plan_of(ledger)) == sorted([(g, o, "3.33"), (a, o, "0.33")])


RECORD_SETTLEMENT = """mutation($input: RecordSettlementInput!) { recordSettlement(input: $input) {
  settlement { amount { amount } } errors { code field } } }"""


async def test_a_recorded_settlement_leaves_the_rest_of_the_plan(api, accounts, events):
    c = await crew(accounts, events, 3)
    o, g, a = c["pids"]
    await equal_and_fuel(api, c)
    paid = (
        await api.execute(
            RECORD_SETTLEMENT,
            {"input": {"eventId": c["event"]["id"], "fromId": g, "toId": o, "amount": "3.33"}},
            token=c["people"][1]["token"],
        )
    )["data"]["recordSettlement"]
    assert paid["errors"] == []
    after = await ledger_of(api, c["people"][2], c)
    assert plan_of(after) == [(a, o, "0.33")]  # the rest is unchanged
    assert len(after["settlements"]) == 1


async def test_a_settlement_to_oneself_of_a_negative_amount_is_refused(api, accounts, events):
    c = await crew(accounts, events, 3)
    a = c["pids"][2]
    bad = (
        await api.execute(
            RECORD_SETTLEMENT,
            {"input": {"eventId": c["event"]["id"], "fromId": a, "toId": a, "amount": "-1"}},
            token=c["people"][2]["token"],
        )
    )["data"]["recordSettlement"]
    assert {e["code"] for e in bad["errors"]} == {"NEGATIVE_AMOUNT", "INVALID_INPUT"}


# a bad expense input (given the owner's and a participant's ids) -> its code and field
BAD_EXPENSES: list[tuple[Any, str, list[str] | None]] = [
    (lambda o, a: {"amount": "12.345"}, "INVALID_AMOUNT", ["input", "amount"]),
    (lambda o, a: {"amount": "-5"}, "NEGATIVE_AMOUNT", ["input", "amount"]),
    (lambda o, a: {"amount": "0"}, "ZERO_AMOUNT", ["input", "amount"]),
    (lambda o, a: {"amount": "abc"}, "INVALID_AMOUNT", ["input", "amount"]),
    (lambda o, a: {"currency": "USD"}, "CURRENCY_MISMATCH", ["input", "currency"]),
    (lambda o, a: {"title": "x" * 201}, "INVALID_TITLE", ["input", "title"]),
    (
        lambda o, a: {"paidById": "UGFydGljaXBhbnQ6OTk5OTk="},
        "UNKNOWN_PARTICIPANT",
        ["input", "paidById"],
    ),
    (
        lambda o, a: {
            "split": {
                "mode": "EXACT",
                "parts": [
                    {"participantId": o, "value": "10.00"},
                    {"participantId": a, "value": "10.00"},
                ],
            }
        },
        "SPLIT_MISMATCH",
        None,
    ),
    (
        lambda o, a: {
            "split": {
                "mode": "PERCENT",
                "parts": [
                    {"participantId": o, "value": "50"},
                    {"participantId": a, "value": "40"},
                ],
            }
        },
        "SPLIT_MISMATCH",
        None,
    ),
    (
        lambda o, a: {"split": {"mode": "SHARES", "parts": [{"participantId": o, "value": "-1"}]}},
        "INVALID_SPLIT",
        None,
    ),
    (
        lambda o, a: {
            "split": {"mode": "EQUAL", "parts": [{"participantId": "UGFydGljaXBhbnQ6OTk5OTk="}]}
        },
        "UNKNOWN_PARTICIPANT",
        ["input", "split", "parts", "0", "participantId"],
    ),
]


@pytest.mark.parametrize(("bad", "code", "field"), BAD_EXPENSES)
async def test_expense_bad_input_changes_nothing(api, accounts, events, bad, code, field):
    c = await crew(accounts, events, 3)
    owner, _, alice = c["people"]
    o, _, a = c["pids"]
    over = bad(o, a)
    payload = (await api.execute(CREATE_EXPENSE, expense(c, **over), token=alice["token"]))["data"][
        "createExpense"
    ]
    assert payload["expense"] is None, over
    assert_payload_error(payload, code, field)
    ledger = (await api.execute(LEDGER, {"id": c["event"]["id"]}, token=owner["token"]))["data"][
        "event"
    ]
    assert ledger["expenses"]["edges"] == [] and ledger["settlementPlan"] == []
    assert all(b["net"]["amount"] == "0.00" for b in ledger["balances"])


UPDATE_EXPENSE = f"""mutation($input: UpdateExpenseInput!) {{ updateExpense(input: $input) {{
  expense {{ {EXPENSE_FIELDS} }} errors {{ code }} }} }}"""


async def alices_thirty(api, c) -> dict[str, Any]:
    """30.00 paid by alice (c's third person), split equally."""
    expense_: dict[str, Any] = (
        await create_expense(api, c["people"][2], c, amount="30.00", paidById=c["pids"][2])
    )["expense"]
    return expense_


async def test_an_updated_amount_is_split_again(api, accounts, events):
    c = await crew(accounts, events, 3)
    created = await alices_thirty(api, c)
    changed = (
        await api.execute(
            UPDATE_EXPENSE,
            {
                "input": {
                    "expenseId": created["id"],
                    "amount": "31.00",
                    "expectedVersion": created["version"],
                }
            },
            token=c["people"][2]["token"],
        )
    )["data"]["updateExpense"]
    assert changed["errors"] == []
    assert [s["amount"]["amount"] for s in changed["expense"]["shares"]] == [
        "10.34",
        "10.33",
        "10.33",
    ]


async def test_an_expense_update_from_a_stale_version_is_refused(api, accounts, events):
    c = await crew(accounts, events, 3)
    created = await alices_thirty(api, c)
    raised = await api.execute(
        UPDATE_EXPENSE,
        {"input": {"expenseId": created["id"], "amount": "31.00"}},
        token=c["people"][2]["token"],
    )
    assert raised["data"]["updateExpense"]["errors"] == []
    stale = (
        await api.execute(
            UPDATE_EXPENSE,
            {
                "input": {
                    "expenseId": created["id"],
                    "amount": "1",
                    "expectedVersion": created["version"],
                }
            },
            token=c["people"][0]["token"],
        )
    )["data"]["updateExpense"]
    assert_payload_error(stale, "STALE")


async def test_a_removed_participants_expense_and_balance_stay_with_her_name(api, accounts, events):
    c = await crew(accounts, events, 3)
    owner = c["people"][0]
    a = c["pids"][2]
    created = await alices_thirty(api, c)
    raised = await api.execute(  # alice paid 31.00 and owes 10.33 of it
        UPDATE_EXPENSE,
        {"input": {"expenseId": created["id"], "amount": "31.00"}},
        token=c["people"][2]["token"],
    )
    assert raised["data"]["updateExpense"]["errors"] == []
    remove = """mutation($e: ID!, $p: ID!) { removeParticipant(input: {eventId: $e,
        participantId: $p}) { errors { code } } }"""
    await api.execute(remove, {"e": c["event"]["id"], "p": a}, token=owner["token"])
    ledger = (
        await api.execute(
            """query($id: ID!) { event(id: $id) { participantCount
        balances { participant { id displayName state } net { amount } } } }""",
            {"id": c["event"]["id"]},
            token=owner["token"],
        )
    )["data"]["event"]
    assert ledger["participantCount"] == 2
    by_id = {b["participant"]["id"]: b for b in ledger["balances"]}
    assert by_id[a]["participant"]["state"] == "REMOVED"
    assert by_id[a]["net"]["amount"] == "20.67"


async def test_the_currency_is_locked_once_there_are_expenses(api, accounts, events):
    c = await crew(accounts, events, 3)
    await alices_thirty(api, c)
    locked = await api.execute(
        """mutation($id: ID!) { updateEvent(input: {eventId: $id,
        currency: "USD"}) { errors { code field } } }""",
        {"id": c["event"]["id"]},
        token=c["people"][0]["token"],
    )
    assert_payload_error(locked["data"]["updateEvent"], "CURRENCY_LOCKED", ["input", "currency"])


async def test_an_organizer_deletes_an_expense(api, accounts, events):
    c = await crew(accounts, events, 3)
    created = await alices_thirty(api, c)
    delete = """mutation($id: ID!) { deleteExpense(input: {expenseId: $id}) {
        deletedExpenseId errors { code } } }"""
    done = (await api.execute(delete, {"id": created["id"]}, token=c["people"][1]["token"]))[
        "data"
    ]["deleteExpense"]
    assert done == {"deletedExpenseId": created["id"], "errors": []}


async def test_event_page_statement_count_does_not_grow(api, accounts, events, caplog, server):

    caplog.set_level(logging.INFO, logger="iven.graphql")
    query = """query Page { myEvents(first: 50) { edges { node {
        participants { edges { node { user { username } } } }
        tasks { edges { node { assignees { id } completedBy { id } } } }
        expenses { edges { node { paidBy { id } shares { participant { user { id } } } } } }
        balances { net { amount } } settlementPlan { amount { amount } } } } } }"""

    async def statements(token: str) -> int:
        await cold_caches(server.deps)
        caplog.clear()
        result = await api.execute(query, token=token)
        assert "errors" not in result, result
        line = [r for r in caplog.records if getattr(r, "operation", None) == "Page"][-1]
        count: int = line.statements
        return count

    c = await crew(accounts, events, 3)
    owner = c["people"][0]
    await api.execute(
        CREATE_TASK,
        {"input": {"eventId": c["event"]["id"], "title": "t", "assigneeIds": [c["pids"][1]]}},
        token=owner["token"],
    )
    await api.execute(CREATE_EXPENSE, expense(c), token=owner["token"])
    small = await statements(owner["token"])
    for _ in range(3):
        more = await crew(accounts, events, 4)
        await events.add(more["people"][0]["token"], more["event"]["id"], owner)
        for n in range(3):
            await api.execute(
                CREATE_TASK,
                {
                    "input": {
                        "eventId": more["event"]["id"],
                        "title": f"t{n}",
                        "assigneeIds": more["pids"][:2],
                    }
                },
                token=more["people"][0]["token"],
            )
            await api.execute(
                CREATE_EXPENSE,
                expense(more, amount=f"{n + 1}0.00"),
                token=more["people"][0]["token"],
            )
    large = await statements(owner["token"])
    assert small == large <= 10


async def test_node_lookup_applies_event_membership(api, accounts, events):
    c = await crew(accounts, events, 3)
    owner, _, alice = c["people"]
    outsider = await accounts.user()
    task = (
        await api.execute(
            CREATE_TASK,
            {"input": {"eventId": c["event"]["id"], "title": "Node"}},
            token=alice["token"],
        )
    )["data"]["createTask"]["task"]
    spent = (await api.execute(CREATE_EXPENSE, expense(c), token=alice["token"]))["data"][
        "createExpense"
    ]["expense"]
    link = await api.execute(
        """mutation($id: ID!) { createInviteLink(input: {eventId: $id}) {
        inviteLink { id } } }""",
        {"id": c["event"]["id"]},
        token=owner["token"],
    )
    link_id = link["data"]["createInviteLink"]["inviteLink"]["id"]
    query = """query($ids: [ID!]!) { nodes(ids: $ids) { id ... on Task { title }
        ... on Expense { title shares { amount { amount } } } ... on InviteLink { uses } } }"""
    ids = [task["id"], spent["id"], link_id]
    as_owner = (await api.execute(query, {"ids": ids}, token=owner["token"]))["data"]["nodes"]
    assert [n["id"] for n in as_owner] == ids
    assert as_owner[1]["shares"] and as_owner[2]["uses"] == 0
    as_alice = (await api.execute(query, {"ids": ids}, token=alice["token"]))["data"]["nodes"]
    assert as_alice[0]["title"] == "Node" and as_alice[2] is None  # links: organizers only
    as_outsider = (await api.execute(query, {"ids": ids}, token=outsider["token"]))["data"]["nodes"]
    assert as_outsider == [None, None, None]


CONTENT = """query Content($id: ID!) { event(id: $id) {
  tasks { edges { node { title status assignees { id } } } }
  expenses { edges { node { title amount { amount } shares { amount { amount } } } } }
  settlements { amount { amount } } } }"""


async def test_event_content_is_cached_and_every_committed_write_refreshes_it(
    api, accounts, events, caplog, server
):
    """Tasks and the ledger are served from the per-process cache (no SQL but the viewer's
    membership); each kind of write shows on the next read, and a rejected write (rolled back)
    does not even invalidate."""

    caplog.set_level(logging.INFO, logger="iven.graphql")
    c = await crew(accounts, events, 3)
    owner, organizer, alice = c["people"]
    eid = c["event"]["id"]
    event_pk = int(base64.b64decode(eid).decode().split(":")[1])

    async def read() -> tuple[dict[str, Any], int]:
        caplog.clear()
        result = await api.execute(CONTENT, {"id": eid}, token=owner["token"])
        assert "errors" not in result, result
        line = [r for r in caplog.records if getattr(r, "operation", None) == "Content"][-1]
        return result["data"]["event"], line.statements

    async def version() -> int | None:
        return (await event_content.versions(server.deps).get_many([event_pk]))[0]

    first, _ = await read()

    async def served_from_cache() -> bool:  # membership only: the content is cached (an
        # invalidation of the crew's writes may still be on its way on a loaded machine)
        again, statements = await read()
        assert again == first
        return statements == 1

    await until(served_from_cache, "a read served from the cache")

    task = (
        await api.execute(
            CREATE_TASK,
            {"input": {"eventId": eid, "title": "Firewood", "assigneeIds": [c["pids"][2]]}},
            token=alice["token"],
        )
    )["data"]["createTask"]["task"]
    page, _ = await read()
    assert [e["node"]["title"] for e in page["tasks"]["edges"]] == ["Firewood"]
    await api.execute(step("completeTask"), {"id": task["id"]}, token=alice["token"])
    page, _ = await read()
    assert page["tasks"]["edges"][0]["node"]["status"] == "DONE"

    created = (
        await api.execute(CREATE_EXPENSE, expense(c, amount="12.00"), token=organizer["token"])
    )["data"]["createExpense"]
    page, _ = await read()
    assert [e["node"]["amount"]["amount"] for e in page["expenses"]["edges"]] == ["12.00"]
    update = """mutation($input: UpdateExpenseInput!) { updateExpense(input: $input) {
        errors { code } } }"""
    await api.execute(
        update,
        {"input": {"expenseId": created["expense"]["id"], "amount": "15.00"}},
        token=organizer["token"],
    )
    page, _ = await read()
    assert [e["node"]["amount"]["amount"] for e in page["expenses"]["edges"]] == ["15.00"]
    record = """mutation($input: RecordSettlementInput!) { recordSettlement(input: $input) {
        errors { code } } }"""
    await api.execute(
        record,
        {"input": {"eventId": eid, "fromId": c["pids"][2], "toId": c["pids"][0], "amount": "5.00"}},
        token=alice["token"],
    )
    page, _ = await read()
    assert page["settlements"] == [{"amount": {"amount": "5.00"}}]

    before = await version()
    bad = await api.execute(CREATE_EXPENSE, expense(c, amount="-3.00"), token=organizer["token"])
    assert bad["data"]["createExpense"]["errors"]
    assert await version() == before  # nothing committed, nothing invalidated
    delete = """mutation($id: ID!) { deleteTask(input: {taskId: $id}) { errors { code } } }"""
    await api.execute(delete, {"id": task["id"]}, token=alice["token"])
    assert await version() != before
    page, _ = await read()
    assert page["tasks"]["edges"] == []


@pytest.mark.skipif(
    os.environ.get("IVEN_TEST_BACKEND", "embedded") != "services",
    reason="needs a Redis shared between two server processes",
)
async def test_event_content_cached_by_another_process_is_refreshed_by_a_write(
    api, accounts, events, settings, server
):

    c = await crew(accounts, events, 3)
    owner, _, alice = c["people"]
    eid = c["event"]["id"]
    second, uv, task = await start_server(settings)
    try:
        async with httpx.AsyncClient(base_url=second.url, timeout=20) as http:
            other = GraphQLClient(http, second.ws_url)
            page = (await other.execute(CONTENT, {"id": eid}, token=owner["token"]))["data"]
            assert page["event"]["tasks"]["edges"] == []  # now cached by the second server
            await api.execute(
                CREATE_TASK, {"input": {"eventId": eid, "title": "Tent"}}, token=alice["token"]
            )
            await api.execute(CREATE_EXPENSE, expense(c, amount="8.00"), token=alice["token"])
            page = (await other.execute(CONTENT, {"id": eid}, token=owner["token"]))["data"]
            assert [e["node"]["title"] for e in page["event"]["tasks"]["edges"]] == ["Tent"]
            assert [e["node"]["amount"]["amount"] for e in page["event"]["expenses"]["edges"]] == [
                "8.00"
            ]
    finally:
        await stop_server(uv, task)
        await server.deps.documents.bind()  # Beanie's binding is process-wide


# --- person id arguments: a Participant id or the same person's User id (issue 17) -------------

SETTLE = """mutation($input: RecordSettlementInput!) { recordSettlement(input: $input) {
  settlement { from { id } to { id } amount { amount } } errors { code field message } } }"""
ASSIGN = """mutation($input: AssignTaskInput!) { assignTask(input: $input) {
  task { assignees { id } } errors { code field } } }"""


async def test_a_user_id_names_the_same_persons_participation(api, accounts, events):
    c = await crew(accounts, events, 3)
    owner, organizer, alice = c["people"]
    o, g, a = c["pids"]
    task = await create_task(api, alice, c["event"]["id"], assigneeIds=[alice["id"], g])
    assert sorted(p["id"] for p in task["assignees"]) == sorted([a, g])
    assigned = (
        await api.execute(
            ASSIGN,
            {"input": {"taskId": task["id"], "assigneeIds": [owner["id"]]}},
            token=alice["token"],
        )
    )["data"]["assignTask"]
    assert assigned == {"task": {"assignees": [{"id": o}]}, "errors": []}
    split = {
        "mode": "EXACT",
        "parts": [
            {"participantId": owner["id"], "valueDecimal": "4.00"},
            {"participantId": a, "valueDecimal": "6.00"},
        ],
    }
    made = await create_expense(api, alice, c, amount="10.00", paidById=alice["id"], split=split)
    assert made["expense"]["paidBy"] == {"id": a}
    shares = [(s["participant"]["id"], s["amount"]["amount"]) for s in made["expense"]["shares"]]
    assert shares == [(o, "4.00"), (a, "6.00")]
    settled = (
        await api.execute(
            SETTLE,
            {
                "input": {
                    "eventId": c["event"]["id"],
                    "fromId": owner["id"],
                    "toId": a,
                    "amountDecimal": "4.00",
                }
            },
            token=alice["token"],
        )
    )["data"]["recordSettlement"]
    assert settled["errors"] == []
    assert settled["settlement"] == {
        "from": {"id": o},
        "to": {"id": a},
        "amount": {"amount": "4.00"},
    }


# a person argument that names nobody of the event -> its code (the field is the test's)
WRONG_PEOPLE = [
    ("a Task id", "INVALID_INPUT"),
    ("garbage", "INVALID_INPUT"),
    ("an outsider's User id", "UNKNOWN_PARTICIPANT"),
]


async def _wrong(kind: str, accounts: Any, task: dict[str, Any]) -> str:
    if kind == "a Task id":
        return str(task["id"])
    if kind == "garbage":
        return "not an id!"
    return str((await accounts.user())["id"])


@pytest.mark.parametrize(("kind", "code"), WRONG_PEOPLE)
async def test_a_person_argument_of_the_wrong_kind_is_a_payload_error(
    api, accounts, events, kind, code
):
    c = await crew(accounts, events, 3)
    owner, _, alice = c["people"]
    o, _, a = c["pids"]
    eid = c["event"]["id"]
    task = await create_task(api, owner, eid, "Existing")
    wrong = await _wrong(kind, accounts, task)

    created = await api.execute(
        CREATE_TASK,
        {"input": {"eventId": eid, "title": "x", "assigneeIds": [a, wrong]}},
        token=alice["token"],
    )
    assert "errors" not in created and created["data"]["createTask"]["task"] is None
    assert_payload_error(created["data"]["createTask"], code, ["input", "assigneeIds", "1"])
    assigned = (
        await api.execute(
            ASSIGN, {"input": {"taskId": task["id"], "assigneeIds": [wrong]}}, token=owner["token"]
        )
    )["data"]["assignTask"]
    assert_payload_error(assigned, code, ["input", "assigneeIds", "0"])
    assert [e["node"]["id"] for e in await event_tasks(api, owner, eid)] == [task["id"]]
    again = (await api.execute(TASK_ASSIGNEES, {"id": task["id"]}, token=owner["token"]))["data"]
    assert again["node"]["assignees"] == []

    for over, field in (
        ({"paidById": wrong}, ["input", "paidById"]),
        (
            {"split": {"mode": "EQUAL", "parts": [{"participantId": o}, {"participantId": wrong}]}},
            ["input", "split", "parts", "1", "participantId"],
        ),
    ):
        payload = (await api.execute(CREATE_EXPENSE, expense(c, **over), token=alice["token"]))[
            "data"
        ]["createExpense"]
        assert payload["expense"] is None
        assert_payload_error(payload, code, field)
    for side in ("fromId", "toId"):
        parties = {"fromId": a, "toId": o, side: wrong}
        settled = await api.execute(
            SETTLE,
            {"input": {"eventId": eid, "amountDecimal": "1.00", **parties}},
            token=alice["token"],
        )
        assert "errors" not in settled
        assert settled["data"]["recordSettlement"]["settlement"] is None
        assert_payload_error(settled["data"]["recordSettlement"], code, ["input", side])
    ledger = await ledger_of(api, owner, c)
    assert ledger["expenses"]["edges"] == [] and ledger["settlements"] == []


TASK_ASSIGNEES = "query($id: ID!) { node(id: $id) { ... on Task { assignees { id } } } }"


# --- amounts: a Decimal both ways, the String field deprecated (issue 17) ----------------------


@pytest.mark.parametrize(("given", "stored"), [("12.5", "12.50"), ("7", "7.00"), ("0.10", "0.10")])
async def test_an_amount_is_a_decimal_in_as_it_is_out(api, accounts, events, given, stored):
    c = await crew(accounts, events, 3)
    alice = c["people"][2]
    made = (
        await api.execute(
            CREATE_EXPENSE, expense(c, amount=None, amountDecimal=given), token=alice["token"]
        )
    )["data"]["createExpense"]
    assert made["errors"] == [] and made["expense"]["amount"]["amount"] == stored


@pytest.mark.parametrize("given", [7, 0.1, "1E+3", "NaN", "1e999999", "12,50", ""])
async def test_a_decimal_is_a_plain_decimal_string(api, accounts, events, given):
    """The Decimal scalar (docs/scalars.md) takes a decimal string only: a JSON number (a float
    on the way), an exponent or NaN is refused before anything runs."""
    c = await crew(accounts, events, 3)
    owner, _, alice = c["people"]
    result = await api.execute(
        CREATE_EXPENSE, expense(c, amount=None, amountDecimal=given), token=alice["token"]
    )
    assert result.get("data") is None
    [error] = result["errors"]
    assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert "amountDecimal" in error["message"] and "Decimal" in error["message"]
    ledger = await ledger_of(api, owner, c)
    assert ledger["expenses"]["edges"] == []


BAD_AMOUNTS: list[tuple[dict[str, Any], str, list[str]]] = [
    ({"amount": "3.00", "amountDecimal": "3.00"}, "INVALID_INPUT", ["input", "amountDecimal"]),
    ({"amount": None}, "REQUIRED", ["input", "amountDecimal"]),
    ({"amount": None, "amountDecimal": "1.005"}, "INVALID_AMOUNT", ["input", "amountDecimal"]),
    ({"amount": None, "amountDecimal": "-2"}, "NEGATIVE_AMOUNT", ["input", "amountDecimal"]),
    (
        {
            "split": {
                "mode": "EXACT",
                "parts": [{"participantId": "P", "value": "30.00", "valueDecimal": "30.00"}],
            }
        },
        "INVALID_INPUT",
        ["input", "split", "parts", "0", "valueDecimal"],
    ),
    (
        {"split": {"mode": "EXACT", "parts": [{"participantId": "P", "valueDecimal": "30.001"}]}},
        "INVALID_SPLIT",
        ["input", "split", "parts", "0", "valueDecimal"],
    ),
]


@pytest.mark.parametrize(("over", "code", "field"), BAD_AMOUNTS)
async def test_an_amount_given_twice_or_not_at_all_changes_nothing(
    api, accounts, events, over, code, field
):
    c = await crew(accounts, events, 3)
    owner, _, alice = c["people"]
    for part in over.get("split", {}).get("parts", []):
        part["participantId"] = c["pids"][0]
    payload = (await api.execute(CREATE_EXPENSE, expense(c, **over), token=alice["token"]))["data"][
        "createExpense"
    ]
    assert payload["expense"] is None
    assert_payload_error(payload, code, field)
    settled = (
        await api.execute(
            SETTLE,
            {
                "input": {
                    "eventId": c["event"]["id"],
                    "fromId": c["pids"][2],
                    "toId": c["pids"][0],
                    "amount": "1.00",
                    "amountDecimal": "1.00",
                }
            },
            token=alice["token"],
        )
    )["data"]["recordSettlement"]
    assert_payload_error(settled, "INVALID_INPUT", ["input", "amountDecimal"])
    ledger = await ledger_of(api, owner, c)
    assert ledger["expenses"]["edges"] == [] and ledger["settlements"] == []


async def test_the_deprecated_string_amount_still_works_with_string_variables(
    api, accounts, events
):
    c = await crew(accounts, events, 3)
    alice = c["people"][2]
    old_client = """mutation($e: ID!, $p: ID!, $amount: String!) {
      createExpense(input: {eventId: $e, title: "Old", amount: $amount, paidById: $p,
        split: {mode: EQUAL}}) { expense { amount { amount } } errors { code } } }"""
    made = (
        await api.execute(
            old_client,
            {"e": c["event"]["id"], "p": c["pids"][2], "amount": "9.00"},
            token=alice["token"],
        )
    )["data"]["createExpense"]
    assert made == {"expense": {"amount": {"amount": "9.00"}}, "errors": []}
    updated = (
        await api.execute(
            UPDATE_EXPENSE,
            {"input": {"expenseId": (await alices_thirty(api, c))["id"], "amountDecimal": "31"}},
            token=alice["token"],
        )
    )["data"]["updateExpense"]
    assert updated["errors"] == [] and updated["expense"]["amount"]["amount"] == "31.00"
    fields = (
        await api.execute(
            """{ __type(name: "CreateExpenseInput") { inputFields(includeDeprecated: true) {
            name type { name } isDeprecated } } }""",
            token=alice["token"],
        )
    )["data"]["__type"]["inputFields"]
    by_name = {f["name"]: f for f in fields}
    assert by_name["amount"]["isDeprecated"] and not by_name["amountDecimal"]["isDeprecated"]
    assert by_name["amountDecimal"]["type"]["name"] == "Decimal"
