"""Factories: users, sessions and event membership in one line each, written at the store level.

A factory user is what registering and confirming through the API leaves behind (a confirmed
account, a signed-in session with an access and a refresh token, the `user.registered` domain
event) without the argon2 hashing, the mail round trip and the mutations: one password hash is
computed per distinct password and reused. Tests whose behaviour under test is registration,
confirmation or sign-in use the API (`Accounts.register`, `confirm`, `login`, `signed_up`).
Returned shapes are the API's: global ids, tokens, credentials.
"""

from __future__ import annotations

import re
import secrets
import uuid
from typing import Any

from strawberry.relay import GlobalID

from resolvers import accounts as accounts_uc
from resolvers import events as events_uc
from resolvers import sessions
from resolvers.core.deps import ClientInfo, Deps, Viewer
from resolvers.projections import USER, record
from schema.core import global_id
from stores import accounts as account_store
from stores import events as event_store
from stores.accounts import User
from stores.db import utcnow
from stores.events import InviteLink, ParticipantRole
from tests.support import GraphQLClient, MailBox

CODE_RE = re.compile(r"\b(\d{6})\b")
DEFAULT_PASSWORD = "correct-horse-9"
# what a session opened by the API from this test client records
FACTORY_CLIENT = ClientInfo(ip="127.0.0.1", user_agent="pytest-factory")

EVENT_FIELDS = """id title description startsAt endsAt timezone status visibility capacity currency
  version viewerRole participantCount location { name address latitude longitude }
  owner { id username } viewerParticipation { id role rsvp }"""


def pk(node_id: str) -> int:
    """The primary key inside a global id."""
    return int(GlobalID.from_id(node_id).node_id)


def viewer_of(deps: Deps, token: str) -> Viewer:
    """The viewer an access token stands for (as the server sees it)."""
    claims = deps.tokens.decode_access(token)
    return Viewer(claims.user_id, claims.session_id, claims.expires_at)


# argon2 once per password for the whole run: every factory user of a test shares it
_PASSWORD_HASHES: dict[str, str] = {}


class Accounts:
    """Users: `user()` / `admin()` at the store level; registration and sign-in through the API."""

    def __init__(self, api: GraphQLClient, mailbox: MailBox, deps: Deps) -> None:
        self.api = api
        self.mailbox = mailbox
        self.deps = deps
        self.count = 0

    def _names(self, username: str | None, email: str | None) -> tuple[str, str]:
        self.count += 1
        username = username or f"user{self.count}_{uuid.uuid4().hex[:6]}"
        return username, (email or f"{username}@example.com")

    async def _password_hash(self, password: str) -> str:
        if password not in _PASSWORD_HASHES:
            _PASSWORD_HASHES[password] = await self.deps.passwords.hash(password)
        return _PASSWORD_HASHES[password]

    async def user(
        self,
        username: str | None = None,
        email: str | None = None,
        password: str = DEFAULT_PASSWORD,
        *,
        first_name: str = "Test",
        last_name: str = "User",
    ) -> dict[str, Any]:
        """A confirmed user with a signed-in session: ids, credentials and tokens."""
        username, email = self._names(username, email)
        email = accounts_uc.normalise_email(email)
        password_hash = await self._password_hash(password)
        async with self.deps.db.unit_of_work() as db:
            user = await account_store.add_user(
                db,
                User(
                    username=username,
                    username_key=username.lower(),
                    email=email,
                    password_hash=password_hash,
                    first_name=first_name,
                    last_name=last_name,
                    email_confirmed_at=utcnow(),
                ),
            )
            assert user.id is not None
            record(db, "user.registered", USER, user.id, user.id)
            issued = await sessions.open_session(db, self.deps, user.id, FACTORY_CLIENT)
        # as confirming does: per-process caches may hold a user of an earlier test by this id
        await accounts_uc.users_changed(self.deps, user.id)
        await sessions.publish_session(self.deps, issued)
        return {
            "username": username,
            "email": email,
            "password": password,
            "id": global_id("User", user.id),
            "token": issued.access_token,
            "refresh": issued.refresh_token,
        }

    async def admin(self, **kwargs: Any) -> dict[str, Any]:
        """A signed-in admin (a confirmed user promoted like `iven-gql create-admin` does)."""
        account = await self.user(**kwargs)
        await accounts_uc.create_admin(
            self.deps, email=account["email"], username=account["username"], password="unused"
        )
        return account

    # --- through the API: for tests of registration, confirmation and sign-in themselves -------

    async def register(
        self,
        username: str | None = None,
        email: str | None = None,
        password: str = DEFAULT_PASSWORD,
        **extra: Any,
    ) -> dict[str, Any]:
        username, email = self._names(username, email)
        result = await self.api.execute(
            """mutation($input: RegisterInput!) { register(input: $input) {
                 errors { code field message } } }""",
            {
                "input": {
                    "username": username,
                    "email": email,
                    "password": password,
                    "firstName": extra.get("first_name", "Test"),
                    "lastName": extra.get("last_name", "User"),
                }
            },
        )
        payload = result["data"]["register"]
        assert payload["errors"] == [], payload
        return {
            "username": username,
            "email": email.lower(),
            "password": password,
        }

    async def code_for(self, email: str, subject: str = "confirmation code", count: int = 1) -> str:
        mail = await self.mailbox.wait_for(email, subject, count=count)
        match = CODE_RE.search(mail["body"])
        assert match, mail["body"]
        return match.group(1)

    async def confirm(self, email: str) -> dict[str, Any]:
        code = await self.code_for(email)
        result = await self.api.execute(
            """mutation($input: ConfirmEmailInput!) { confirmEmail(input: $input) {
                 accessToken refreshToken expiresAt user { id username } errors { code } } }""",
            {"input": {"email": email, "code": code}},
        )
        payload = result["data"]["confirmEmail"]
        assert payload["errors"] == [], payload
        return payload  # type: ignore[no-any-return]

    async def signed_up(self, **kwargs: Any) -> dict[str, Any]:
        """Like `user()`, but registered, mailed and confirmed through the API."""
        account = await self.register(**kwargs)
        auth = await self.confirm(account["email"])
        return {
            **account,
            "id": auth["user"]["id"],
            "token": auth["accessToken"],
            "refresh": auth["refreshToken"],
        }

    async def login(self, email: str, password: str, user_agent: str = "pytest") -> dict[str, Any]:
        result = await self.api.execute(
            """mutation($input: LoginInput!) { login(input: $input) {
                 accessToken refreshToken expiresAt user { id }
                 errors { code field message retryAfterSeconds } } }""",
            {"input": {"email": email, "password": password}},
            headers={"user-agent": user_agent},
        )
        return result["data"]["login"]  # type: ignore[no-any-return]


