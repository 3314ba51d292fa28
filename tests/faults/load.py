"""A bounded write load over HTTP GraphQL against several servers, and chat subscribers that record
what they receive (issue 16's fault suite).

The load signs two users up through the API (alice writes; bob is assigned, mentioned and
subscribed), then runs one lane per kind of write — `createEvent` with a `clientMutationId`,
`createTask` with a `clientMutationId` (assigned to bob), `sendMessage` with a `clientId`
(mentioning bob) — each lane sending its writes one after the other to the servers in turn. A
write is acknowledged when the answer has the object and no error; on an error or a timeout the
SAME key is sent again (to the next server) until it is acknowledged or its deadline passes: what
the servers must make safe.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import websockets
from websockets.typing import Subprotocol

# one attempt: a store that is down makes a request fail or hang, never for ever
ATTEMPT_TIMEOUT_S = 15.0
# one write: retried with the same key until acknowledged, or given up (counted as not
# acknowledged); a store restarts in seconds, and a killed server's share goes to the other one
WRITE_DEADLINE_S = 60.0
# the whole load, and the whole replay: a system that never recovers ends the scenario, it does not
# make it wait WRITE_DEADLINE_S for each write in turn (writes not sent by then are counted)
LOAD_DEADLINE_S = 300.0
REPLAY_DEADLINE_S = 180.0
RETRY_PAUSE_S = 0.2  # between two attempts of one write: no busy loop on a refused connection
DEADLINE_S = 180.0
CODE_RE = re.compile(r"\b(\d{6})\b")
PASSWORD = "correct-horse-9"

CREATE_EVENT = """mutation($input: CreateEventInput!) { createEvent(input: $input) {
  event { id title } errors { code field message } } }"""
CREATE_TASK = """mutation($input: CreateTaskInput!) { createTask(input: $input) {
  task { id title } errors { code field message } } }"""
SEND_MESSAGE = """mutation($input: SendMessageInput!) { sendMessage(input: $input) {
  message { id body } errors { code field message } } }"""
CHAT_EVENTS = """subscription($id: ID!, $after: String) { chatEvents(eventId: $id, after: $after) {
  __typename ... on MessageAdded { cursor message { id body } } } }"""

KINDS = ("event", "task", "message")
OPERATIONS = {
    "event": ("createEvent", "event", CREATE_EVENT),
    "task": ("createTask", "task", CREATE_TASK),
    "message": ("sendMessage", "message", SEND_MESSAGE),
}


@dataclass
class Answer:
    object_id: str | None
    error: str | None  # what went wrong, as a short code ("http:502", "payload:STALE", ...)


async def graphql(
    http: httpx.AsyncClient,
    url: str,
    query: str,
    variables: dict[str, Any],
    token: str | None = None,
    timeout: float = ATTEMPT_TIMEOUT_S,
) -> dict[str, Any]:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    response = await http.post(
        f"{url}/graphql",
        json={"query": query, "variables": variables},
        headers=headers,
        timeout=timeout,
    )
    if response.status_code != 200:
        raise httpx.HTTPStatusError(
            f"HTTP {response.status_code}", request=response.request, response=response
        )
    return response.json()  # type: ignore[no-any-return]


def acknowledged(result: dict[str, Any], field_name: str, object_name: str) -> Answer:
    """The created object's id if the answer acknowledges the write, else why not."""
    if result.get("errors"):
        codes = sorted({str(e.get("extensions", {}).get("code")) for e in result["errors"]})
        return Answer(None, "graphql:" + ",".join(codes))
    payload = (result.get("data") or {}).get(field_name)
    if payload is None:
        return Answer(None, "no-payload")
    if payload.get("errors"):
        return Answer(None, "payload:" + ",".join(sorted({e["code"] for e in payload["errors"]})))
    created = payload.get(object_name)
    if not created or not created.get("id"):
        return Answer(None, "no-object")
    return Answer(str(created["id"]), None)


async def attempt(
    http: httpx.AsyncClient,
    url: str,
    query: str,
    variables: dict[str, Any],
    token: str,
    field_name: str,
    object_name: str,
) -> Answer:
    try:
        result = await graphql(http, url, query, variables, token)
    except httpx.TimeoutException:
        return Answer(None, "timeout")
    except httpx.HTTPStatusError as exc:
        return Answer(None, f"http:{exc.response.status_code}")
    except (httpx.HTTPError, ValueError) as exc:
        return Answer(None, f"transport:{type(exc).__name__}")
    return acknowledged(result, field_name, object_name)


# --- users and the shared event ---------------------------------------------------------------


