"""In-memory baseline for bench_event_page.py: the IVEN event page, resolved from plain objects.

A Strawberry app (``strawberry.asgi.GraphQL`` on Starlette, ParserCache + ValidationCache given as
factories, as a sensible server would) whose schema has the shape the event page query needs
(Event, Participant, User, Task, Expense, ExpenseShare, Money with string amounts, Balance,
Transfer, connections with edges/node/pageInfo). Its one event is built ONCE at import from the
same plan that bench_event_page.py seeds through the IVEN API (``task_plan`` / ``expense_plan``):
20 participants, 20 tasks with 1-2 assignees, 20 expenses with EQUAL/SHARES splits. Balances and
the settlement plan are computed once too, so a request only walks Python objects: the difference
from IVEN is the data access (SQL, Redis, authorisation, caches), not the GraphQL layer.

Run:  uvicorn bench.inmemory_event_app:app --workers 1 --loop asyncio --http httptools
The event's id is EVENT_ID; viewerRole is OWNER whatever the Authorization header says.
"""

from __future__ import annotations

import base64
import enum
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Any, Generic, TypeVar

import strawberry
from starlette.applications import Starlette
from starlette.routing import Route
from strawberry.asgi import GraphQL
from strawberry.extensions import ParserCache, ValidationCache

N_PARTICIPANTS = 20
N_TASKS = 20
N_EXPENSES = 20
CURRENCY = "EUR"
STARTS_AT = "2030-06-01T12:00:00+00:00"
ENDS_AT = "2030-06-03T18:00:00+00:00"


# --------------------------------------------------------------------------- the shared plan
# Indices are positions in the participant list: 0 is the owner, 1-2 organizers, the rest
# participants (join order). bench_event_page.py seeds exactly this through the API.


def roles(n: int = N_PARTICIPANTS) -> list[str]:
    return ["OWNER" if i == 0 else "ORGANIZER" if i <= 2 else "PARTICIPANT" for i in range(n)]


def task_plan(n: int = N_TASKS, people: int = N_PARTICIPANTS) -> list[dict[str, Any]]:
    """Task i: created by participant i, 1-2 assignees, every third one completed."""
    plan = []
    for i in range(n):
        assignees = [i % people]
        if i % 2 == 0:
            assignees.append((i + 7) % people)
        plan.append(
            {
                "title": f"Task {i + 1:02d}: bring item {i + 1}",
                "creator": i % people,
                "assignees": assignees,
                "due_at": (
                    datetime(2030, 5, 20, 9, tzinfo=UTC) + timedelta(days=i % 10)
                ).isoformat(),
                "completed_by": assignees[0] if i % 3 == 0 else None,
            }
        )
    return plan


def expense_plan(n: int = N_EXPENSES, people: int = N_PARTICIPANTS) -> list[dict[str, Any]]:
    """Expense i: paid (and created) by participant 3i mod 20, split over 4-6 participants,
    EQUAL for even i, SHARES (weights 1-3) for odd i."""
    plan = []
    for i in range(n):
        payer = (3 * i) % people
        size = 4 + i % 3
        members = [payer]
        k = 1
        while len(members) < size:
            candidate = (payer + 3 * k + i) % people
            if candidate not in members:
                members.append(candidate)
            k += 1
        mode = "EQUAL" if i % 2 == 0 else "SHARES"
        weights = [None] * size if mode == "EQUAL" else [str(1 + j % 3) for j in range(size)]
        cents = 1200 + 735 * i + (i % 4)  # some amounts do not divide evenly
        plan.append(
            {
                "title": f"Expense {i + 1:02d}",
                "payer": payer,
                "amount": f"{cents // 100}.{cents % 100:02d}",
                "mode": mode,
                "parts": list(zip(members, weights, strict=True)),
            }
        )
    return plan


# --------------------------------------------------------------------------- schema


@strawberry.enum
class ParticipantRole(enum.Enum):
    OWNER = "OWNER"
    ORGANIZER = "ORGANIZER"
    PARTICIPANT = "PARTICIPANT"


@strawberry.enum
class Rsvp(enum.Enum):
    GOING = "GOING"
    MAYBE = "MAYBE"
    DECLINED = "DECLINED"


@strawberry.enum
class TaskStatus(enum.Enum):
    TODO = "TODO"
    DONE = "DONE"
    VALIDATED = "VALIDATED"


@strawberry.enum
class EventStatus(enum.Enum):
    ACTIVE = "ACTIVE"
    CANCELLED = "CANCELLED"


