"""Date polls (issue 18): proposing times, voting, the tally and ranking, hidden votes, closing
(by an organizer or at the deadline) moving the event in the same transaction, reopening,
reminders to non-voters, the live stream, validation and idempotency."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from resolvers import date_polls as uc
from resolvers import notifications
from stores.date_polls import DateChoice
from tests.factories import crew
from tests.support import assert_error, drain_outbox

POLL = """id status deadline hideVotes allowIfNeedBe votesVisible voterCount viewerHasVoted
version closedAt chosenOption { id startsAt endsAt }
options { id startsAt endsAt rank yesCount ifNeedBeCount noCount viewerChoice
  votes { participant { id } choice } }
ranked: options(orderBy: RANK) { id rank }"""
ERRORS = "errors { code field message }"
CREATE = f"""mutation($input: CreateDatePollInput!) {{ createDatePoll(input: $input) {{
  datePoll {{ {POLL} }} {ERRORS} }} }}"""
UPDATE = f"""mutation($input: UpdateDatePollInput!) {{ updateDatePoll(input: $input) {{
  datePoll {{ {POLL} }} {ERRORS} }} }}"""
VOTE = f"""mutation($input: VoteDatePollInput!) {{ voteDatePoll(input: $input) {{
  datePoll {{ {POLL} }} {ERRORS} }} }}"""
CLOSE = f"""mutation($input: CloseDatePollInput!) {{ closeDatePoll(input: $input) {{
  datePoll {{ {POLL} }} {ERRORS} }} }}"""
REOPEN = f"""mutation($input: ReopenDatePollInput!) {{ reopenDatePoll(input: $input) {{
  datePoll {{ {POLL} }} {ERRORS} }} }}"""
DELETE = f"""mutation($input: DeleteDatePollInput!) {{ deleteDatePoll(input: $input) {{
  deletedDatePollId {ERRORS} }} }}"""
EVENT = f"""query($id: ID!) {{ event(id: $id) {{ startsAt endsAt version
  datePoll {{ {POLL} }} }} }}"""
LIVE = """subscription($id: ID!) { datePollChanged(eventId: $id) { id status voterCount
  options { id yesCount } } }"""
INBOX = """{ notifications(first: 50) { nodes { type title } } }"""


def iso(at: datetime) -> str:
    return at.isoformat()


def soon(days: int, hour: int = 18) -> datetime:
    base = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=days)
    return base.replace(hour=hour)


async def run(api: Any, doc: str, variables: dict[str, Any], user: dict[str, Any]) -> Any:
    result = await api.execute(doc, variables, token=user["token"])
    assert "errors" not in result, result
    return next(iter(result["data"].values()))


async def ok(api: Any, doc: str, variables: dict[str, Any], user: dict[str, Any]) -> Any:
    payload = await run(api, doc, variables, user)
    assert payload["errors"] == [], payload
    return payload


async def event_of(api: Any, user: dict[str, Any], event_id: str) -> dict[str, Any]:
    return await run(api, EVENT, {"id": event_id}, user)  # type: ignore[no-any-return]


async def open_poll(api: Any, c: dict[str, Any], n: int = 3, **more: Any) -> dict[str, Any]:
    options = [{"startsAt": iso(soon(10 + i)), "durationMinutes": 120 + i} for i in range(n)]
    payload = await ok(
        api,
        CREATE,
        {"input": {"eventId": c["event"]["id"], "options": options, **more}},
        c["people"][1],  # the organizer
    )
    return payload["datePoll"]  # type: ignore[no-any-return]


async def vote(
    api: Any, user: dict[str, Any], poll: dict[str, Any], choices: list[str]
) -> dict[str, Any]:
    votes = [
        {"optionId": o["id"], "choice": choice}
        for o, choice in zip(poll["options"], choices, strict=False)
    ]
    return await run(api, VOTE, {"input": {"pollId": poll["id"], "votes": votes}}, user)  # type: ignore[no-any-return]


async def test_organizers_propose_times_and_participants_see_them(api, accounts, events):
    c = await crew(accounts, events, 3)
    poll = await open_poll(api, c, deadline=iso(soon(5)), hideVotes=False)
    assert poll["status"] == "OPEN" and poll["version"] == 1
    assert [o["startsAt"] for o in poll["options"]] == sorted(
        o["startsAt"] for o in poll["options"]
    )
    first = poll["options"][0]
    starts = datetime.fromisoformat(first["startsAt"])
    assert datetime.fromisoformat(first["endsAt"]) - starts == timedelta(minutes=120)
    seen = (await event_of(api, c["people"][2], c["event"]["id"]))["datePoll"]
    assert seen["id"] == poll["id"] and seen["viewerHasVoted"] is False
    assert [o["yesCount"] for o in seen["options"]] == [0, 0, 0]
    # node(id:) reads the same poll; an outsider gets nothing
    node = await api.execute(
        "query($id: ID!) { node(id: $id) { ... on DatePoll { id } } }",
        {"id": poll["id"]},
        token=c["people"][2]["token"],
    )
    assert node["data"]["node"] == {"id": poll["id"]}
    outsider = await accounts.user()
    hidden = await api.execute(
        "query($id: ID!) { node(id: $id) { id } }", {"id": poll["id"]}, token=outsider["token"]
    )
    assert hidden["data"]["node"] is None


async def test_votes_are_tallied_ranked_and_changed(api, accounts, events):
    c = await crew(accounts, events, 5)
    owner, organizer, a, b, d = c["people"]
    poll = await open_poll(api, c)
    await vote(api, a, poll, ["NO", "YES", "IF_NEED_BE"])
    await vote(api, b, poll, ["NO", "IF_NEED_BE", "YES"])
    result = await vote(api, d, poll, ["YES", "NO", "YES"])
    assert result["errors"] == []
    seen = result["datePoll"]
    counts = [(o["yesCount"], o["ifNeedBeCount"], o["noCount"]) for o in seen["options"]]
    assert counts == [(1, 0, 2), (1, 1, 1), (2, 1, 0)]
    assert [o["id"] for o in seen["ranked"]] == [
        seen["options"][2]["id"],
        seen["options"][1]["id"],
        seen["options"][0]["id"],
    ]
    assert seen["voterCount"] == 3 and seen["viewerHasVoted"] is True
    assert [o["viewerChoice"] for o in seen["options"]] == ["YES", "NO", "YES"]
    # a changed answer replaces the first one (one vote per person and option)
    changed = (await vote(api, d, poll, ["NO"]))["datePoll"]
    assert changed["options"][0]["yesCount"] == 0 and changed["options"][0]["noCount"] == 3
    assert changed["voterCount"] == 3
    who = {v["participant"]["id"]: v["choice"] for v in changed["options"][1]["votes"]}
    assert who == {c["pids"][2]: "YES", c["pids"][3]: "IF_NEED_BE", c["pids"][4]: "NO"}


async def test_hidden_votes_show_to_organizers_and_to_everyone_once_closed(api, accounts, events):
    c = await crew(accounts, events, 4)
    owner, organizer, a, b = c["people"]
    poll = await open_poll(api, c, hideVotes=True)
    await vote(api, a, poll, ["YES", "NO"])
    mine = (await vote(api, b, poll, ["NO", "YES"]))["datePoll"]
    assert mine["votesVisible"] is False
    assert all(o["yesCount"] is None and o["votes"] == [] for o in mine["options"])
    assert [o["viewerChoice"] for o in mine["options"][:2]] == ["NO", "YES"]
    assert [o["rank"] for o in mine["ranked"]] == [1, 2, 3]  # no order to read the tally from
    assert mine["voterCount"] == 2
    theirs = (await event_of(api, organizer, c["event"]["id"]))["datePoll"]
    assert theirs["votesVisible"] is True
    assert [o["yesCount"] for o in theirs["options"]] == [1, 1, 0]
    await ok(api, CLOSE, {"input": {"pollId": poll["id"]}}, organizer)
    after = (await event_of(api, b, c["event"]["id"]))["datePoll"]
    assert after["votesVisible"] is True and [o["yesCount"] for o in after["options"]] == [1, 1, 0]


async def test_closing_moves_the_event_and_tells_everyone(api, accounts, events, server):
    c = await crew(accounts, events, 4)
    owner, organizer, a, b = c["people"]
    before = await event_of(api, owner, c["event"]["id"])
    poll = await open_poll(api, c)
    await vote(api, a, poll, ["NO", "YES", "YES"])
    await vote(api, b, poll, ["YES", "YES", "NO"])
    closed = (await ok(api, CLOSE, {"input": {"pollId": poll["id"]}}, organizer))["datePoll"]
    best = poll["options"][1]  # two YES, the earlier of the tied ones
    assert closed["status"] == "CLOSED" and closed["chosenOption"]["id"] == best["id"]
    assert closed["closedAt"] is not None
    after = await event_of(api, owner, c["event"]["id"])
    assert (after["startsAt"], after["endsAt"]) == (best["startsAt"], best["endsAt"])
    assert after["version"] == before["version"] + 1  # the ICS SEQUENCE goes up
    # closed: no more votes or changes
    late = await vote(api, a, poll, ["NO"])
    assert [e["code"] for e in late["errors"]] == ["POLL_CLOSED"]
    again = await run(api, CLOSE, {"input": {"pollId": poll["id"]}}, organizer)
    assert [e["code"] for e in again["errors"]] == ["POLL_CLOSED"]
    await drain_outbox(server)
    for user in (owner, a, b):
        types = [n["type"] for n in (await run(api, INBOX, {}, user))["nodes"]]
        assert types.count("EVENT_DATE_CHOSEN") == 1, types
    told = [n["type"] for n in (await run(api, INBOX, {}, organizer))["nodes"]]
    assert "EVENT_DATE_CHOSEN" not in told  # nobody is told what they did
    assert [n["type"] for n in (await run(api, INBOX, {}, a))["nodes"]].count(
        "DATE_POLL_OPENED"
    ) == 1


async def test_an_organizer_may_pick_another_option(api, accounts, events):
    c = await crew(accounts, events, 3)
    organizer, a = c["people"][1], c["people"][2]
    poll = await open_poll(api, c)
    await vote(api, a, poll, ["YES", "NO", "NO"])
    chosen = poll["options"][2]
    closed = (
        await ok(api, CLOSE, {"input": {"pollId": poll["id"], "optionId": chosen["id"]}}, organizer)
    )["datePoll"]
    assert closed["chosenOption"]["id"] == chosen["id"]
    event = await event_of(api, a, c["event"]["id"])
    assert event["startsAt"] == chosen["startsAt"]


async def test_reopening_keeps_votes_until_the_event_starts(api, accounts, events, server):
    c = await crew(accounts, events, 3)
    organizer, a = c["people"][1], c["people"][2]
    poll = await open_poll(api, c)
    await vote(api, a, poll, ["YES", "NO", "NO"])
    closed = (await ok(api, CLOSE, {"input": {"pollId": poll["id"]}}, organizer))["datePoll"]
    reopened = (
        await ok(
            api,
            REOPEN,
            {"input": {"pollId": poll["id"], "expectedVersion": closed["version"]}},
            organizer,
        )
    )["datePoll"]
    assert reopened["status"] == "OPEN" and reopened["chosenOption"] is None
    assert reopened["options"][0]["yesCount"] == 1
    again = await run(api, REOPEN, {"input": {"pollId": poll["id"]}}, organizer)
    assert [e["code"] for e in again["errors"]] == ["POLL_OPEN"]
    await ok(api, CLOSE, {"input": {"pollId": poll["id"]}}, organizer)
    start = datetime.fromisoformat(poll["options"][0]["startsAt"])
    original = server.deps.clock
    server.deps.clock = lambda: start + timedelta(minutes=1)
    try:
        late = await run(api, REOPEN, {"input": {"pollId": poll["id"]}}, organizer)
    finally:
        server.deps.clock = original
    assert [e["code"] for e in late["errors"]] == ["EVENT_STARTED"]


async def test_the_deadline_closes_with_the_best_option_and_non_voters_are_reminded_once(
    api, accounts, events, server
):
    c = await crew(accounts, events, 4)
    owner, organizer, a, b = c["people"]
    deadline = soon(3)
    poll = await open_poll(api, c, deadline=iso(deadline))
    await vote(api, a, poll, ["NO", "NO", "YES"])
    jobs = notifications.Jobs(server.deps)
    original = server.deps.clock
    try:
        server.deps.clock = lambda: deadline - timedelta(hours=30)
        await jobs.run_once()  # too early for the reminder
        server.deps.clock = lambda: deadline - timedelta(hours=20)
        await jobs.run_once()
        await jobs.run_once()  # once per deadline
        await drain_outbox(server)
        for user, expected in ((b, 1), (owner, 1), (a, 0), (organizer, 1)):
            types = [n["type"] for n in (await run(api, INBOX, {}, user))["nodes"]]
            assert types.count("DATE_POLL_REMINDER") == expected, (user["email"], types)
        server.deps.clock = lambda: deadline + timedelta(seconds=1)
        late = await vote(api, b, poll, ["YES"])  # past the deadline: closed, job or not
        assert [e["code"] for e in late["errors"]] == ["POLL_CLOSED"]
        await jobs.run_once()
    finally:
        server.deps.clock = original
    seen = (await event_of(api, b, c["event"]["id"]))["datePoll"]
    assert seen["status"] == "CLOSED" and seen["chosenOption"]["id"] == poll["options"][2]["id"]
    event = await event_of(api, b, c["event"]["id"])
    assert event["startsAt"] == poll["options"][2]["startsAt"]


async def test_the_live_stream_carries_votes_and_closing(api, accounts, events):
    c = await crew(accounts, events, 3)
    organizer, a = c["people"][1], c["people"][2]
    poll = await open_poll(api, c)
    async with api.ws({"authorization": f"Bearer {a['token']}"}) as ws:
        assert (await ws.receive())["type"] == "connection_ack"
        op = await ws.subscribe(LIVE, {"id": c["event"]["id"]})

        async def frame() -> dict[str, Any]:
            while True:
                message = await ws.receive()
                if message["type"] in ("ping", "pong"):
                    continue
                assert message["id"] == op and message["type"] == "next", message
                assert "errors" not in message["payload"], message
                return message["payload"]["data"]["datePollChanged"]  # type: ignore[no-any-return]

        first = await frame()  # the poll as it is: the stream is live from here
        assert first["id"] == poll["id"] and first["voterCount"] == 0
        await vote(api, organizer, poll, ["YES"])
        voted = await frame()
        assert voted["voterCount"] == 1 and voted["options"][0]["yesCount"] == 1
        await ok(api, CLOSE, {"input": {"pollId": poll["id"]}}, organizer)
        assert (await frame())["status"] == "CLOSED"


async def test_a_stream_of_an_event_you_are_not_in_is_not_found(api, accounts, events):
    c = await crew(accounts, events, 2)
    outsider = await accounts.user()
    async with api.ws({"authorization": f"Bearer {outsider['token']}"}) as ws:
        assert (await ws.receive())["type"] == "connection_ack"
        op = await ws.subscribe(LIVE, {"id": c["event"]["id"]})
        message = await ws.receive()
        assert message["id"] == op and message["type"] == "next", message
        assert message["payload"]["errors"][0]["extensions"]["code"] == "NOT_FOUND"


@pytest.mark.parametrize(
    ("options", "code", "field"),
    [
        ([{"startsAt": "+1"}], "INVALID_INPUT", ["input", "options"]),
        ([{"startsAt": f"+{i + 1}"} for i in range(51)], "TOO_MANY_OPTIONS", ["input", "options"]),
        ([{"startsAt": "+1"}, {"startsAt": "+1"}], "DUPLICATE_OPTION", ["input", "options", "1"]),
        (
            [{"startsAt": "+1"}, {"startsAt": "-1"}],
            "INVALID_DATES",
            ["input", "options", "1", "startsAt"],
        ),
        (
            [{"startsAt": "+1", "durationMinutes": -5}, {"startsAt": "+2"}],
            "INVALID_INPUT",
            ["input", "options", "0", "durationMinutes"],
        ),
        (
            [{"startsAt": "+1", "durationMinutes": 60, "endsAt": "+2"}, {"startsAt": "+2"}],
            "INVALID_INPUT",
            ["input", "options", "0", "durationMinutes"],
        ),
        (
            [{"startsAt": "+2", "endsAt": "+1"}, {"startsAt": "+3"}],
            "INVALID_DATES",
            ["input", "options", "0", "endsAt"],
        ),
    ],
)
async def test_bad_options_are_refused_and_nothing_is_created(
    api, accounts, events, options, code, field
):
    c = await crew(accounts, events, 2)

    def at(spec: str) -> str:
        return iso(soon(0) + timedelta(days=int(spec)))

    given = [
        {k: at(v) if k in ("startsAt", "endsAt") else v for k, v in o.items()} for o in options
    ]
    payload = await run(
        api, CREATE, {"input": {"eventId": c["event"]["id"], "options": given}}, c["people"][1]
    )
    assert payload["datePoll"] is None
    assert (payload["errors"][0]["code"], payload["errors"][0]["field"]) == (code, field)
    assert (await event_of(api, c["people"][0], c["event"]["id"]))["datePoll"] is None


async def test_one_poll_per_event_and_a_retried_create_answers_the_first(api, accounts, events):
    c = await crew(accounts, events, 2)
    options = [{"startsAt": iso(soon(10 + i))} for i in range(2)]
    variables = {
        "input": {"eventId": c["event"]["id"], "options": options, "clientMutationId": "dp-1"}
    }
    first = await ok(api, CREATE, variables, c["people"][1])
    again = await ok(api, CREATE, variables, c["people"][1])
    assert again["datePoll"]["id"] == first["datePoll"]["id"]
    other = dict(variables["input"], clientMutationId="dp-2")
    twice = await run(api, CREATE, {"input": other}, c["people"][1])
    assert [e["code"] for e in twice["errors"]] == ["POLL_EXISTS"]
    deleted = await ok(api, DELETE, {"input": {"pollId": first["datePoll"]["id"]}}, c["people"][1])
    assert deleted["deletedDatePollId"] == first["datePoll"]["id"]
    assert (await event_of(api, c["people"][0], c["event"]["id"]))["datePoll"] is None


async def test_ballot_rules(api, accounts, events):
    c = await crew(accounts, events, 3)
    organizer, a = c["people"][1], c["people"][2]
    poll = await open_poll(api, c, allowIfNeedBe=False)
    refused = await vote(api, a, poll, ["YES", "IF_NEED_BE"])
    assert [(e["code"], e["field"]) for e in refused["errors"]] == [
        ("IF_NEED_BE_NOT_ALLOWED", ["input", "votes", "1", "choice"])
    ]
    twice = await run(
        api,
        VOTE,
        {
            "input": {
                "pollId": poll["id"],
                "votes": [
                    {"optionId": poll["options"][0]["id"], "choice": c} for c in ("YES", "NO")
                ],
            }
        },
        a,
    )
    assert [e["code"] for e in twice["errors"]] == ["INVALID_INPUT"]
    foreign = await run(
        api,
        VOTE,
        {"input": {"pollId": poll["id"], "votes": [{"optionId": poll["id"], "choice": "YES"}]}},
        a,
    )
    assert [e["code"] for e in foreign["errors"]] == ["OPTION_NOT_FOUND"]
    empty = await run(api, VOTE, {"input": {"pollId": poll["id"], "votes": []}}, a)
    assert [e["code"] for e in empty["errors"]] == ["REQUIRED"]
    seen = (await event_of(api, organizer, c["event"]["id"]))["datePoll"]
    assert seen["voterCount"] == 0  # nothing recorded by the refused ballots


async def test_options_change_while_open_and_stale_edits_are_refused(api, accounts, events):
    c = await crew(accounts, events, 3)
    organizer, a = c["people"][1], c["people"][2]
    poll = await open_poll(api, c)
    await vote(api, a, poll, ["YES", "YES", "YES"])
    changed = (
        await ok(
            api,
            UPDATE,
            {
                "input": {
                    "pollId": poll["id"],
                    "removeOptionIds": [poll["options"][0]["id"]],
                    "addOptions": [{"startsAt": iso(soon(20))}],
                    "expectedVersion": poll["version"],
                }
            },
            organizer,
        )
    )["datePoll"]
    assert len(changed["options"]) == 3 and changed["version"] == poll["version"] + 1
    assert poll["options"][0]["id"] not in {o["id"] for o in changed["options"]}
    assert sum(o["yesCount"] for o in changed["options"]) == 2  # the withdrawn one's vote went
    stale = await run(
        api,
        UPDATE,
        {"input": {"pollId": poll["id"], "hideVotes": True, "expectedVersion": poll["version"]}},
        organizer,
    )
    assert [e["code"] for e in stale["errors"]] == ["STALE"]
    participant = await api.execute(
        UPDATE, {"input": {"pollId": poll["id"], "hideVotes": True}}, token=a["token"]
    )
    assert_error(participant, "FORBIDDEN")


async def test_concurrent_ballots_count_every_voter_once(api, accounts, events):
    c = await crew(accounts, events, 12)
    poll = await open_poll(api, c, n=4)
    voters = c["people"][2:]
    results = await asyncio.gather(
        *(vote(api, u, poll, ["YES", "NO", "IF_NEED_BE", "YES"]) for u in voters)
    )
    assert all(r["errors"] == [] for r in results)
    seen = (await event_of(api, c["people"][1], c["event"]["id"]))["datePoll"]
    assert seen["voterCount"] == len(voters)
    assert [o["yesCount"] for o in seen["options"]] == [10, 0, 0, 10]
    voted = {v["participant"]["id"] for v in seen["options"][0]["votes"]}
    assert voted == set(c["pids"][2:])


# --- the ranking, as a property -----------------------------------------------------------------


@dataclass(frozen=True)
class OptionRow:
    id: int
    starts_at: datetime
    ends_at: datetime


@dataclass(frozen=True)
class VoteRow:
    option_id: int
    participant_id: int
    choice: str


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(0, 10_000), min_size=2, max_size=50, unique=True),
    st.lists(
        st.tuples(st.integers(0, 49), st.integers(1, 30), st.sampled_from(list(DateChoice))),
        max_size=400,
    ),
)
def test_the_ranking_loses_and_duplicates_nobody(starts, ballots):
    base = datetime(2030, 1, 1, tzinfo=UTC)
    options = [
        OptionRow(
            id=i + 1, starts_at=base + timedelta(hours=s), ends_at=base + timedelta(hours=s + 2)
        )
        for i, s in enumerate(starts)
    ]
    votes = [
        VoteRow(option_id=o % len(options) + 1, participant_id=p, choice=ch.value)
        for o, p, ch in ballots
    ]
    ranking = uc.ranked(options, votes)
    assert sorted(t.option.id for t in ranking) == [o.id for o in options]
    assert [t.rank for t in ranking] == list(range(1, len(options) + 1))
    first_vote: dict[tuple[int, int], str] = {}
    for v in votes:
        first_vote.setdefault((v.option_id, v.participant_id), v.choice)
    for t in ranking:
        mine = {p: ch for (o, p), ch in first_vote.items() if o == t.option.id}
        assert {p: ch.value for p, ch in t.voters.items()} == mine
        assert t.yes + t.if_need_be + t.no == len(mine)
    keys = [(-t.yes, -t.if_need_be, t.option.starts_at) for t in ranking]
    assert keys == sorted(keys)