async def _mail_code(outbox: Path, email: str, deadline_s: float = DEADLINE_S) -> str:
    deadline = time.monotonic() + deadline_s
    while True:
        for path in sorted(outbox.glob("*.eml")) if outbox.exists() else []:
            content = path.read_text(errors="replace")
            if email in content and "code" in content:
                match = CODE_RE.search(content.split("\n\n", 1)[-1])
                if match:
                    return match.group(1)
        assert time.monotonic() < deadline, f"no confirmation mail for {email} in {outbox}"
        await asyncio.sleep(0.05)


async def sign_up(
    http: httpx.AsyncClient, url: str, var_dir: Path, username: str
) -> dict[str, Any]:
    """Registers through the API, reads the code the server wrote to its var/outbox, confirms."""
    email = f"{username}@example.com"
    result = await graphql(
        http,
        url,
        """mutation($input: RegisterInput!) { register(input: $input) { errors { code } } }""",
        {
            "input": {
                "username": username,
                "email": email,
                "password": PASSWORD,
                "firstName": username.capitalize(),
                "lastName": "Fault",
            }
        },
        timeout=60,
    )
    assert result.get("data", {}).get("register", {}).get("errors") == [], result
    code = await _mail_code(var_dir / "outbox", email)
    result = await graphql(
        http,
        url,
        """mutation($input: ConfirmEmailInput!) { confirmEmail(input: $input) {
             accessToken user { id username } errors { code } } }""",
        {"input": {"email": email, "code": code}},
        timeout=60,
    )
    payload = result["data"]["confirmEmail"]
    assert payload["errors"] == [], result
    return {"username": username, "id": payload["user"]["id"], "token": payload["accessToken"]}


@dataclass
class World:
    """Who writes and where: alice owns `event_id`, bob takes part in it (as participant
    `bob_participant`)."""

    alice: dict[str, Any]
    bob: dict[str, Any]
    event_id: str
    bob_participant: str


async def make_world(http: httpx.AsyncClient, url: str, var_dir: Path) -> World:
    suffix = uuid.uuid4().hex[:6]
    alice = await sign_up(http, url, var_dir, f"alice{suffix}")
    bob = await sign_up(http, url, var_dir, f"bob{suffix}")
    result = await graphql(
        http,
        url,
        CREATE_EVENT,
        {
            "input": {
                "title": "Fault party",
                "startsAt": "2030-06-01T12:00:00+00:00",
                "endsAt": "2030-06-01T18:00:00+00:00",
                "currency": "EUR",
            }
        },
        alice["token"],
        timeout=60,
    )
    event = acknowledged(result, "createEvent", "event")
    assert event.object_id is not None, result
    result = await graphql(
        http,
        url,
        """mutation($id: ID!) { createInviteLink(input: {eventId: $id}) {
             token errors { code } } }""",
        {"id": event.object_id},
        alice["token"],
        timeout=60,
    )
    link = result["data"]["createInviteLink"]["token"]
    assert link, result
    result = await graphql(
        http,
        url,
        """mutation($t: String!) { joinWithInviteLink(input: {token: $t}) {
             participant { id } errors { code } } }""",
        {"t": link},
        bob["token"],
        timeout=60,
    )
    joined = result["data"]["joinWithInviteLink"]
    assert joined["errors"] == [] and joined["participant"], result
    return World(alice, bob, event.object_id, joined["participant"]["id"])


async def input_fields(http: httpx.AsyncClient, url: str, type_name: str) -> set[str]:
    result = await graphql(
        http,
        url,
        """query($n: String!) { __type(name: $n) { inputFields { name } } }""",
        {"n": type_name},
        timeout=60,
    )
    return {f["name"] for f in result["data"]["__type"]["inputFields"]}


# --- chat subscribers -------------------------------------------------------------------------


