"""The live chat stream of each event (`chatEvents`), across server processes.

Writers publish each change on the event's Redis channel (`iven:chat:<event>`) after storing
it. Each process follows an event's channel once, however many of its sockets watch it: a
`Feed` keeps the event's active members (reloaded when membership changes, see `install`),
puts numbered changes back in sequence order (a change whose number is missing is waited for
half a second), and hands each change to the subscribers allowed to see it, grouped by how they
render it (`Subscriber.group`): the WebSocket layer renders a change once per distinct
selection, not once per subscriber.

Checked on every delivery: membership (the feed's member set, reloaded on every membership
change), the token's expiry and who the change is for (a read marker of someone who hides
receipts goes to their own sockets only; typing is never echoed). A revoked session, an
expired token or a lost membership ends the subscription (`Subscriber.end`).

A subscriber that gives a cursor first gets what it missed since then, from MongoDB (the
current state of each message changed since, in sequence order), then the live stream,
without gaps or repeats.

Nothing stored is missed silently, whatever Redis does. A change is stored before it is
published, and a failed publish is not the writer's failure (it is logged; the change is
there). Each feed fills what the broadcast lost from MongoDB: a gap in the sequence (N+2 after
N) is waited for briefly, then read from the store and delivered in order; a heartbeat (one
read of the last numbers of all the process's followed events, every HEARTBEAT_S) shows a
feed a lost tail, which it fills the same way once a beat old (within two beats). A number
taken whose change is not in the store yet (a slow writer) is remembered for a while: its
change is delivered when it is published or when a later heartbeat finds it stored. Each
number reaches a socket once.
A fill that cannot reach MongoDB is tried again every FILL_RETRY_S, holding back what came
after the gap: the streams stay open through the outage (nobody can send meanwhile) and go on
in order once the store is back. A new subscription while the store is out of reach gets
SERVICE_UNAVAILABLE (retry).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, TypeVar

from redis.exceptions import RedisError

from resolvers.core.background import in_background
from resolvers.core.deps import Deps
from resolvers.core.errors import Unavailable
from resolvers.sessions import REVOKED_CHANNEL
from stores import chat as store
from stores import events as events_store
from stores.db import utcnow
from stores.mongo import is_unreachable
from stores.redis import ChannelListener, key

log = logging.getLogger("iven.chat")

T = TypeVar("T")

GAP_WAIT_S = 0.5  # how long a missing sequence number holds back the ones after it
FILL_RETRY_S = 1.0  # how soon a fill the store could not serve is tried again
REPLAY_LIMIT = 2000  # changes a reconnecting client may have missed; more: reload history
HEARTBEAT_S = 2.0  # how often each process reads the last numbers of the events it follows
UNRESOLVED_KEEP_S = 60.0  # how long a number taken but not found stored is looked for
UNRESOLVED_MAX = 1000  # ... at most so many per feed
EARLY_MAX = 1000  # numbers from before a feed started it remembers having delivered
SKIPPED_MAX = 1000  # numbers released by a skip it remembers (their change may come after all)
MEMBERSHIP_CHANGES = frozenset(
    {
        "participant.joined",
        "participant.left",
        "participant.removed",
        "event.deleted",
        "invitation.accepted",
    }
)
CHAT_MEMBERS = "chat_members_changed"

# how a subscription ends
SESSION_ENDED = "SESSION_ENDED"
NOT_A_MEMBER = "FORBIDDEN"
CURSOR_TOO_OLD = "CURSOR_TOO_OLD"


def channel(event_id: int) -> str:
    return key("chat", event_id)


@dataclass(slots=True)
class Change:
    """One thing that happened in an event's chat."""

    kind: str  # added | edited | deleted | reaction | poll | read | typing | presence
    event_id: int
    seq: int | None = None  # None: ephemeral (typing, presence), not replayed
    message: store.ChatMessage | None = None
    user_id: int | None = None  # who reacted / read / types / came online
    emoji: str | None = None
    added: bool | None = None
    message_id: str | None = None  # read marker position
    at: datetime | None = None
    active: bool | None = None  # typing / online
    expires_at: datetime | None = None
    only_user: int | None = None
    not_user: int | None = None
    replayed: bool = False
    position: int = 0  # cursor position: seq, or the feed's last one for ephemeral changes

    def target(self) -> tuple[str, Any] | None:
        if self.message is not None:
            return ("message", str(self.message.id))
        if self.kind == "read":
            return ("read", self.user_id)
        return None

    def to_wire(self) -> dict[str, Any]:
        data: dict[str, Any] = {"kind": self.kind, "seq": self.seq}
        if self.message is not None:
            data["message"] = self.message.model_dump(mode="json", by_alias=True)
        for name in ("user_id", "emoji", "added", "message_id", "active", "only_user", "not_user"):
            value = getattr(self, name)
            if value is not None:
                data[name] = value
        for name in ("at", "expires_at"):
            value = getattr(self, name)
            if value is not None:
                data[name] = value.isoformat()
        return data

    @classmethod
    def from_wire(cls, event_id: int, data: dict[str, Any]) -> Change:
        message = data.get("message")
        at, expires = data.get("at"), data.get("expires_at")
        return cls(
            kind=str(data["kind"]),
            event_id=event_id,
            seq=data.get("seq"),
            message=store.ChatMessage.model_validate(message) if message else None,
            user_id=data.get("user_id"),
            emoji=data.get("emoji"),
            added=data.get("added"),
            message_id=data.get("message_id"),
            at=datetime.fromisoformat(at) if at else None,
            active=data.get("active"),
            expires_at=datetime.fromisoformat(expires) if expires else None,
            only_user=data.get("only_user"),
            not_user=data.get("not_user"),
        )