class Events:
    """Events through the API (the shape tests read); membership at the store level."""

    def __init__(self, api: GraphQLClient, deps: Deps) -> None:
        self.api = api
        self.deps = deps

    async def create(self, token: str, **over: Any) -> dict[str, Any]:
        data = {
            "title": "Picnic",
            "startsAt": "2030-06-01T12:00:00+02:00",
            "endsAt": "2030-06-01T18:00:00+02:00",
            "currency": "EUR",
            "timezone": "Europe/Paris",
        }
        data.update(over)
        result = await self.api.execute(
            f"""mutation($input: CreateEventInput!) {{ createEvent(input: $input) {{
                 event {{ {EVENT_FIELDS} }} errors {{ code field message }} }} }}""",
            {"input": data},
            token=token,
        )
        payload = result["data"]["createEvent"]
        assert payload["errors"] == [], payload
        return payload["event"]  # type: ignore[no-any-return]

    async def link(self, token: str, event_id: str, **over: Any) -> str:
        result = await self.api.execute(
            """mutation($input: CreateInviteLinkInput!) { createInviteLink(input: $input) {
                 token errors { code } } }""",
            {"input": {"eventId": event_id, **over}},
            token=token,
        )
        payload = result["data"]["createInviteLink"]
        assert payload["errors"] == [], payload
        return payload["token"]  # type: ignore[no-any-return]

    async def join(self, token: str, link: str) -> dict[str, Any]:
        result = await self.api.execute(
            """mutation($t: String!) { joinWithInviteLink(input: {token: $t}) {
                 participant { id role state } errors { code } } }""",
            {"t": link},
            token=token,
        )
        return result["data"]["joinWithInviteLink"]  # type: ignore[no-any-return]

    async def add(
        self, owner_token: str, event_id: str, user: dict[str, Any], role: str = "PARTICIPANT"
    ) -> str:
        """Adds `user` to the event with `role`, leaving what joining through an invite link of
        the owner leaves (a used link, the participation, its domain event); returns the
        participant id. Rights are not checked."""
        deps = self.deps
        viewer = viewer_of(deps, user["token"])
        owner = viewer_of(deps, owner_token)
        async with deps.db.unit_of_work() as db:
            event = await event_store.lock_event(db, pk(event_id))
            assert event is not None and event.id is not None, event_id
            inviter = await event_store.participant_for_user(db, event.id, owner.user_id)
            assert inviter is not None, "the owner token is not a member of the event"
            await event_store.add_invite_link(
                db,
                InviteLink(
                    event_id=event.id,
                    token_hash=deps.tokens.keyed_hash(secrets.token_urlsafe(24)),
                    role=role,
                    created_by_id=inviter.id,
                    uses=1,
                ),
            )
            existing = await event_store.participant_for_user(
                db, event.id, viewer.user_id, for_update=True
            )
            member = await events_uc.admit(db, event, viewer, ParticipantRole(role), existing)
        await events_uc.event_changed(deps, event.id, participants=True)
        return global_id("Participant", member.id)


async def crew(
    accounts: Accounts, events: Events, n: int = 3, **event_input: Any
) -> dict[str, Any]:
    """An owner, an organizer and n-2 participants in one event, with participant ids."""
    people = [await accounts.user() for _ in range(n)]
    event = await events.create(people[0]["token"], **event_input)
    pids = [event["viewerParticipation"]["id"]]
    pids.append(await events.add(people[0]["token"], event["id"], people[1], role="ORGANIZER"))
    for person in people[2:]:
        pids.append(await events.add(people[0]["token"], event["id"], person))
    return {"event": event, "people": people, "pids": pids}
