"""Filling the stores with the demo (content.py) through the use cases the API runs.

Everything but the accounts goes through `resolvers/`: the same authorisation, validation,
outbox events and notifications as a client's mutations, each done by the demo person who would
do it (the owner invites, the invitee accepts, the assignee completes, an organizer validates).
Accounts are written at the store level the way tests/factories.py does (a confirmed account and
its `user.registered` event): confirming an email needs the code from the mail. The admin comes
from `create_admin`, as `iven-gql create-admin` makes it.

Idempotent by natural keys, looked up before anything is created: users by username, events by
title among the owner's events, members by user, invitations and join requests by the use cases
themselves (a pending one is returned, not doubled), tasks and expenses by title in their event,
settlements by (from, to, amount), chat messages by their `clientId`, albums and comments by
their `clientMutationId` (document keys: they do not expire like MySQL's idempotency keys), pictures
by file name in their album, then by content (the media use case dedupes per event), the article
by its slug. A known chat message or comment is answered by its use case, which records its
mention/comment domain event again under the same `once` name (a crash may have lost it): it is
notified once. A run that stopped half-way is completed by the next one: every step looks at what
is there first (a task created but not completed yet gets completed). Nothing is ever updated
back: a demo object edited by hand stays as it is.
"""

from __future__ import annotations

import asyncio
import io
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import BinaryIO
from zoneinfo import ZoneInfo

import iven_gql.demo.content as content
from iven_gql.demo.content import EventSpec, Person
from iven_gql.demo.images import draw
from resolvers import accounts as accounts_uc
from resolvers import albums as albums_uc
from resolvers import articles as articles_uc
from resolvers import chat as chat_uc
from resolvers import events as events_uc
from resolvers import expenses as expenses_uc
from resolvers import invitations as invitations_uc
from resolvers import media as media_uc
from resolvers import tasks as tasks_uc
from resolvers.core.background import drain_background
from resolvers.core.deps import Deps, Viewer
from resolvers.dispatcher import dispatcher
from resolvers.money import SplitMode, parse_amount
from resolvers.projections import USER, record
from stores import accounts as account_store
from stores import articles as article_store
from stores import events as event_store
from stores import expenses as expense_store
from stores import outbox as outbox_store
from stores import tasks as task_store
from stores.accounts import User
from stores.articles import ArticleStatus
from stores.db import utcnow
from stores.events import Event, ParticipantRole, Rsvp, Visibility
from stores.invitations import InvitationStatus
from stores.tasks import TaskStatus

OUTBOX_WAIT_S = 120.0


def _utc(at: datetime) -> datetime:
    """Stores hand back naive UTC times (SQLite, MySQL, MongoDB); a fresh object keeps its zone."""
    return at.astimezone(UTC) if at.tzinfo is not None else at.replace(tzinfo=UTC)


@dataclass
class Report:
    """What a run found and what it added (`created` counts kinds of objects)."""

    users: list[Person]
    admin: Person
    password: str
    event_ids: dict[str, int] = field(default_factory=dict)  # spec key -> event id
    created: Counter[str] = field(default_factory=Counter)
    pending_outbox: int = 0


@dataclass
class _Upload:
    """What the media use case reads from a multipart file part."""

    filename: str
    file: BinaryIO