class Group(Protocol):
    """Renders a change for a set of subscribers that render it the same way."""

    async def deliver(self, change: Change, subscribers: list[Subscriber]) -> None: ...


class Subscriber:
    """One `chatEvents` subscription (kept small: a thousand of them idle per process)."""

    __slots__ = (
        "_on_end",
        "after",
        "buffer",
        "ended",
        "event_id",
        "expires_at",
        "group",
        "replayed",
        "replayed_early",
        "session_id",
        "timer",
        "user_id",
    )

    def __init__(
        self,
        event_id: int,
        user_id: int,
        session_id: str,
        expires_at: datetime,
        group: Group,
        on_end: Callable[[Subscriber, str], None],
    ) -> None:
        self.event_id = event_id
        self.user_id = user_id
        self.session_id = session_id
        self.expires_at = expires_at
        self.group = group
        self._on_end = on_end
        self.after: int | None = None
        self.buffer: list[Change] | None = None  # while replaying
        self.replayed: dict[Any, int] | None = None
        # what its replay delivered (as it is now): a retried send publishes a message older
        # than the feed again, which such a socket has had
        self.replayed_early: frozenset[Any] = frozenset()
        self.ended = False
        self.timer: asyncio.TimerHandle | None = None

    def end(self, reason: str) -> None:
        if self.ended:
            return
        self.ended = True
        if self.timer is not None:
            self.timer.cancel()
        self._on_end(self, reason)


