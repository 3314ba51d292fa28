"""Accounts and sessions: types, inputs, payloads and the fields that expose them."""

from __future__ import annotations

import enum
from collections.abc import AsyncGenerator, Awaitable, Iterable
from datetime import datetime
from typing import Annotated, Any

import strawberry
from strawberry import relay

from resolvers import accounts as uc
from resolvers import events as events_uc
from resolvers import presence
from resolvers import sessions as session_uc
from resolvers.accounts import AccountErrorCode
from resolvers.core.errors import BadRequest
from resolvers.media_links import AVATAR_SIZES, avatar_url
from schema.context import Info
from schema.core import (
    Connection,
    UserError,
    connection,
    decode_node_keys,
    decode_string_id,
    decode_time_cursor,
    encode_cursor,
    mutate,
    page_size,
    run,
)
from stores.account_events import AccountEvent as AccountEventDoc
from stores.accounts import Role
from stores.accounts import User as UserRow
from stores.accounts import UserSession as SessionRow

strawberry.enum(Role, name="Role")  # one definition: stores.accounts


@strawberry.enum
class UserStatus(enum.Enum):
    ACTIVE = "ACTIVE"
    DISABLED = "DISABLED"


strawberry.enum(AccountErrorCode)  # the GraphQL enum: one definition, in resolvers


@strawberry.type
class AccountError(UserError):
    codes = AccountErrorCode  # the enum of `code` (a class attribute, not a GraphQL field)
    code: AccountErrorCode
    retry_after_seconds: int | None = strawberry.field(
        default=None, description="For RATE_LIMITED: seconds before trying again."
    )


def _viewer(info: Info) -> Any:
    return info.context.viewer


def _require_viewer(info: Info) -> Any:
    return info.context.require_viewer()


# --- types -------------------------------------------------------------------------------------


@strawberry.type(description="A person using IVEN. Public profile; email only for its owner.")
class User(relay.Node):
    row: strawberry.Private[UserRow]

    @classmethod
    def resolve_id(cls, root: User, *, info: Info) -> str:
        return str(root.row.id)

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[User | None]:
        """Scoped like the direct fields: yourself, people you share an event with, everyone
        for admins; any other id answers as a missing one."""
        ids = decode_node_keys(node_ids)
        visible = await events_uc.visible_user_ids(info.context.deps, info.context.viewer, ids)
        rows = await info.context.loaders.user_by_id.load_many([i for i in ids if i in visible])
        found = {r.id: r for r in rows if r is not None}
        return [User(row=found[i]) if i in found else None for i in ids]

    @strawberry.field
    def username(self) -> str:
        return self.row.username

    @strawberry.field
    def first_name(self) -> str:
        return self.row.first_name

    @strawberry.field
    def last_name(self) -> str:
        return self.row.last_name

    @strawberry.field
    def display_name(self) -> str:
        return f"{self.row.first_name} {self.row.last_name}".strip()

    @strawberry.field
    def bio(self) -> str:
        return self.row.bio

    @strawberry.field
    def timezone(self) -> str:
        return self.row.timezone

    @strawberry.field
    def role(self) -> Role:
        return Role(self.row.role)

    @strawberry.field
    def created_at(self) -> datetime:
        return self.row.created_at

    @strawberry.field(
        description="A short-lived signed URL of the profile picture (square "
        "WebP, 64 or 256 px), or null without one."
    )
    def avatar_url(self, info: Info, size: int = 256) -> str | None:
        if str(size) not in AVATAR_SIZES:
            raise BadRequest("`size` must be 64 or 256.")
        if not self.row.avatar_key:
            return None
        return avatar_url(info.context.deps, self.row.avatar_key, str(size))

    @strawberry.field(description="Profile version, for `expectedVersion` in updateProfile.")
    def version(self) -> int:
        return self.row.version

    @strawberry.field(
        description="When they were last connected (now while online). Null "
        "unless you share an event and they show their presence."
    )
    async def last_seen_at(self, info: Info) -> datetime | None:
        viewer = _viewer(info)
        if viewer is None or self.row.id is None:
            return None
        return await presence.last_seen_for(info.context.deps, viewer, self.row.id)

    async def _self_or_admin(self, info: Info) -> bool:
        viewer = _viewer(info)
        if viewer is None:
            return False
        return viewer.user_id == self.row.id or await uc.is_admin(info.context.deps, viewer)

    @strawberry.field(
        description="Only visible to the user themself and to admins (null for others)."
    )
    async def email(self, info: Info) -> str | None:
        return self.row.email if await self._self_or_admin(info) else None

    @strawberry.field(
        description="ACTIVE or DISABLED. Only visible to the user themself and "
        "to admins (null for others)."
    )
    async def status(self, info: Info) -> UserStatus | None:
        if not await self._self_or_admin(info):
            return None
        return UserStatus.ACTIVE if self.row.is_active else UserStatus.DISABLED

    @strawberry.field(
        description="The last sign-in. Only visible to the user themself and to "
        "admins (null for others)."
    )
    async def last_login_at(self, info: Info) -> datetime | None:
        return self.row.last_login_at if await self._self_or_admin(info) else None

    @strawberry.field(description="Why an admin disabled the account. Admins only.")
    async def disabled_reason(self, info: Info) -> str | None:
        if self.row.is_active or not await uc.is_admin(info.context.deps, _viewer(info)):
            return None
        return self.row.disabled_reason

    @strawberry.field(description="Only visible to the user themself (null for others).")
    def email_confirmed(self, info: Info) -> bool | None:
        viewer = _viewer(info)
        if viewer is None or viewer.user_id != self.row.id:
            return None
        return self.row.email_confirmed_at is not None