@strawberry.type
class User:
    id: strawberry.ID
    username: str
    display_name: str


@strawberry.type
class Participant:
    id: strawberry.ID
    role: ParticipantRole
    rsvp: Rsvp
    display_name: str
    user: User | None


@strawberry.type
class Money:
    amount: str
    currency: str


@strawberry.type
class ExpenseShare:
    participant: Participant | None
    amount: Money
    value: str | None


@strawberry.type
class Expense:
    id: strawberry.ID
    title: str
    amount: Money
    paid_by: Participant | None
    shares: list[ExpenseShare]


@strawberry.type
class Task:
    id: strawberry.ID
    title: str
    status: TaskStatus
    due_at: datetime | None
    assignees: list[Participant]
    completed_by: Participant | None


@strawberry.type
class Balance:
    participant: Participant | None
    paid: Money
    owed: Money
    sent: Money
    received: Money
    net: Money


@strawberry.type
class Transfer:
    from_: Participant | None = strawberry.field(name="from")
    to: Participant | None
    amount: Money


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


T = TypeVar("T")


@strawberry.type
class Edge(Generic[T]):
    cursor: str
    node: T


@strawberry.type
class Connection(Generic[T]):
    edges: list[Edge[T]]
    page_info: PageInfo

    @strawberry.field
    def nodes(self) -> list[T]:
        return [edge.node for edge in self.edges]


def _page(edges: list[Edge[Any]], first: int | None, after: str | None) -> Connection[Any]:
    start = 0
    if after is not None:
        for index, edge in enumerate(edges):
            if edge.cursor == after:
                start = index + 1
                break
    end = start + (20 if first is None else first)
    chosen = edges[start:end]
    return Connection(
        edges=chosen,
        page_info=PageInfo(
            has_next_page=end < len(edges),
            has_previous_page=start > 0,
            start_cursor=chosen[0].cursor if chosen else None,
            end_cursor=chosen[-1].cursor if chosen else None,
        ),
    )


@strawberry.type
class Event:
    id: strawberry.ID
    title: str
    description: str | None
    starts_at: datetime
    ends_at: datetime
    status: EventStatus
    currency: str
    viewer_role: ParticipantRole | None
    participant_count: int
    owner: User | None
    balances: list[Balance] | None
    settlement_plan: list[Transfer] | None
    _participant_edges: strawberry.Private[list[Edge[Participant]]]
    _task_edges: strawberry.Private[list[Edge[Task]]]
    _expense_edges: strawberry.Private[list[Edge[Expense]]]

    @strawberry.field
    def participants(
        self, first: int | None = None, after: str | None = None
    ) -> Connection[Participant] | None:
        return _page(self._participant_edges, first, after)

    @strawberry.field
    def tasks(self, first: int | None = None, after: str | None = None) -> Connection[Task] | None:
        return _page(self._task_edges, first, after)

    @strawberry.field
    def expenses(
        self, first: int | None = None, after: str | None = None
    ) -> Connection[Expense] | None:
        return _page(self._expense_edges, first, after)


# --------------------------------------------------------------------------- data, built once


def gid(kind: str, pk: int) -> str:
    return base64.b64encode(f"{kind}:{pk}".encode()).decode()


def money(cents: int) -> Money:
    sign = "-" if cents < 0 else ""
    cents = abs(cents)
    return Money(amount=f"{sign}{cents // 100}.{cents % 100:02d}", currency=CURRENCY)


def to_cents(text: str) -> int:
    whole, _, frac = text.partition(".")
    return int(whole) * 100 + int((frac + "00")[:2])


def largest_remainder(total: int, weights: list[Fraction]) -> list[int]:
    """Exact split: floors, then the leftover cents to the largest remainders (first wins ties)."""
    whole = sum(weights)
    raw = [total * w / whole for w in weights]
    shares = [int(x) for x in raw]
    order = sorted(range(len(raw)), key=lambda j: (-(raw[j] - shares[j]), j))
    for j in order[: total - sum(shares)]:
        shares[j] += 1
    return shares


def greedy_settlement(nets: dict[int, int]) -> list[tuple[int, int, int]]:
    debtors = sorted(((k, -v) for k, v in nets.items() if v < 0), key=lambda x: (-x[1], x[0]))
    creditors = sorted(((k, v) for k, v in nets.items() if v > 0), key=lambda x: (-x[1], x[0]))
    transfers = []
    i = j = 0
    while i < len(debtors) and j < len(creditors):
        (d, owe), (c, due) = debtors[i], creditors[j]
        pay = min(owe, due)
        transfers.append((d, c, pay))
        debtors[i], creditors[j] = (d, owe - pay), (c, due - pay)
        if owe == pay:
            i += 1
        if due == pay:
            j += 1
    return transfers