class Feed:
    """One event's channel, followed once per process.

    Numbers below `start_seq` were taken before the feed started: delivered as they come, once
    each (`early`). From `start_seq` on, changes are delivered in order: `next_seq` is the next
    one due, `pending` holds those that came ahead of it, `head` is the highest number known to
    be taken (from a change, a skip or the heartbeat). While `head >= next_seq` there is a gap:
    after GAP_WAIT_S it is filled from the store. Numbers passed without a change are kept in
    `unresolved` (number → when) and delivered if their change still comes; so are numbers
    released by a skip (`skipped`), should their change come after all.
    """

    def __init__(self, hub: ChatHub, event_id: int) -> None:
        self.hub = hub
        self.event_id = event_id
        self.subscribers: set[Subscriber] = set()
        self.members: set[int] = set()
        self.start_seq = 1
        self.next_seq = 1
        self.last_seq = 0
        self.head = 0
        self.beat_head = 0  # the last number the store had at the previous heartbeat
        self.pending: dict[int, Change] = {}
        self.gap_since: float | None = None
        self.unresolved: dict[int, float] = {}
        self.early: set[int] = set()
        self.skipped: set[int] = set()
        self.queue: asyncio.Queue[Any] | None = None
        self._stack = contextlib.AsyncExitStack()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        # Subscribe before reading the counter: a change numbered in between is seen.
        self.queue = await self._stack.enter_async_context(
            self.hub.deps.broadcast.subscribe(channel(self.event_id))
        )
        await self.reload_members()
        current = await store.current_seq(self.event_id)
        self.start_seq = self.next_seq = current + 1
        self.last_seq = self.head = current
        self._task = asyncio.create_task(self._run(self.queue), name=f"iven-chat-{self.event_id}")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        await self._stack.aclose()

    def heartbeat(self, head: int, recheck: bool) -> None:
        """The event's last number as the store has it (from the hub's heartbeat)."""
        if self.queue is not None:
            self.queue.put_nowait({"t": "head", "seq": head, "recheck": recheck})

    async def reload_members(self) -> None:
        async with self.hub.deps.db.reader() as db:
            found = await events_store.participants_of_events(db, [self.event_id], active_only=True)
        self.members = {p.user_id for p in found if p.user_id is not None}

    async def _run(self, queue: asyncio.Queue[Any]) -> None:
        while True:
            try:
                if self.gap_since is not None:
                    wait = self.gap_since + GAP_WAIT_S - time.monotonic()
                    try:
                        raw = await asyncio.wait_for(queue.get(), max(0.0, wait))
                    except TimeoutError:
                        await self._fill_gap()  # a writer numbered and gave up, or Redis lost it
                        continue
                else:
                    raw = await queue.get()
                await self._on_raw(raw)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if is_unreachable(exc):
                    # Hold the gap (and what came after it) and try again shortly: writers
                    # cannot store anything either, and streams stay open through the outage.
                    log.warning(
                        "chat feed cannot read the store; retrying",
                        extra={"event_id": self.event_id},
                    )
                    self.gap_since = time.monotonic() - GAP_WAIT_S + FILL_RETRY_S
                    continue
                log.exception("chat feed failed on a change", extra={"event_id": self.event_id})
            finally:
                self._note_gap()

    def _note_gap(self) -> None:
        if self.head < self.next_seq:
            self.gap_since = None
        elif self.gap_since is None:
            self.gap_since = time.monotonic()

    def _end_all(self, reason: str) -> None:
        """Ends every stream of this feed (they resume from their cursor); the hub drops the
        feed with its last subscriber, so the next one starts afresh."""
        for sub in list(self.subscribers):
            sub.end(reason)

    async def _on_raw(self, raw: dict[str, Any]) -> None:
        if raw.get("t") == "members":
            await self.reload_members()
            for sub in list(self.subscribers):
                if sub.user_id not in self.members:
                    sub.end(NOT_A_MEMBER)
            return
        if raw.get("t") == "head":
            # A number the previous beat saw taken is a heartbeat old: a writer still busy with
            # it is rare, so what is missing up to there is filled now (the newest numbers may
            # be writes in flight, whose publish is on its way).
            self.head = max(self.head, self.beat_head)
            self.beat_head = int(raw["seq"])
            if raw.get("recheck"):
                await self._recheck_unresolved()
            return
        if raw.get("t") == "skip":
            seq = int(raw["seq"])
            if seq >= self.next_seq:
                self.head = max(self.head, seq)
                self.pending.setdefault(seq, Change(kind="skip", event_id=self.event_id, seq=seq))
                await self._deliver_ready()
            else:
                self.unresolved.pop(seq, None)  # nothing to wait for
            return
        await self._on_change(Change.from_wire(self.event_id, raw))

    async def _on_change(self, change: Change) -> None:
        seq = change.seq
        if seq is None:
            await self._dispatch(change)  # ephemeral
            return
        if seq < self.start_seq:  # numbered before this feed started
            if seq in self.early:
                return  # published again (a retried send): already delivered
            if len(self.early) >= EARLY_MAX:
                self.early.clear()
            self.early.add(seq)
            # a socket that resumed from a cursor may have read it from the store already
            await self._dispatch(change, early=True)
            return
        if seq < self.next_seq:
            if self.unresolved.pop(seq, None) is not None or seq in self.skipped:
                self.skipped.discard(seq)
                await self._dispatch(change)  # late, but never delivered
            return  # else delivered already (from the store, or published twice)
        if seq not in self.pending or self.pending[seq].kind == "skip":
            self.pending[seq] = change
        self.head = max(self.head, seq)
        await self._deliver_ready()

    async def _deliver_ready(self) -> None:
        while self.next_seq in self.pending:
            change = self.pending.pop(self.next_seq)
            self.next_seq += 1
            if change.kind == "skip":
                self._skipped(change.seq)
            else:
                await self._dispatch(change)

    def _skipped(self, seq: int | None) -> None:
        if seq is None:
            return
        if len(self.skipped) >= SKIPPED_MAX:
            self.skipped.clear()
        self.skipped.add(seq)

    async def _fill_gap(self) -> None:
        """Delivers, in order, every number up to `head`: as published when it came, else as
        the store has it; a number found nowhere is passed and kept in `unresolved`."""
        low, high = self.next_seq, self.head
        found = await stored_changes(self.event_id, low - 1, high)
        if found is None:
            self._end_all(CURSOR_TOO_OLD)  # more lost than a fill reads: clients reload
            self.pending.clear()
            self.next_seq = high + 1
            return
        found.update(self.pending)  # as published: reactions say who and what
        self.pending = {}
        now = time.monotonic()
        for seq in range(low, high + 1):
            change = found.get(seq)
            self.next_seq = seq + 1
            if change is None:
                if len(self.unresolved) < UNRESOLVED_MAX:
                    self.unresolved[seq] = now
            elif change.kind == "skip":
                self._skipped(seq)
            else:
                await self._dispatch(change)
        self.next_seq = max(self.next_seq, high + 1)

    async def _recheck_unresolved(self) -> None:
        """Numbers passed without their change: a slow writer may have stored it since."""
        limit = time.monotonic() - UNRESOLVED_KEEP_S
        self.unresolved = {s: at for s, at in self.unresolved.items() if at > limit}
        if not self.unresolved:
            return
        found = await stored_changes(self.event_id, min(self.unresolved) - 1, self.next_seq - 1)
        for seq, change in sorted((found or {}).items()):
            if self.unresolved.pop(seq, None) is not None:
                await self._dispatch(change)

    async def _dispatch(self, change: Change, *, early: bool = False) -> None:
        if change.seq is not None:
            self.last_seq = max(self.last_seq, change.seq)
            change.position = change.seq
        else:
            change.position = self.last_seq
        now = utcnow()
        groups: dict[Group, list[Subscriber]] = {}
        for sub in list(self.subscribers):
            if sub.expires_at <= now:
                sub.end(SESSION_ENDED)
                continue
            if sub.user_id not in self.members:
                sub.end(NOT_A_MEMBER)
                continue
            if not visible_to(change, sub.user_id):
                continue
            if sub.buffer is not None:
                sub.buffer.append(change)
                continue
            if (
                change.seq is not None
                and sub.after is not None
                and (change.seq <= sub.after or (early and change.target() in sub.replayed_early))
            ):
                continue
            groups.setdefault(sub.group, []).append(sub)
        for group, subs in groups.items():
            await group.deliver(change, subs)