@strawberry.type(description="A signed-in device of the viewer.")
class Session(relay.Node):
    row: strawberry.Private[SessionRow]
    current: bool

    @classmethod
    def resolve_id(cls, root: Session, *, info: Info) -> str:
        return root.row.id

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Session | None]:
        viewer = info.context.viewer
        if viewer is None:
            return [None for _ in node_ids]
        mine = {s.id: s for s in await session_uc.list_sessions(info.context.deps, viewer)}
        return [
            Session(row=mine[i], current=i == viewer.session_id) if i in mine else None
            for i in node_ids
        ]

    @strawberry.field
    def user_agent(self) -> str:
        return self.row.user_agent

    @strawberry.field
    def ip(self) -> str:
        return self.row.ip

    @strawberry.field
    def created_at(self) -> datetime:
        return self.row.created_at

    @strawberry.field
    def last_used_at(self) -> datetime:
        return self.row.last_used_at

    @strawberry.field
    def expires_at(self) -> datetime:
        return self.row.expires_at


@strawberry.enum
class AccountEventKind(enum.Enum):
    LOGIN = "LOGIN"
    LOGIN_FAILED = "LOGIN_FAILED"
    EMAIL_CONFIRMED = "EMAIL_CONFIRMED"
    EMAIL_CHANGED = "EMAIL_CHANGED"
    PASSWORD_CHANGED = "PASSWORD_CHANGED"
    PASSWORD_RESET = "PASSWORD_RESET"


@strawberry.type(description="Something security-relevant that happened to the viewer's account.")
class AccountEvent:
    doc: strawberry.Private[AccountEventDoc]

    @strawberry.field
    def kind(self) -> AccountEventKind:
        return AccountEventKind(self.doc.kind)

    @strawberry.field
    def ip(self) -> str:
        return self.doc.ip

    @strawberry.field
    def user_agent(self) -> str:
        return self.doc.user_agent

    @strawberry.field
    def created_at(self) -> datetime:
        return self.doc.created_at


# --- payloads ----------------------------------------------------------------------------------


@strawberry.type
class RegisterPayload:
    user: User | None = strawberry.field(
        deprecation_reason="Always null: registration answers the same whether or not the "
        "email already has an account. The account is yours once you confirm the mailed code."
    )
    errors: list[AccountError]


@strawberry.type
class AuthPayload:
    access_token: str | None
    refresh_token: str | None
    expires_at: datetime | None = strawberry.field(description="When the access token expires.")
    user: User | None
    errors: list[AccountError]


@strawberry.type
class UserPayload:
    user: User | None
    errors: list[AccountError]


@strawberry.type(description="Result of an action with nothing to return but success.")
class AccountActionPayload:
    ok: bool
    errors: list[AccountError]


@strawberry.type
class RevokeSessionPayload:
    revoked_session_id: relay.GlobalID | None
    errors: list[AccountError]


def _auth_payload(
    result: tuple[UserRow, session_uc.IssuedTokens] | None, errors: list[AccountError]
) -> AuthPayload:
    if result is None:
        return AuthPayload(
            access_token=None, refresh_token=None, expires_at=None, user=None, errors=errors
        )
    user, issued = result
    return AuthPayload(
        access_token=issued.access_token,
        refresh_token=issued.refresh_token,
        expires_at=issued.expires_at,
        user=User(row=user),
        errors=[],
    )


def _action(result: object, errors: list[AccountError]) -> AccountActionPayload:
    return AccountActionPayload(ok=not errors, errors=errors)