class Subscriber:
    """One graphql-transport-ws socket following the event's chat: every MessageAdded it gets, and
    whether (and how) the socket or the subscription ended."""

    def __init__(self, name: str, ws_url: str, token: str, event_id: str) -> None:
        self.name = name
        self.ws_url = ws_url
        self.token = token
        self.event_id = event_id
        self.received: list[str] = []  # message ids, in arrival order
        self.bodies: dict[str, str] = {}
        self.last_cursor: str | None = None
        self.closed: str | None = None  # why the stream ended, None while it is open
        self.errors: list[Any] = []
        self._task: asyncio.Task[None] | None = None
        self._conn: Any = None

    @property
    def open(self) -> bool:
        return self.closed is None

    async def start(self, after: str | None = None) -> None:
        self._conn = await websockets.connect(
            self.ws_url,
            subprotocols=[Subprotocol("graphql-transport-ws")],
            open_timeout=60,
            ping_interval=None,  # the server's own pings are answered below; no client timeout
        )
        await self._conn.send(
            json.dumps(
                {"type": "connection_init", "payload": {"authorization": f"Bearer {self.token}"}}
            )
        )
        ack = json.loads(await asyncio.wait_for(self._conn.recv(), 60))
        assert ack["type"] == "connection_ack", ack
        await self._conn.send(
            json.dumps(
                {
                    "id": "1",
                    "type": "subscribe",
                    "payload": {
                        "query": CHAT_EVENTS,
                        "variables": {"id": self.event_id, "after": after},
                    },
                }
            )
        )
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            async for raw in self._conn:
                message = json.loads(raw)
                kind = message.get("type")
                if kind == "ping":
                    await self._conn.send(json.dumps({"type": "pong"}))
                elif kind == "next":
                    payload = message.get("payload", {})
                    if payload.get("errors"):
                        self.errors.append(payload["errors"])
                    event = (payload.get("data") or {}).get("chatEvents") or {}
                    if event.get("__typename") == "MessageAdded":
                        self.received.append(event["message"]["id"])
                        self.bodies[event["message"]["id"]] = event["message"]["body"]
                        self.last_cursor = event["cursor"]
                elif kind in ("error", "complete"):
                    self.closed = f"subscription {kind}: {message.get('payload')}"
                    self.errors.append(message)
                    return
            self.closed = "socket closed"
        except websockets.ConnectionClosed as exc:
            self.closed = f"socket closed ({exc.rcvd.code if exc.rcvd else 'no close frame'})"
        except Exception as exc:  # noqa: BLE001 - recorded, the test reports it
            self.closed = f"reader failed: {type(exc).__name__}: {exc}"
        finally:
            if self.closed is None:
                self.closed = "socket closed"

    def got(self, message_id: str) -> bool:
        return message_id in self.bodies

    async def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._conn.close(), 10)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task


# --- the load ---------------------------------------------------------------------------------


@dataclass
class Write:
    kind: str
    key: str
    title: str  # the event's or task's title, the message's body: finds it in the stores
    probe: bool  # a recovery probe rather than the load
    first_id: str | None = None  # what the first acknowledgement returned
    acked_at: float | None = None
    acked_by: int | None = None  # index of the server that acknowledged it
    attempts: int = 0
    errors: list[str] = field(default_factory=list)
    retry_ids: list[str] = field(default_factory=list)  # what later retries of the key returned