def visible_to(change: Change, user_id: int) -> bool:
    return (change.only_user is None or change.only_user == user_id) and change.not_user != user_id


class ChatHub:
    """This process's feeds and subscribers."""

    def __init__(self, deps: Deps) -> None:
        self.deps = deps
        self.feeds: dict[int, Feed] = {}
        self._starting: dict[int, asyncio.Future[Feed]] = {}
        self.by_session: dict[str, set[Subscriber]] = {}
        self._listener = ChannelListener(
            deps.broadcast, REVOKED_CHANNEL, self._revoked, "iven-chat-revoked"
        )
        self._heartbeat: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._listener.start()
        self._heartbeat = asyncio.create_task(self._beat(), name="iven-chat-heartbeat")

    async def close(self) -> None:
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._heartbeat
        await self._listener.close()
        for feed in list(self.feeds.values()):
            await feed.close()
        self.feeds.clear()

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_S)
            with contextlib.suppress(Exception):
                await self.beat_once()

    async def beat_once(self) -> None:
        """Tells each followed event's feed its last number as the store has it (one read for
        all of them): a feed that is behind fills the tail the broadcast lost."""
        feeds = [f for f in self.feeds.values() if f.subscribers]
        if not feeds:
            return
        try:
            heads = await store.current_seqs([f.event_id for f in feeds])
        except Exception:
            log.warning("chat heartbeat cannot read the store", exc_info=True)
            return
        for feed in feeds:
            feed.heartbeat(heads.get(feed.event_id, 0), bool(feed.unresolved))

    def _revoked(self, message: dict[str, Any]) -> None:
        for sid in message.get("sids", []):
            for sub in list(self.by_session.get(sid, ())):
                sub.end(SESSION_ENDED)

    async def _feed(self, event_id: int) -> Feed:
        feed = self.feeds.get(event_id)
        if feed is not None:
            return feed
        starting = self._starting.get(event_id)
        if starting is not None:
            return await asyncio.shield(starting)
        future: asyncio.Future[Feed] = asyncio.get_running_loop().create_future()
        self._starting[event_id] = future
        try:
            feed = Feed(self, event_id)
            try:
                await feed.start()
            except BaseException:
                await asyncio.shield(feed.close())  # not left subscribed to the channel
                raise
            self.feeds[event_id] = feed
            future.set_result(feed)
            return feed
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: waiters get it through shield
            raise
        finally:
            del self._starting[event_id]

    async def join(self, sub: Subscriber, after: int | None) -> None:
        """Adds a subscriber whose membership was just checked; replays from `after`. The store
        out of reach: Unavailable."""
        try:
            await self._join(sub, after)
        except Exception as exc:
            if is_unreachable(exc):
                raise Unavailable() from exc
            raise

    async def _join(self, sub: Subscriber, after: int | None) -> None:
        while True:
            feed = await self._feed(sub.event_id)
            if sub.user_id not in feed.members:
                await feed.reload_members()  # joined a moment ago; the signal is on its way
                if sub.user_id not in feed.members:
                    self._drop_feed_if_idle(feed)
                    sub.end(NOT_A_MEMBER)
                    return
            if self.feeds.get(sub.event_id) is feed:
                break  # (else it was closed meanwhile, its last subscriber gone: take a new one)
        sub.after = after
        if after is not None:
            sub.buffer = []
            sub.replayed = {}
        feed.subscribers.add(sub)
        self.by_session.setdefault(sub.session_id, set()).add(sub)
        left = (sub.expires_at - utcnow()).total_seconds()
        sub.timer = asyncio.get_running_loop().call_later(max(0.0, left), sub.end, SESSION_ENDED)
        if after is not None:
            try:
                await self._replay(feed, sub, after)
            except BaseException:
                self.leave(sub)
                raise

    def leave(self, sub: Subscriber) -> None:
        if sub.timer is not None:
            sub.timer.cancel()
        feed = self.feeds.get(sub.event_id)
        if feed is not None:
            feed.subscribers.discard(sub)
            self._drop_feed_if_idle(feed)
        session = self.by_session.get(sub.session_id)
        if session is not None:
            session.discard(sub)
            if not session:
                del self.by_session[sub.session_id]

    def _drop_feed_if_idle(self, feed: Feed) -> None:
        if not feed.subscribers and self.feeds.get(feed.event_id) is feed:
            del self.feeds[feed.event_id]
            in_background(feed.close())

    async def _replay(self, feed: Feed, sub: Subscriber, after: int) -> None:
        changes = await missed(self.deps, feed.event_id, sub.user_id, after)
        if changes is None:
            sub.end(CURSOR_TOO_OLD)
            return
        replayed = sub.replayed if sub.replayed is not None else {}
        for change in changes:
            if sub.ended:
                return
            change.position = change.seq or after
            target = change.target()
            if target is not None and change.seq is not None:
                replayed[target] = max(replayed.get(target, 0), change.seq)
            await sub.group.deliver(change, [sub])
        # What arrived live meanwhile, less what the replay already showed.
        while sub.buffer and not sub.ended:
            change = sub.buffer.pop(0)
            target = change.target()
            if change.seq is not None and (
                change.seq <= after
                or (target is not None and replayed.get(target, 0) >= change.seq)
            ):
                continue
            await sub.group.deliver(change, [sub])
        sub.buffer = None
        sub.replayed_early = frozenset(replayed)
        sub.replayed = None