def build_event(event_pk: int = 1) -> Event:
    users = [
        User(
            id=strawberry.ID(gid("User", 100 + i)),
            username=f"bench_user_{i:02d}",
            display_name=f"Bench User{i:02d}",
        )
        for i in range(N_PARTICIPANTS)
    ]
    rsvps = [Rsvp.GOING, Rsvp.MAYBE, Rsvp.GOING, Rsvp.DECLINED]
    people = [
        Participant(
            id=strawberry.ID(gid("Participant", 200 + i)),
            role=ParticipantRole(role),
            rsvp=rsvps[i % len(rsvps)],
            display_name=users[i].display_name,
            user=users[i],
        )
        for i, role in enumerate(roles())
    ]

    tasks = []
    for i, spec in enumerate(task_plan()):
        assignees = [people[a] for a in spec["assignees"]]
        done = spec["completed_by"]
        tasks.append(
            Task(
                id=strawberry.ID(gid("Task", 300 + i)),
                title=spec["title"],
                status=TaskStatus.DONE if done is not None else TaskStatus.TODO,
                due_at=datetime.fromisoformat(spec["due_at"]),
                assignees=assignees,
                completed_by=people[done] if done is not None else None,
            )
        )

    paid = dict.fromkeys(range(N_PARTICIPANTS), 0)
    owed = dict.fromkeys(range(N_PARTICIPANTS), 0)
    expenses = []
    for i, spec in enumerate(expense_plan()):
        total = to_cents(spec["amount"])
        members = [m for m, _ in spec["parts"]]
        weights = [Fraction(1) if v is None else Fraction(v) for _, v in spec["parts"]]
        amounts = largest_remainder(total, weights)
        paid[spec["payer"]] += total
        for member, cents in zip(members, amounts, strict=True):
            owed[member] += cents
        shares = [
            ExpenseShare(participant=people[m], amount=money(c), value=v)
            for (m, v), c in zip(spec["parts"], amounts, strict=True)
        ]
        expenses.append(
            Expense(
                id=strawberry.ID(gid("Expense", 400 + i)),
                title=spec["title"],
                amount=money(total),
                paid_by=people[spec["payer"]],
                shares=shares,
            )
        )
    expenses.reverse()  # IVEN lists the most recent first

    nets = {k: paid[k] - owed[k] for k in paid}
    balances = [
        Balance(
            participant=people[k],
            paid=money(paid[k]),
            owed=money(owed[k]),
            sent=money(0),
            received=money(0),
            net=money(nets[k]),
        )
        for k in range(N_PARTICIPANTS)
    ]
    plan = [
        Transfer(from_=people[d], to=people[c], amount=money(a))
        for d, c, a in greedy_settlement(nets)
    ]

    def edges(kind: str, nodes: list[Any]) -> list[Edge[Any]]:
        return [Edge(cursor=gid(f"cursor:{kind}", n), node=node) for n, node in enumerate(nodes)]

    return Event(
        id=strawberry.ID(gid("Event", event_pk)),
        title="Bench weekend",
        description="The event page benchmark: 20 participants, tasks and expenses.",
        starts_at=datetime.fromisoformat(STARTS_AT),
        ends_at=datetime.fromisoformat(ENDS_AT),
        status=EventStatus.ACTIVE,
        currency=CURRENCY,
        viewer_role=ParticipantRole.OWNER,
        participant_count=len(people),
        owner=users[0],
        balances=balances,
        settlement_plan=plan,
        _participant_edges=edges("p", people),
        _task_edges=edges("t", tasks),
        _expense_edges=edges("e", expenses),
    )


EVENT = build_event()
EVENT_ID = str(EVENT.id)
EVENTS = {EVENT_ID: EVENT}


@strawberry.type
class Query:
    @strawberry.field
    def event(self, id: strawberry.ID) -> Event | None:
        return EVENTS.get(str(id))


schema = strawberry.Schema(
    Query,
    extensions=[lambda: ParserCache(maxsize=100), lambda: ValidationCache(maxsize=100)],
)
app = Starlette(
    routes=[Route("/graphql", GraphQL(schema, graphql_ide=None), methods=["GET", "POST"])]
)
