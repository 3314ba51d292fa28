"""Date poll faults (issue 18): the store failing in the middle of a write changes nothing
(closing moves the event and closes the poll together, or neither; a ballot replaces the
voter's answers entirely, or not at all); an answer lost after the commit is recovered by the
retry with the same key; two dispatchers reaching one deadline close the poll once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.exc import OperationalError
from sqlmodel import col, select

from resolvers import date_polls as uc
from stores import date_polls as store
from stores.outbox import OutboxEvent
from tests.factories import crew, pk
from tests.support import drain_outbox

POLL = "id status version options { id startsAt yesCount noCount } chosenOption { id }"
CREATE = f"""mutation($input: CreateDatePollInput!) {{ createDatePoll(input: $input) {{
  datePoll {{ {POLL} }} errors {{ code }} }} }}"""
VOTE = f"""mutation($input: VoteDatePollInput!) {{ voteDatePoll(input: $input) {{
  datePoll {{ {POLL} }} errors {{ code }} }} }}"""
CLOSE = f"""mutation($input: CloseDatePollInput!) {{ closeDatePoll(input: $input) {{
  datePoll {{ {POLL} }} errors {{ code }} }} }}"""
EVENT = f"""query($id: ID!) {{ event(id: $id) {{ startsAt endsAt version
  datePoll {{ {POLL} }} }} }}"""
INBOX = "{ notifications(first: 50) { nodes { type } } }"


def lost_connection() -> OperationalError:
    return OperationalError("UPDATE date_polls", {}, Exception("injected: server has gone away"))


def options(days: int = 10) -> list[dict[str, str]]:
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=days)
    return [{"startsAt": (start + timedelta(hours=h)).isoformat()} for h in (0, 3, 6)]


async def read(api: Any, user: dict[str, Any], event_id: str) -> dict[str, Any]:
    result = await api.execute(EVENT, {"id": event_id}, token=user["token"])
    assert "errors" not in result, result
    return result["data"]["event"]  # type: ignore[no-any-return]


async def opened(api: Any, c: dict[str, Any], **more: Any) -> dict[str, Any]:
    result = await api.execute(
        CREATE,
        {"input": {"eventId": c["event"]["id"], "options": options(), **more}},
        token=c["people"][1]["token"],
    )
    assert result["data"]["createDatePoll"]["errors"] == [], result
    return result["data"]["createDatePoll"]["datePoll"]  # type: ignore[no-any-return]


async def test_closing_fails_whole_when_the_store_fails_between_its_writes(
    api, accounts, events, server, monkeypatch
):
    c = await crew(accounts, events, 3)
    owner, organizer, voter = c["people"]
    poll = await opened(api, c)
    before = await read(api, owner, c["event"]["id"])
    real = store.save_poll

    async def fails(*_: Any, **__: Any) -> Any:
        raise lost_connection()  # after the event row was moved, in the same transaction

    monkeypatch.setattr(store, "save_poll", fails)
    failed = await api.execute(CLOSE, {"input": {"pollId": poll["id"]}}, token=organizer["token"])
    assert failed.get("errors") and failed["data"] is None, failed
    assert "gone away" not in str(failed)  # no store detail reaches the client
    after = await read(api, owner, c["event"]["id"])
    assert (after["startsAt"], after["endsAt"], after["version"]) == (
        before["startsAt"],
        before["endsAt"],
        before["version"],
    )
    assert after["datePoll"]["status"] == "OPEN"
    await drain_outbox(server)
    told = await api.execute(INBOX, token=voter["token"])
    assert "EVENT_DATE_CHOSEN" not in [n["type"] for n in told["data"]["notifications"]["nodes"]]

    monkeypatch.setattr(store, "save_poll", real)
    retried = await api.execute(CLOSE, {"input": {"pollId": poll["id"]}}, token=organizer["token"])
    assert retried["data"]["closeDatePoll"]["errors"] == [], retried
    moved = await read(api, owner, c["event"]["id"])
    assert moved["startsAt"] == poll["options"][0]["startsAt"]
    assert moved["version"] == before["version"] + 1


async def test_a_ballot_fails_whole_and_keeps_the_earlier_answers(
    api, accounts, events, monkeypatch
):
    c = await crew(accounts, events, 3)
    voter = c["people"][2]
    poll = await opened(api, c)
    first = [{"optionId": o["id"], "choice": "YES"} for o in poll["options"]]
    done = await api.execute(
        VOTE, {"input": {"pollId": poll["id"], "votes": first}}, token=voter["token"]
    )
    assert done["data"]["voteDatePoll"]["errors"] == [], done
    real = store.set_votes

    async def replaced_then_lost(*args: Any, **kwargs: Any) -> None:
        await real(*args, **kwargs)  # the old answers deleted, the new ones written...
        raise lost_connection()  # ...and the connection lost before the commit

    monkeypatch.setattr(store, "set_votes", replaced_then_lost)
    second = [{"optionId": o["id"], "choice": "NO"} for o in poll["options"]]
    failed = await api.execute(
        VOTE, {"input": {"pollId": poll["id"], "votes": second}}, token=voter["token"]
    )
    assert failed.get("errors") and failed["data"] is None, failed
    monkeypatch.setattr(store, "set_votes", real)
    seen = (await read(api, c["people"][1], c["event"]["id"]))["datePoll"]
    assert [(o["yesCount"], o["noCount"]) for o in seen["options"]] == [(1, 0)] * 3


async def test_a_create_whose_answer_was_lost_is_answered_again_by_its_retry(
    api, accounts, events, monkeypatch
):
    c = await crew(accounts, events, 2)
    organizer = c["people"][1]
    real = uc._announce

    async def lost(*_: Any, **__: Any) -> None:
        raise ConnectionResetError("injected: the answer never reached the client")

    monkeypatch.setattr(uc, "_announce", lost)  # runs after the commit
    variables = {
        "input": {"eventId": c["event"]["id"], "options": options(), "clientMutationId": "k-1"}
    }
    failed = await api.execute(CREATE, variables, token=organizer["token"])
    assert failed.get("errors"), failed
    monkeypatch.setattr(uc, "_announce", real)
    retried = await api.execute(CREATE, variables, token=organizer["token"])
    payload = retried["data"]["createDatePoll"]
    assert payload["errors"] == [], retried
    stored = await read(api, organizer, c["event"]["id"])
    assert stored["datePoll"]["id"] == payload["datePoll"]["id"]  # the first one, not another


async def test_two_dispatchers_at_one_deadline_close_the_poll_once(api, accounts, events, server):
    c = await crew(accounts, events, 3)
    deadline = datetime.now(UTC).replace(microsecond=0) + timedelta(days=2)
    poll = await opened(api, c, deadline=deadline.isoformat())
    original = server.deps.clock
    server.deps.clock = lambda: deadline + timedelta(seconds=1)
    try:
        closed = await asyncio.gather(uc.close_due(server.deps), uc.close_due(server.deps))
    finally:
        server.deps.clock = original
    assert sorted(closed) == [0, 1]
    async with server.deps.db.reader() as db:
        rows = (
            await db.exec(
                select(OutboxEvent).where(
                    col(OutboxEvent.event_type) == "event.date_chosen",
                    col(OutboxEvent.aggregate_id) == pk(c["event"]["id"]),
                )
            )
        ).all()
    assert len(rows) == 1
    seen = (await read(api, c["people"][2], c["event"]["id"]))["datePoll"]
    assert seen["status"] == "CLOSED" and seen["chosenOption"]["id"] == poll["options"][0]["id"]