async def missed(deps: Deps, event_id: int, user_id: int, after: int) -> list[Change] | None:
    """What changed since `after`, as the current state of each changed message and marker,
    in sequence order; None when there is more than REPLAY_LIMIT."""
    found = await _from_store(event_id, after, viewer=user_id)
    if found is None:
        return None
    return sorted(found, key=lambda c: c.seq or 0)


async def stored_changes(event_id: int, after: int, upto: int) -> dict[int, Change] | None:
    """The changes numbered after `after` up to `upto` that the store still shows, by number,
    each message as it is now: sent in that range, it is there as added under its first
    number (so that no socket gets a change of a message it never got), and under the number
    of its last change if that is in the range too (an earlier change superseded by a later
    one is not). Read markers of people who hide receipts go to themselves only. None when
    there is more than REPLAY_LIMIT to read."""
    found = await _from_store(event_id, after, viewer=None)
    if found is None:
        return None
    changes: dict[int, Change] = {}
    for c in found:
        m = c.message
        if m is None:
            if c.seq is not None and c.seq <= upto:
                changes[c.seq] = c
            continue
        if after < m.seq <= upto:
            changes[m.seq] = Change(
                kind="added", event_id=event_id, seq=m.seq, message=m, replayed=True
            )
        if m.seq < m.changed_seq <= upto:
            changes[m.changed_seq] = Change(
                kind=m.last_change, event_id=event_id, seq=m.changed_seq, message=m, replayed=True
            )
    return changes