class Seeder:
    def __init__(self, deps: Deps) -> None:
        self.deps = deps
        self.user_ids: dict[str, int] = {}
        self.created: Counter[str] = Counter()
        self._password_hash: str | None = None
        now = deps.clock()  # documents created since are this run's (MongoDB keeps milliseconds)
        self.started = now.replace(microsecond=now.microsecond // 1000 * 1000)

    def count_if_new(self, kind: str, created_at: datetime) -> None:
        """The document use cases answer a known key with the first object: its creation time
        tells whether this run made it."""
        if _utc(created_at) >= _utc(self.started):
            self.created[kind] += 1

    def viewer(self, username: str) -> Viewer:
        """The demo person acting (no session of theirs is needed by the use cases)."""
        return Viewer(self.user_ids[username], "seed-demo", utcnow() + timedelta(hours=1))

    # --- accounts ------------------------------------------------------------------------------

    async def user(self, person: Person) -> int:
        deps = self.deps
        async with deps.db.reader() as db:
            found = await account_store.user_by_username(db, person.username)
        if found is not None and found.id is not None:
            self.user_ids[person.username] = found.id
            return found.id
        accounts_uc.raise_if(
            [
                accounts_uc.check_username(person.username),
                accounts_uc.check_email(person.email),
                accounts_uc.check_password(
                    content.DEMO_PASSWORD, username=person.username, email=person.email
                ),
                accounts_uc.check_name(person.first_name, "firstName"),
                accounts_uc.check_name(person.last_name, "lastName"),
            ]
        )
        if self._password_hash is None:  # argon2 once for everybody
            self._password_hash = await deps.passwords.hash(content.DEMO_PASSWORD)
        async with deps.db.unit_of_work() as db:
            user = await account_store.add_user(
                db,
                User(
                    username=person.username,
                    username_key=person.username.lower(),
                    email=accounts_uc.normalise_email(person.email),
                    password_hash=self._password_hash,
                    first_name=person.first_name,
                    last_name=person.last_name,
                    email_confirmed_at=utcnow(),
                ),
            )
            assert user.id is not None
            record(db, "user.registered", USER, user.id, user.id)
        await accounts_uc.users_changed(deps, user.id)
        self.created["users"] += 1
        self.user_ids[person.username] = user.id
        return user.id

    async def admin(self, person: Person) -> None:
        """Created, or promoted when the account exists, by `create_admin` (create-admin's)."""
        async with self.deps.db.reader() as db:
            existed = await account_store.user_by_username(db, person.username) is not None
        user = await accounts_uc.create_admin(
            self.deps,
            email=person.email,
            username=person.username,
            password=content.DEMO_PASSWORD,
            first_name=person.first_name,
            last_name=person.last_name,
        )
        assert user.id is not None
        self.user_ids[person.username] = user.id
        if not existed:
            self.created["users"] += 1

    # --- events and their members --------------------------------------------------------------

    async def event(self, spec: EventSpec) -> Event:
        deps = self.deps
        owner = self.viewer(spec.owner)
        async with deps.db.reader() as db:
            owned = await event_store.owned_events(db, owner.user_id)
        for found in await events_uc.events_by_id(deps, sorted(owned)):
            if found is not None and found.title == spec.title:
                return found
        zone = ZoneInfo(spec.timezone)
        midnight = datetime.now(zone).replace(hour=0, minute=0, second=0, microsecond=0)
        starts = midnight + spec.starts_in
        name, address, latitude, longitude = spec.location
        event = await events_uc.create_event(
            deps,
            owner,
            events_uc.EventData(
                title=spec.title,
                description=spec.description,
                starts_at=starts,
                ends_at=starts + spec.duration,
                timezone=spec.timezone,
                location=events_uc.LocationData(name, address, latitude, longitude),
                visibility=Visibility(spec.visibility),
                currency="EUR",
            ),
        )
        self.created["events"] += 1
        return event

    async def members(self, spec: EventSpec, event_id: int) -> dict[str, int]:
        """Invites the missing members with their role and has each accept; returns the
        participant id of every member by username."""
        deps = self.deps
        here = await self._participants(event_id)
        for role, names in (
            (ParticipantRole.ORGANIZER, spec.organizers),
            (ParticipantRole.PARTICIPANT, spec.participants),
        ):
            missing = [n for n in names if self.user_ids[n] not in here]
            if not missing:
                continue
            sent = await invitations_uc.invite(
                deps,
                self.viewer(spec.owner),
                event_id,
                [invitations_uc.Invitee(user_id=self.user_ids[n]) for n in missing],
                role,
                f"Join us: {spec.title}!",
            )
            by_user = {i.invitee_user_id: i for i in sent}
            for name in missing:
                await invitations_uc.accept(
                    deps, self.viewer(name), by_user[self.user_ids[name]].id or 0
                )
                self.created["participants"] += 1
        here = await self._participants(event_id)
        by_id = {uid: name for name, uid in self.user_ids.items()}
        return {by_id[uid]: pid for uid, pid in here.items() if uid in by_id}

    async def _participants(self, event_id: int) -> dict[int, int]:
        """user id -> participant id of the active members."""
        async with self.deps.db.reader() as db:
            rows = await event_store.participants_of_events(db, [event_id], active_only=True)
        return {p.user_id: p.id for p in rows if p.user_id is not None and p.id is not None}

    async def rsvps(self, spec: EventSpec, event_id: int) -> None:
        async with self.deps.db.reader() as db:
            rows = await event_store.participants_of_events(db, [event_id], active_only=True)
        current = {p.user_id: p.rsvp for p in rows}
        for name, answer in spec.rsvps:
            if current.get(self.user_ids[name]) != answer:
                await events_uc.set_rsvp(self.deps, self.viewer(name), event_id, Rsvp(answer))

    async def pending(self, spec: EventSpec, event: Event, members: dict[str, int]) -> None:
        """Invitations left unanswered and join requests left undecided (both use cases return
        the pending one instead of a second)."""
        assert event.id is not None
        for name in spec.pending_invitations:
            if name in members:
                continue
            mine = await invitations_uc.my_invitations(
                self.deps, self.viewer(name), InvitationStatus.PENDING
            )
            if not any(i.event_id == event.id for i in mine):
                self.created["invitations"] += 1
            await invitations_uc.invite(
                self.deps,
                self.viewer(spec.owner),
                event.id,
                [invitations_uc.Invitee(user_id=self.user_ids[name])],
                ParticipantRole.PARTICIPANT,
                "You'd love it, come along!",
            )
        for name in spec.join_requests:
            if name not in members:
                await invitations_uc.request_to_join(
                    self.deps,
                    self.viewer(name),
                    0,
                    "Emma's colleague here, may I come?",
                    share_token=event.share_token,
                )

    # --- tasks, expenses, settlements ------------------------------------------------------------

    async def tasks(self, spec: EventSpec, event: Event, members: dict[str, int]) -> None:
        deps = self.deps
        assert event.id is not None
        async with deps.db.reader() as db:
            existing = {t.title: t for t in await task_store.tasks_of_events(db, [event.id])}
        for task_spec in spec.tasks:
            task = existing.get(task_spec.title)
            if task is None:
                due = _utc(event.starts_at) + task_spec.due_in if task_spec.due_in else None
                task = await tasks_uc.create_task(
                    deps,
                    self.viewer(spec.organizers[0] if spec.organizers else spec.owner),
                    event.id,
                    tasks_uc.TaskData(
                        title=task_spec.title,
                        description=task_spec.description or None,
                        due_at=due,
                    ),
                    [members[n] for n in task_spec.assignees],
                )
                self.created["tasks"] += 1
            assert task.id is not None
            doer = task_spec.assignees[0] if task_spec.assignees else spec.owner
            if task.status == TaskStatus.TODO.value and task_spec.state != "TODO":
                task = await tasks_uc.complete_task(deps, self.viewer(doer), task.id)
            if task.status == TaskStatus.DONE.value and task_spec.state == "VALIDATED":
                await tasks_uc.validate_task(
                    deps, self.viewer(task_spec.validator or spec.owner), task.id or 0
                )

    async def expenses(self, spec: EventSpec, event: Event, members: dict[str, int]) -> None:
        deps = self.deps
        assert event.id is not None
        async with deps.db.reader() as db:
            titles = {e.title for e in await expense_store.expenses_of_events(db, [event.id])}
            settled = {
                (s.from_id, s.to_id, s.amount_minor)
                for s in await expense_store.settlements_of_events(db, [event.id])
            }
        spent_at = min(_utc(event.starts_at), datetime.now(UTC)) - timedelta(days=1)
        for item in spec.expenses:
            if item.title in titles:
                continue
            await expenses_uc.create_expense(
                deps,
                self.viewer(item.paid_by),
                event.id,
                expenses_uc.ExpenseData(
                    title=item.title,
                    amount=item.amount,
                    currency=event.currency,
                    paid_by_id=members[item.paid_by],
                    spent_at=spent_at,
                    category=item.category,
                    note=item.note or None,
                    split_mode=SplitMode(item.mode),
                    parts=[expenses_uc.SplitPart(members[n], value) for n, value in item.parts],
                ),
            )
            self.created["expenses"] += 1
        for payer, payee, amount in spec.settlements:
            parties = (members[payer], members[payee], parse_amount(amount, event.currency))
            if parties in settled:
                continue
            await expenses_uc.record_settlement(
                deps, self.viewer(payer), event.id, parties[0], parties[1], amount
            )
            self.created["settlements"] += 1

    # --- chat and pictures -----------------------------------------------------------------------

    async def chat(self, spec: EventSpec, event_id: int) -> None:
        """Each message by its clientId: the chat use case answers a known one with the stored
        message (and records nothing new)."""
        sent: dict[str, str] = {}
        for item in spec.messages:
            message = await chat_uc.send(
                self.deps,
                self.viewer(item.author),
                event_id,
                item.body,
                sent[item.reply_to] if item.reply_to else None,
                f"{content.CLIENT_PREFIX}-{item.key}",
            )
            sent[item.key] = str(message.id)
            self.count_if_new("messages", message.created_at)
            for name, emoji in item.reactions:
                if self.user_ids[name] not in message.reactions.get(emoji, []):
                    await chat_uc.toggle_reaction(
                        self.deps, self.viewer(name), str(message.id), emoji
                    )
                    self.created["reactions"] += 1

    async def albums(self, spec: EventSpec, event_id: int) -> None:
        deps = self.deps
        for album_spec in spec.albums:
            album = await albums_uc.create_album(
                deps,
                self.viewer(album_spec.creator),
                event_id,
                album_spec.title,
                album_spec.description or None,
                client_mutation_id=f"{content.CLIENT_PREFIX}-album-{album_spec.key}",
            )
            self.count_if_new("albums", album.created_at)
            # by file name first: a newer Pillow may encode the same drawing differently
            present = {
                m.file_name: m
                for m in await albums_uc.album_media(deps, album, 100, None)
                if m.removed_at is None
            }
            for picture in album_spec.pictures:
                media = present.get(picture.name)
                if media is None:
                    data = await asyncio.to_thread(draw, picture)
                    (media,) = await media_uc.upload(
                        deps,
                        self.viewer(picture.uploader),
                        event_id,
                        str(album.id),
                        [_Upload(picture.name, io.BytesIO(data))],
                        picture.caption,
                        share_location=False,
                    )
                    self.count_if_new("media", media.created_at)
                for name in picture.likes:  # a like that is there changes nothing
                    await albums_uc.like(deps, self.viewer(name), str(media.id), True)
                if picture.comment is not None:
                    author, body = picture.comment
                    found = await albums_uc.comment(
                        deps,
                        self.viewer(author),
                        str(media.id),
                        body,
                        client_mutation_id=f"{content.CLIENT_PREFIX}-comment-{picture.name}",
                    )
                    self.count_if_new("comments", found.created_at)

    # --- the article -----------------------------------------------------------------------------

    async def article(self, admin: Person) -> None:
        deps = self.deps
        viewer = self.viewer(admin.username)
        async with deps.db.reader() as db:
            found = await article_store.article_by_slug(db, content.ARTICLE_SLUG)
        if found is None:
            view = await articles_uc.create_article(
                deps,
                viewer,
                articles_uc.ArticleData(
                    title=content.ARTICLE_TITLE,
                    slug=content.ARTICLE_SLUG,
                    summary=content.ARTICLE_SUMMARY,
                    body=content.ARTICLE_BODY,
                    tags=list(content.ARTICLE_TAGS),
                ),
            )
            self.created["articles"] += 1
            article_id, status = view.id, view.status
        else:
            article_id, status = found.id or 0, found.status
        if status != ArticleStatus.PUBLISHED.value:
            await articles_uc.publish_article(deps, viewer, article_id, None)


async def drain_outbox(deps: Deps, timeout_s: float = OUTBOX_WAIT_S) -> int:
    """Runs this process's dispatcher until every recorded domain event is handled (another
    dispatcher, e.g. a running server's, may take part); returns how many are left."""
    await drain_background()
    running = dispatcher(deps)
    deadline = time.monotonic() + timeout_s
    while True:
        if running is not None:
            await running.drain(timeout_s=max(0.0, deadline - time.monotonic()))
        async with deps.db.reader() as db:
            left = await outbox_store.pending_count(db)
        if left == 0 or time.monotonic() >= deadline:
            return left
        await asyncio.sleep(0.05)  # rows held by another dispatcher, or due for a retry


async def seed_demo(deps: Deps) -> Report:
    """Fills the stores `deps` opens with the demo; a second run adds nothing."""
    seeder = Seeder(deps)
    for person in content.PEOPLE:
        await seeder.user(person)
    await seeder.admin(content.ADMIN)
    report = Report(list(content.PEOPLE), content.ADMIN, content.DEMO_PASSWORD)
    for spec in content.EVENTS:
        event = await seeder.event(spec)
        assert event.id is not None
        report.event_ids[spec.key] = event.id
        members = await seeder.members(spec, event.id)
        await seeder.rsvps(spec, event.id)
        await seeder.pending(spec, event, members)
        await seeder.tasks(spec, event, members)
        await seeder.expenses(spec, event, members)
        await seeder.chat(spec, event.id)
        await seeder.albums(spec, event.id)
    await seeder.article(content.ADMIN)
    report.created = seeder.created
    report.pending_outbox = await drain_outbox(deps)
    return report