# --- inputs ------------------------------------------------------------------------------------


@strawberry.input
class RegisterInput:
    username: str
    email: str
    password: str
    first_name: str
    last_name: str


@strawberry.input
class EmailInput:
    email: str


@strawberry.input
class ConfirmEmailInput:
    email: str
    code: str


@strawberry.input
class LoginInput:
    email: str
    password: str


@strawberry.input
class RefreshSessionInput:
    refresh_token: str


@strawberry.input
class RevokeSessionInput:
    session_id: relay.GlobalID


@strawberry.input
class ResetPasswordInput:
    token: str
    new_password: str


@strawberry.input
class UpdateProfileInput:
    first_name: str | None = None
    last_name: str | None = None
    username: str | None = None
    bio: str | None = None
    timezone: str | None = None
    expected_version: int | None = None


@strawberry.input
class ChangePasswordInput:
    current_password: str
    new_password: str


@strawberry.input
class RequestEmailChangeInput:
    new_email: str
    password: str


@strawberry.input
class ConfirmEmailChangeInput:
    code: str


@strawberry.input
class DeleteAccountInput:
    password: str


A = Annotated


# --- root fields -------------------------------------------------------------------------------


async def _load_me(info: Info, user_id: int) -> User | None:
    row = await info.context.loaders.user_by_id.load(user_id)
    return User(row=row) if row is not None else None