class Load:
    """`per_kind` writes of each kind in each lane. `before_fault` is set once a third of all the
    writes are acknowledged (the scenario then injects its fault, with writes in flight); the last
    third of each lane waits for `restarted` (set by the scenario), and `during_fault` is set once
    every lane waits there, so that some writes always run after the recovery."""

    def __init__(
        self,
        urls: list[str],
        world: World,
        prefix: str,
        per_kind: int,
        task_key: bool = True,
    ) -> None:
        self.urls = urls
        self.world = world
        self.prefix = prefix
        self.per_kind = per_kind
        self.task_key = task_key  # whether CreateTaskInput takes a clientMutationId
        self.writes: list[Write] = []
        self.before_fault = asyncio.Event()  # the first third is acknowledged (or given up)
        self.during_fault = asyncio.Event()  # the second third is done, the fault may end
        self.restarted = asyncio.Event()
        self.fault_at: float | None = None
        self.restarted_at: float | None = None
        self.ends_by = time.monotonic() + LOAD_DEADLINE_S
        self.attempts_since_fault = 0
        self._at_gate = 0
        self.http = httpx.AsyncClient(limits=httpx.Limits(max_connections=20))

    def variables(self, write: Write) -> dict[str, Any]:
        world = self.world
        if write.kind == "event":
            return {
                "input": {
                    "title": write.title,
                    "startsAt": "2030-07-01T10:00:00+00:00",
                    "endsAt": "2030-07-01T12:00:00+00:00",
                    "currency": "EUR",
                    "clientMutationId": write.key,
                }
            }
        if write.kind == "task":
            task: dict[str, Any] = {
                "eventId": world.event_id,
                "title": write.title,
                "assigneeIds": [world.bob_participant],
            }
            if self.task_key:
                task["clientMutationId"] = write.key
            return {"input": task}
        return {"input": {"eventId": world.event_id, "body": write.title, "clientId": write.key}}

    def new_write(self, kind: str, index: int | str, probe: bool = False) -> Write:
        key = f"{self.prefix}-{kind}-{index}"
        if kind == "message":
            title = f"{key} @{self.world.bob['username']}"
        else:
            title = key
        write = Write(kind, key, title, probe)
        self.writes.append(write)
        return write

    async def send_until_acknowledged(
        self,
        write: Write,
        start: int,
        only: int | None = None,
        deadline_s: float = WRITE_DEADLINE_S,
    ) -> None:
        """Sends the write (the same key every time) to the servers in turn from `start` (or to
        server `only`) until acknowledged or `deadline_s` has passed."""
        name, obj, query = OPERATIONS[write.kind]
        deadline = min(time.monotonic() + deadline_s, self.ends_by)
        turn = start
        while True:
            server = only if only is not None else turn % len(self.urls)
            turn += 1
            write.attempts += 1
            answer = await attempt(
                self.http,
                self.urls[server],
                query,
                self.variables(write),
                self.world.alice["token"],
                name,
                obj,
            )
            if self.fault_at is not None:
                self.attempts_since_fault += 1
            if answer.object_id is not None:
                write.first_id = answer.object_id
                write.acked_at = time.monotonic()
                write.acked_by = server
                return
            assert answer.error is not None
            write.errors.append(f"{server}:{answer.error}")
            if time.monotonic() > deadline:
                return
            await asyncio.sleep(RETRY_PAUSE_S)

    async def lane(self, kind: str, lane_index: int) -> None:
        gate = 2 * max(1, self.per_kind // 3)  # the last third waits for the restart
        for index in range(self.per_kind):
            if time.monotonic() > self.ends_by:
                break  # out of time: the writes not sent are counted by the test
            if index == gate:
                self._at_gate += 1
                if self._at_gate == len(KINDS):
                    self.during_fault.set()
                await self.restarted.wait()
            write = self.new_write(kind, index)
            await self.send_until_acknowledged(write, start=index + lane_index)
            if len(self.acked()) >= self.per_kind:  # a third of all the writes
                self.before_fault.set()
        if self.per_kind <= gate:
            self._at_gate += 1
            if self._at_gate == len(KINDS):
                self.during_fault.set()

    async def run(self) -> None:
        self.ends_by = time.monotonic() + LOAD_DEADLINE_S
        try:
            await asyncio.gather(*(self.lane(kind, n) for n, kind in enumerate(KINDS)))
        finally:
            self.before_fault.set()
            self.during_fault.set()

    async def probe(self, server: int, deadline_s: float) -> float | None:
        """A fresh createEvent and sendMessage through `server` alone, retried until both are
        acknowledged; the seconds it took (None: not within `deadline_s`)."""
        start = time.monotonic()
        for kind in ("event", "message"):
            write = self.new_write(kind, f"probe{server}", probe=True)
            remaining = deadline_s - (time.monotonic() - start)
            await self.send_until_acknowledged(write, server, only=server, deadline_s=remaining)
            if write.first_id is None:
                return None
        return time.monotonic() - start

    async def replay(self) -> None:
        """Sends every acknowledged write again with its key, to the other server: the answer
        must be the first result."""
        self.ends_by = time.monotonic() + REPLAY_DEADLINE_S

        async def again(write: Write) -> None:
            name, obj, query = OPERATIONS[write.kind]
            server = ((write.acked_by or 0) + 1) % len(self.urls)
            deadline = min(time.monotonic() + WRITE_DEADLINE_S, self.ends_by)
            while True:
                answer = await attempt(
                    self.http,
                    self.urls[server],
                    query,
                    self.variables(write),
                    self.world.alice["token"],
                    name,
                    obj,
                )
                if answer.object_id is not None:
                    write.retry_ids.append(answer.object_id)
                    return
                write.errors.append(f"replay {server}:{answer.error}")
                if time.monotonic() > deadline:
                    return
                await asyncio.sleep(RETRY_PAUSE_S)

        for write in self.acked():
            if write.kind != "task" or self.task_key:  # without a key, a retry creates again
                await again(write)

    def phase(self, write: Write) -> str:
        """When the write was acknowledged: before the fault, during it, or after the restart."""
        assert write.acked_at is not None
        if self.fault_at is None or write.acked_at < self.fault_at:
            return "before"
        if self.restarted_at is None or write.acked_at < self.restarted_at:
            return "during"
        return "after"

    def unsent(self) -> int:
        """Writes of the load never sent (it ran out of time)."""
        return len(KINDS) * self.per_kind - sum(1 for w in self.writes if not w.probe)

    def acked(self, kind: str | None = None) -> list[Write]:
        return [w for w in self.writes if w.first_id and (kind is None or w.kind == kind)]

    async def close(self) -> None:
        await self.http.aclose()