async def _from_store(event_id: int, after: int, viewer: int | None) -> list[Change] | None:
    """Messages and markers changed after `after`, as they are now. For one `viewer`, hidden
    markers of others are left out; for everyone (None), they are marked for their owner."""
    messages = await store.changed_since(event_id, after, REPLAY_LIMIT + 1)
    markers = await store.markers_since(event_id, after, REPLAY_LIMIT + 1)
    if len(messages) + len(markers) > REPLAY_LIMIT:
        return None
    hidden = {
        u
        for u, s in (await store.settings_of([m.user_id for m in markers])).items()
        if not s.send_read_receipts
    }
    changes: list[Change] = []
    for m in messages:
        if m.seq > after:
            kind = "deleted" if m.deleted_at is not None else "added"
        else:
            kind = m.last_change
        changes.append(
            Change(kind=kind, event_id=event_id, seq=m.changed_seq, message=m, replayed=True)
        )
    for r in markers:
        if r.user_id in hidden and viewer is not None and r.user_id != viewer:
            continue
        changes.append(
            Change(
                kind="read",
                event_id=event_id,
                seq=r.seq,
                user_id=r.user_id,
                message_id=r.message_id,
                at=r.at,
                only_user=r.user_id if r.user_id in hidden and viewer is None else None,
                replayed=True,
            )
        )
    return changes


def hub(deps: Deps) -> ChatHub:
    return deps.services.chat_hub


async def publish(deps: Deps, change: Change) -> None:
    """Tells every process's feed. Called after the change is stored: a failure is logged, not
    raised (the feeds find a stored change by its number: gap, heartbeat)."""
    try:
        await deps.broadcast.publish(channel(change.event_id), change.to_wire())
    except (RedisError, OSError):
        log.warning(
            "chat change not published; the feeds will read it from the store",
            extra={"event_id": change.event_id, "seq": change.seq},
        )


async def publish_skip(deps: Deps, event_id: int, seq: int) -> None:
    """A number taken for a change that did not happen: the feeds stop waiting for it."""
    await deps.broadcast.publish(channel(event_id), {"t": "skip", "seq": seq})


async def numbered(deps: Deps, event_id: int, write: Callable[[int], Awaitable[T]]) -> T:
    """Takes the event's next number and runs the write with it; a write that stores nothing
    (returns None or raises) releases the number."""
    seq = await store.next_seq(event_id)
    result: T | None = None
    try:
        result = await write(seq)
    except Exception as exc:
        # A broken connection with the write in flight may have stored it under this number
        # (answered to a retry with the same client id): the number is not released then; the
        # feeds fill it from the store, or keep it unresolved for a late publish.
        if not is_unreachable(exc):
            with contextlib.suppress(Exception):
                await publish_skip(deps, event_id, seq)
        raise
    # (cancelled mid-write: as a broken connection, the number is not released)
    if result is None:
        with contextlib.suppress(Exception):
            await publish_skip(deps, event_id, seq)
    return result


def mark_membership_change(db: Any, event_type: str, event_id: int) -> None:
    """Called when a domain event is recorded: membership changes reload the feeds."""
    if event_type in MEMBERSHIP_CHANGES:
        db.info.setdefault(CHAT_MEMBERS, set()).add(event_id)


def install(deps: Deps) -> ChatHub:
    """The hub, and the commit hook telling every process's feeds that membership changed."""

    async def after_commit(marks: dict[str, Any]) -> None:
        for event_id in marks.get(CHAT_MEMBERS, ()):
            await deps.broadcast.publish(channel(event_id), {"t": "members"})

    deps.db.commit_hooks.append(after_commit)
    return hub(deps)


@dataclass
class QueueGroup:
    """A subscriber rendered on its own (the generic GraphQL path): changes go to a queue."""

    queue: asyncio.Queue[Change | str] = field(default_factory=asyncio.Queue)

    async def deliver(self, change: Change, subscribers: list[Subscriber]) -> None:
        self.queue.put_nowait(change)

    def __hash__(self) -> int:
        return id(self)