@strawberry.type
class AccountQuery:
    @strawberry.field(
        description="The signed-in user; null when anonymous.", graphql_type=User | None
    )
    def me(self, info: Info) -> Awaitable[User | None] | User | None:
        viewer = info.context.viewer_or_none()
        if viewer is None:
            return None
        # Served synchronously from the per-process user cache when it can: no loader, no task.
        row = uc.cached_user(info.context.deps, viewer.user_id)
        if row is not None:
            return User(row=row)
        return _load_me(info, viewer.user_id)

    @strawberry.field(description="The viewer's active sessions, most recently used first.")
    async def my_sessions(self, info: Info) -> list[Session]:
        viewer = _require_viewer(info)
        rows = await session_uc.list_sessions(info.context.deps, viewer)
        return [Session(row=r, current=r.id == viewer.session_id) for r in rows]

    @strawberry.field(description="Sign-ins and security changes on the viewer's account.")
    async def my_account_activity(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[AccountEvent]:
        viewer = _require_viewer(info)
        size = page_size(first)
        before = decode_time_cursor(after)
        docs = await uc.account_activity(info.context.deps, viewer, size + 1, before)
        return connection(
            [AccountEvent(doc=d) for d in docs],
            size,
            lambda e: encode_cursor(e.doc.created_at.isoformat(), str(e.doc.id)),
            has_previous=after is not None,
        )


@strawberry.type
class AccountMutation:
    @strawberry.mutation(
        description="Creates an account and emails a 6-digit confirmation code. Answers the "
        "same for an email that already has an account (its owner gets a mail instead); a taken "
        "username is reported."
    )
    async def register(self, info: Info, input: RegisterInput) -> RegisterPayload:
        _, errors = await run(
            AccountError,
            uc.register(
                info.context.deps,
                uc.RegisterInput(
                    username=input.username,
                    email=input.email,
                    password=input.password,
                    first_name=input.first_name,
                    last_name=input.last_name,
                ),
                info.context.client,
            ),
        )
        return RegisterPayload(user=None, errors=errors)

    @strawberry.mutation(description="Sends a new confirmation code. Same answer for any email.")
    async def resend_confirmation(self, info: Info, input: EmailInput) -> AccountActionPayload:
        return _action(
            *await run(
                AccountError,
                uc.resend_confirmation(info.context.deps, input.email, info.context.client),
            )
        )

    @strawberry.mutation(description="Confirms the email with its code and signs in.")
    async def confirm_email(self, info: Info, input: ConfirmEmailInput) -> AuthPayload:
        return _auth_payload(
            *await run(
                AccountError,
                uc.confirm_email(info.context.deps, input.email, input.code, info.context.client),
            )
        )

    @strawberry.mutation
    async def login(self, info: Info, input: LoginInput) -> AuthPayload:
        return _auth_payload(
            *await run(
                AccountError,
                uc.login(info.context.deps, input.email, input.password, info.context.client),
            )
        )

    @strawberry.mutation(description="Exchanges a refresh token (single use) for new tokens.")
    async def refresh_session(self, info: Info, input: RefreshSessionInput) -> AuthPayload:
        return _auth_payload(
            *await run(
                AccountError,
                uc.refresh(info.context.deps, input.refresh_token, info.context.client),
            )
        )

    @strawberry.mutation(description="Ends the current session.")
    async def logout(self, info: Info) -> AccountActionPayload:
        viewer = _require_viewer(info)
        await session_uc.revoke(info.context.deps, viewer.user_id, "logout", only=viewer.session_id)
        return AccountActionPayload(ok=True, errors=[])

    @strawberry.mutation(description="Ends every session of the viewer, this one included.")
    async def logout_everywhere(self, info: Info) -> AccountActionPayload:
        viewer = _require_viewer(info)
        await session_uc.revoke(info.context.deps, viewer.user_id, "logout_everywhere")
        return AccountActionPayload(ok=True, errors=[])

    @strawberry.mutation(description="Ends one of the viewer's sessions.")
    async def revoke_session(self, info: Info, input: RevokeSessionInput) -> RevokeSessionPayload:
        viewer = _require_viewer(info)
        if input.session_id.type_name != "Session":
            revoked: list[str] = []
        else:
            revoked = await session_uc.revoke(
                info.context.deps,
                viewer.user_id,
                "revoked",
                only=decode_string_id(input.session_id, "Session"),
            )
        if not revoked:
            return RevokeSessionPayload(
                revoked_session_id=None,
                errors=[
                    AccountError(
                        field=["input", "sessionId"],
                        code=AccountErrorCode.SESSION_NOT_FOUND,
                        message="No active session of yours has this id.",
                    )
                ],
            )
        return RevokeSessionPayload(revoked_session_id=input.session_id, errors=[])

    @strawberry.mutation(
        description="Emails a reset link if the account exists; same answer either way."
    )
    async def request_password_reset(self, info: Info, input: EmailInput) -> AccountActionPayload:
        return _action(
            *await run(
                AccountError,
                uc.request_password_reset(info.context.deps, input.email, info.context.client),
            )
        )

    @strawberry.mutation(description="Sets a new password from a reset link; ends all sessions.")
    async def reset_password(self, info: Info, input: ResetPasswordInput) -> AccountActionPayload:
        return _action(
            *await run(
                AccountError,
                uc.reset_password(
                    info.context.deps, input.token, input.new_password, info.context.client
                ),
            )
        )

    @strawberry.mutation
    async def update_profile(self, info: Info, input: UpdateProfileInput) -> UserPayload:
        user, errors = await mutate(
            info,
            AccountError,
            uc.update_profile,
            uc.ProfileInput(
                first_name=input.first_name,
                last_name=input.last_name,
                username=input.username,
                bio=input.bio,
                timezone=input.timezone,
                expected_version=input.expected_version,
            ),
        )
        return UserPayload(user=User(row=user) if user else None, errors=errors)

    @strawberry.mutation(description="Changes the password; ends the viewer's other sessions.")
    async def change_password(self, info: Info, input: ChangePasswordInput) -> UserPayload:
        user, errors = await mutate(
            info,
            AccountError,
            uc.change_password,
            input.current_password,
            input.new_password,
            info.context.client,
        )
        return UserPayload(user=User(row=user) if user else None, errors=errors)

    @strawberry.mutation(description="Emails a code to the new address to confirm the change.")
    async def request_email_change(
        self, info: Info, input: RequestEmailChangeInput
    ) -> AccountActionPayload:
        return _action(
            *await mutate(
                info, AccountError, uc.request_email_change, input.new_email, input.password
            )
        )

    @strawberry.mutation
    async def confirm_email_change(self, info: Info, input: ConfirmEmailChangeInput) -> UserPayload:
        user, errors = await mutate(
            info, AccountError, uc.confirm_email_change, input.code, info.context.client
        )
        return UserPayload(user=User(row=user) if user else None, errors=errors)

    @strawberry.mutation(description="Deletes the viewer's account and ends its sessions.")
    async def delete_account(self, info: Info, input: DeleteAccountInput) -> AccountActionPayload:
        return _action(*await mutate(info, AccountError, uc.delete_account, input.password))


@strawberry.type
class AccountSubscription:
    @strawberry.subscription(
        description="Seconds left on the access token, every interval. The "
        "socket is closed (4401) as soon as the session is "
        "revoked or the token expires; over SSE the stream ends with UNAUTHENTICATED."
    )
    async def session_status(
        self, info: Info, interval_seconds: int = 30
    ) -> AsyncGenerator[int, None]:
        viewer = _require_viewer(info)
        if not 1 <= interval_seconds <= 3600:
            raise BadRequest("`intervalSeconds` must be between 1 and 3600.")
        async for left in session_uc.watch(info.context.deps, viewer, interval_seconds):
            yield left
        await info.context.end_session()
