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
    PAGE_AFTER,
    PAGE_FIRST,
    Connection,
    UserError,
    connection,
    decode_node_keys,
    decode_string_id,
    decode_time_cursor,
    documented_enum,
    encode_cursor,
    mutate,
    page_size,
    run,
)
from stores.account_events import AccountEvent as AccountEventDoc
from stores.accounts import Role
from stores.accounts import User as UserRow
from stores.accounts import UserSession as SessionRow

# the limits of resolvers/accounts.py and the settings' defaults, as the API tells them
PASSWORD_RULE = "8 to 128 characters, not equal to the username or the email (ignoring case)."
NAME_RULE = "1 to 80 characters on one line, without control characters; spaces around are trimmed."
CODE_RULE = (
    "The 6-digit code from the mail. It works for 15 minutes (by default) and until 5 wrong "
    "tries (by default); a new code replaces it."
)
SIGNED_IN = "Signed-in users only (UNAUTHENTICATED otherwise)."

documented_enum(  # one definition: stores.accounts
    Role,
    {
        Role.USER: "A regular account: what it sees and does depends on its events.",
        Role.ADMIN: "An administrator of the instance: manages accounts, moderates content, "
        "writes articles and changes the instance settings (the `admin*` fields).",
    },
    name="Role",
    description="What an account may do on the whole instance (roles inside an event are "
    "separate). Changed by admins with `setUserRole`.",
)


class UserStatus(enum.Enum):
    ACTIVE = "ACTIVE"
    DISABLED = "DISABLED"


documented_enum(
    UserStatus,
    {
        UserStatus.ACTIVE: "The account may sign in and use IVEN.",
        UserStatus.DISABLED: "An administrator disabled the account: its sessions were ended "
        "and signing in answers ACCOUNT_DISABLED; its data is kept.",
    },
    description="Whether an account may sign in. Set by admins with `setUserStatus`.",
)

documented_enum(  # one definition: resolvers.accounts
    AccountErrorCode,
    {
        AccountErrorCode.INVALID_USERNAME: "`username` is not 3 to 30 characters of ASCII "
        "letters, digits, '_' and '.' (register, updateProfile).",
        AccountErrorCode.INVALID_EMAIL: "Not a valid email address of at most 254 characters "
        "(register, requestEmailChange).",
        AccountErrorCode.INVALID_NAME: "`firstName` or `lastName` is empty or longer than 80 "
        "characters once trimmed (register, updateProfile).",
        AccountErrorCode.INVALID_TIMEZONE: "`timezone` is not an IANA time zone name such as "
        "Europe/Paris (updateProfile).",
        AccountErrorCode.VALUE_TOO_LONG: "`bio` is longer than 500 characters (updateProfile).",
        AccountErrorCode.INVALID_INPUT: "Text with control characters: names are one line; "
        "`bio` keeps newlines and tabs only (register, updateProfile).",
        AccountErrorCode.USERNAME_TAKEN: "Another account has this username, compared "
        "ignoring case (register, updateProfile).",
        AccountErrorCode.EMAIL_TAKEN: "Another account uses this email (requestEmailChange, "
        "or confirmEmailChange when it was taken in between). `register` never tells: it "
        "answers as if it worked and mails the address's owner instead.",
        AccountErrorCode.SAME_EMAIL: "`newEmail` is already the account's email "
        "(requestEmailChange).",
        AccountErrorCode.PASSWORD_TOO_SHORT: "The new password has fewer than 8 characters "
        "(register, resetPassword, changePassword).",
        AccountErrorCode.PASSWORD_TOO_LONG: "The new password has more than 128 characters "
        "(register, resetPassword, changePassword).",
        AccountErrorCode.PASSWORD_TOO_SIMILAR: "The new password equals the username or the "
        "email, ignoring case (register, resetPassword, changePassword).",
        AccountErrorCode.WRONG_PASSWORD: "The current password, asked to confirm a sensitive "
        "change, is not correct (changePassword, requestEmailChange, deleteAccount).",
        AccountErrorCode.INVALID_CREDENTIALS: "Wrong email or password (login); the same "
        "answer whether or not the account exists.",
        AccountErrorCode.EMAIL_NOT_CONFIRMED: "The password is right but the email is not "
        "confirmed yet (login): confirm it with `confirmEmail`; `resendConfirmation` mails a "
        "new code.",
        AccountErrorCode.ALREADY_CONFIRMED: "This email is already confirmed (confirmEmail): "
        "sign in with `login`.",
        AccountErrorCode.ACCOUNT_DISABLED: "An administrator disabled this account (login, "
        "given the right password).",
        AccountErrorCode.INVALID_CODE: "The code is not the one mailed, or no code is pending "
        "for this email (confirmEmail, confirmEmailChange).",
        AccountErrorCode.CODE_EXPIRED: "The code is older than its lifetime (15 minutes by "
        "default): ask for a new one (confirmEmail, confirmEmailChange).",
        AccountErrorCode.TOO_MANY_ATTEMPTS: "Too many wrong codes (5 by default): this code "
        "stopped working; ask for a new one (confirmEmail, confirmEmailChange).",
        AccountErrorCode.INVALID_TOKEN: "The token is unknown, already used or expired: a "
        "refresh token whose session ended or whose account is disabled (refreshSession: sign "
        "in again), or a reset link (resetPassword: ask for a new one).",
        AccountErrorCode.TOKEN_REUSED: "This refresh token was already used (refreshSession). "
        "As it may have been stolen, its session is ended at once: sign in again. Two "
        "refreshes of the same token within a few seconds (two tabs) are both answered.",
        AccountErrorCode.SESSION_NOT_FOUND: "No active session of yours has this id "
        "(revokeSession).",
        AccountErrorCode.STALE: "`expectedVersion` is not the account's current version: "
        "someone changed it since you read it; reload it (updateProfile).",
        AccountErrorCode.RATE_LIMITED: "Too many attempts from this client address or for "
        "this account: wait `retryAfterSeconds` (register, resendConfirmation, confirmEmail, "
        "login, requestPasswordReset, requestEmailChange, confirmEmailChange).",
        AccountErrorCode.OWNS_EVENTS: "You own events that have other participants: transfer "
        "their ownership or delete them first (deleteAccount).",
        AccountErrorCode.REGISTRATIONS_CLOSED: "The instance does not accept new accounts at "
        "the moment, see `instance.registrationsOpen` (register).",
    },
    description="Why an account or session mutation changed nothing (`AccountError.code`).",
)


@strawberry.type(
    description="An expected failure of an account or session mutation: nothing was changed."
)
class AccountError(UserError):
    codes = AccountErrorCode  # the enum of `code` (a class attribute, not a GraphQL field)
    # described on each error type itself (the UserError interface belongs to the kit)
    message: str = strawberry.field(
        description="What went wrong, in English, fit to show to the user as it is."
    )
    code: AccountErrorCode = strawberry.field(description="What went wrong, for your code.")
    retry_after_seconds: int | None = strawberry.field(
        default=None,
        description="For RATE_LIMITED: seconds to wait before trying again; otherwise null.",
    )


def _viewer(info: Info) -> Any:
    return info.context.viewer


def _require_viewer(info: Info) -> Any:
    return info.context.require_viewer()


# --- types -------------------------------------------------------------------------------------


@strawberry.type(
    description="A person using IVEN: their profile. `node(id:)` finds yourself, the people "
    "you share an event with and, for admins, everyone. Private fields (email, status...) are "
    "null for other viewers."
)
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

    @strawberry.field(
        description="Unique handle: 3 to 30 ASCII letters, digits, '_' and '.', unique "
        "ignoring case (its case is shown as chosen)."
    )
    def username(self) -> str:
        return self.row.username

    @strawberry.field(description="First name, 1 to 80 characters.")
    def first_name(self) -> str:
        return self.row.first_name

    @strawberry.field(description="Last name, 1 to 80 characters.")
    def last_name(self) -> str:
        return self.row.last_name

    @strawberry.field(description="First and last name, separated by a space: how to show them.")
    def display_name(self) -> str:
        return f"{self.row.first_name} {self.row.last_name}".strip()

    @strawberry.field(
        description="What they say about themselves: up to 500 characters, may hold newlines "
        "(plain text, not Markdown); empty when not set."
    )
    def bio(self) -> str:
        return self.row.bio

    @strawberry.field(
        description="Their IANA time zone name (e.g. Europe/Paris; UTC until they choose one)."
    )
    def timezone(self) -> str:
        return self.row.timezone

    @strawberry.field(description="Their role on the instance: USER or ADMIN.")
    def role(self) -> Role:
        return Role(self.row.role)

    @strawberry.field(description="When the account was created.")
    def created_at(self) -> datetime:
        return self.row.created_at

    @strawberry.field(
        description="A signed URL of the profile picture (square WebP, `size` pixels wide), or "
        "null without one. It expires after about a quarter of an hour: read it again rather "
        "than storing it."
    )
    def avatar_url(
        self,
        info: Info,
        size: Annotated[
            int,
            strawberry.argument(
                description="Width and height in pixels: 64 or 256; any other value is a "
                "BAD_USER_INPUT error."
            ),
        ] = 256,
    ) -> str | None:
        if str(size) not in AVATAR_SIZES:
            raise BadRequest("`size` must be 64 or 256.")
        if not self.row.avatar_key:
            return None
        return avatar_url(info.context.deps, self.row.avatar_key, str(size))

    @strawberry.field(
        description="Account version: it grows with every change to the account (profile, "
        "email, password, role, status; not sign-ins); send it as `expectedVersion` to "
        "updateProfile."
    )
    def version(self) -> int:
        return self.row.version

    @strawberry.field(
        description="When they were last connected (about now while online). Null when "
        "unknown, for anonymous viewers, and for people who share no event with you or hide "
        "their presence."
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
        description="Their email address (lower case). Only visible to the user themself and "
        "to admins (null for others)."
    )
    async def email(self, info: Info) -> str | None:
        return self.row.email if await self._self_or_admin(info) else None

    @strawberry.field(
        description="Whether the account may sign in (ACTIVE or DISABLED). Only visible to "
        "the user themself and to admins (null for others)."
    )
    async def status(self, info: Info) -> UserStatus | None:
        if not await self._self_or_admin(info):
            return None
        return UserStatus.ACTIVE if self.row.is_active else UserStatus.DISABLED

    @strawberry.field(
        description="The last sign-in (null if never). Only visible to the user themself and "
        "to admins (null for others)."
    )
    async def last_login_at(self, info: Info) -> datetime | None:
        return self.row.last_login_at if await self._self_or_admin(info) else None

    @strawberry.field(
        description="Why an admin disabled the account. Null while it is active, and for "
        "anyone but admins."
    )
    async def disabled_reason(self, info: Info) -> str | None:
        if self.row.is_active or not await uc.is_admin(info.context.deps, _viewer(info)):
            return None
        return self.row.disabled_reason

    @strawberry.field(
        description="Whether the email address was confirmed with its mailed code. Only "
        "visible to the user themself (null for others)."
    )
    def email_confirmed(self, info: Info) -> bool | None:
        viewer = _viewer(info)
        if viewer is None or viewer.user_id != self.row.id:
            return None
        return self.row.email_confirmed_at is not None


@strawberry.type(
    description="A signed-in device or browser of the viewer: what one sign-in opened, kept "
    "alive by its refresh tokens. Listed by `mySessions`; ended by `logout`, "
    "`logoutEverywhere`, `revokeSession`, a password change or reset, or an administrator "
    "disabling the account."
)
class Session(relay.Node):
    row: strawberry.Private[SessionRow]
    current: bool = strawberry.field(description="True for the session making this request.")

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

    @strawberry.field(
        description="The browser's or app's User-Agent header at sign-in (at most 255 "
        "characters), to tell devices apart."
    )
    def user_agent(self) -> str:
        return self.row.user_agent

    @strawberry.field(description="The client's IP address at sign-in.")
    def ip(self) -> str:
        return self.row.ip

    @strawberry.field(description="When it was opened (a sign-in or an email confirmation).")
    def created_at(self) -> datetime:
        return self.row.created_at

    @strawberry.field(description="When it was opened or last refreshed (refreshSession).")
    def last_used_at(self) -> datetime:
        return self.row.last_used_at

    @strawberry.field(
        description="When it ends by itself: 30 days (by default) after it was opened, "
        "however often it is refreshed; then sign in again."
    )
    def expires_at(self) -> datetime:
        return self.row.expires_at


class AccountEventKind(enum.Enum):
    LOGIN = "LOGIN"
    LOGIN_FAILED = "LOGIN_FAILED"
    EMAIL_CONFIRMED = "EMAIL_CONFIRMED"
    EMAIL_CHANGED = "EMAIL_CHANGED"
    PASSWORD_CHANGED = "PASSWORD_CHANGED"
    PASSWORD_RESET = "PASSWORD_RESET"


documented_enum(
    AccountEventKind,
    {
        AccountEventKind.LOGIN: "A sign-in with the right password (a new session).",
        AccountEventKind.LOGIN_FAILED: "A sign-in attempt with a wrong password.",
        AccountEventKind.EMAIL_CONFIRMED: "The email was confirmed with its code, which "
        "also signed in (confirmEmail).",
        AccountEventKind.EMAIL_CHANGED: "The account moved to another email address "
        "(confirmEmailChange).",
        AccountEventKind.PASSWORD_CHANGED: "The password was changed with the current one "
        "(changePassword).",
        AccountEventKind.PASSWORD_RESET: "The password was reset through a mailed link "
        "(resetPassword).",
    },
    description="What happened to the account, in `myAccountActivity`.",
)


@strawberry.type(description="Something security-relevant that happened to the viewer's account.")
class AccountEvent:
    doc: strawberry.Private[AccountEventDoc]

    @strawberry.field(description="What happened.")
    def kind(self) -> AccountEventKind:
        return AccountEventKind(self.doc.kind)

    @strawberry.field(description="The IP address of the client that did it.")
    def ip(self) -> str:
        return self.doc.ip

    @strawberry.field(description="That client's User-Agent header (at most 255 characters).")
    def user_agent(self) -> str:
        return self.doc.user_agent

    @strawberry.field(description="When it happened.")
    def created_at(self) -> datetime:
        return self.doc.created_at


# --- payloads ----------------------------------------------------------------------------------


@strawberry.type(
    description="The result of `register`: when `errors` is empty, a confirmation code was "
    "mailed (or, if the email already has an account, its owner was told by mail)."
)
class RegisterPayload:
    user: User | None = strawberry.field(
        description="Always null.",
        deprecation_reason="Always null: registration answers the same whether or not the "
        "email already has an account. The account is yours once you confirm the mailed code.",
    )
    errors: list[AccountError] = strawberry.field(
        description="Why nothing was created; empty on success."
    )


@strawberry.type(
    description="The result of a sign-in (`login`, `confirmEmail`, `refreshSession`): the tokens "
    "of a session and its user, or `errors` and nulls."
)
class AuthPayload:
    access_token: str | None = strawberry.field(
        description="Send it as `Authorization: Bearer <token>` on HTTP, and in the graphql-ws "
        "`connection_init` payload. Valid until `expiresAt` (15 minutes by default). Null on "
        "error."
    )
    refresh_token: str | None = strawberry.field(
        description="Single-use: give it to `refreshSession` for new tokens when the access "
        "token expires; it works as long as the session lasts (30 days by default). Keep it "
        "secret: a token used twice ends its session. Null on error."
    )
    expires_at: datetime | None = strawberry.field(
        description="When the access token expires. Null on error."
    )
    user: User | None = strawberry.field(description="The signed-in user; null on error.")
    errors: list[AccountError] = strawberry.field(
        description="Why no tokens were issued; empty on success."
    )


@strawberry.type(
    description="The result of a change to the viewer's account (`updateProfile`, "
    "`changePassword`, `confirmEmailChange`)."
)
class UserPayload:
    user: User | None = strawberry.field(description="The account as changed; null on error.")
    errors: list[AccountError] = strawberry.field(
        description="Why nothing was changed; empty on success."
    )


@strawberry.type(description="The result of an action with nothing to return but success.")
class AccountActionPayload:
    ok: bool = strawberry.field(
        description="True when `errors` is empty. Mutations that never disclose whether an "
        "account exists answer true either way."
    )
    errors: list[AccountError] = strawberry.field(
        description="Why nothing was done; empty on success."
    )


@strawberry.type(description="The result of `revokeSession`.")
class RevokeSessionPayload:
    revoked_session_id: relay.GlobalID | None = strawberry.field(
        description="The id of the session now ended; null on error."
    )
    errors: list[AccountError] = strawberry.field(
        description="SESSION_NOT_FOUND when no active session of yours has this id; else empty."
    )


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


EMAIL_GIVEN = "The account's email address (case and spaces around are ignored)."


@strawberry.input(description="A new account. Every problem with it is reported at once.")
class RegisterInput:
    username: str = strawberry.field(
        description="3 to 30 ASCII letters, digits, '_' and '.'; unique ignoring case, and public."
    )
    email: str = strawberry.field(
        description="Where the confirmation code is mailed; at most 254 characters (case and "
        "spaces around are ignored)."
    )
    password: str = strawberry.field(description=PASSWORD_RULE)
    first_name: str = strawberry.field(description=NAME_RULE)
    last_name: str = strawberry.field(description=NAME_RULE)


@strawberry.input(description="An email address (resendConfirmation, requestPasswordReset).")
class EmailInput:
    email: str = strawberry.field(description=EMAIL_GIVEN)


@strawberry.input(description="The mailed confirmation code, with the email it was sent to.")
class ConfirmEmailInput:
    email: str = strawberry.field(description=EMAIL_GIVEN)
    code: str = strawberry.field(description=CODE_RULE)


@strawberry.input(description="Credentials to sign in.")
class LoginInput:
    email: str = strawberry.field(description=EMAIL_GIVEN)
    password: str = strawberry.field(description="The account's password.")


@strawberry.input(description="A refresh token to exchange for new tokens.")
class RefreshSessionInput:
    refresh_token: str = strawberry.field(
        description="The `refreshToken` of the latest AuthPayload of the session (each one "
        "works once)."
    )


@strawberry.input(description="Which of the viewer's sessions to end.")
class RevokeSessionInput:
    session_id: relay.GlobalID = strawberry.field(
        description="The id of one of your active sessions (from `mySessions`)."
    )


@strawberry.input(description="A new password, with the token of the mailed reset link.")
class ResetPasswordInput:
    token: str = strawberry.field(
        description="The `token` parameter of the reset link: single use, valid one hour (by "
        "default)."
    )
    new_password: str = strawberry.field(description=PASSWORD_RULE)


@strawberry.input(
    description="Changes to the viewer's profile: only the fields given change; every problem "
    "is reported at once."
)
class UpdateProfileInput:
    first_name: str | None = strawberry.field(default=None, description=NAME_RULE)
    last_name: str | None = strawberry.field(default=None, description=NAME_RULE)
    username: str | None = strawberry.field(
        default=None,
        description="3 to 30 ASCII letters, digits, '_' and '.'; unique ignoring case "
        "(USERNAME_TAKEN).",
    )
    bio: str | None = strawberry.field(
        default=None,
        description="Up to 500 characters of plain text; newlines and tabs are kept, spaces "
        "around trimmed; an empty string clears it.",
    )
    timezone: str | None = strawberry.field(
        default=None, description="An IANA time zone name such as Europe/Paris or UTC."
    )
    expected_version: int | None = strawberry.field(
        default=None,
        description="The user `version` you read: if it changed since, nothing is saved and "
        "STALE comes back. Null: overwrite whatever changed.",
    )


@strawberry.input(description="The current password and the new one.")
class ChangePasswordInput:
    current_password: str = strawberry.field(
        description="The current password (WRONG_PASSWORD otherwise)."
    )
    new_password: str = strawberry.field(description=PASSWORD_RULE)


@strawberry.input(description="The address to move the account to, confirmed by the password.")
class RequestEmailChangeInput:
    new_email: str = strawberry.field(
        description="The new address, at most 254 characters (case and spaces around are "
        "ignored); not used by another account."
    )
    password: str = strawberry.field(description="The current password (WRONG_PASSWORD otherwise).")


@strawberry.input(description="The code mailed to the new address.")
class ConfirmEmailChangeInput:
    code: str = strawberry.field(description=CODE_RULE)


@strawberry.input(description="The password, to confirm the deletion.")
class DeleteAccountInput:
    password: str = strawberry.field(description="The current password (WRONG_PASSWORD otherwise).")


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

    @strawberry.field(
        description="The viewer's active sessions, most recently used first. " + SIGNED_IN
    )
    async def my_sessions(self, info: Info) -> list[Session]:
        viewer = _require_viewer(info)
        rows = await session_uc.list_sessions(info.context.deps, viewer)
        return [Session(row=r, current=r.id == viewer.session_id) for r in rows]

    @strawberry.field(
        description="Sign-ins, failed sign-ins and security changes on the viewer's account, "
        "newest first. " + SIGNED_IN
    )
    async def my_account_activity(
        self,
        info: Info,
        first: Annotated[int | None, strawberry.argument(description=PAGE_FIRST)] = None,
        after: Annotated[str | None, strawberry.argument(description=PAGE_AFTER)] = None,
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
        description="Creates an account and mails it a 6-digit confirmation code; "
        "`confirmEmail` then signs in. Answers the same for an email that already has an "
        "account (its owner gets a mail instead); a taken username is reported. No sign-in "
        "needed; rate-limited per client address and per email. Errors: REGISTRATIONS_CLOSED, "
        "INVALID_USERNAME, INVALID_EMAIL, INVALID_NAME, INVALID_INPUT, PASSWORD_TOO_SHORT, "
        "PASSWORD_TOO_LONG, PASSWORD_TOO_SIMILAR, USERNAME_TAKEN, RATE_LIMITED."
    )
    async def register(
        self,
        info: Info,
        input: Annotated[RegisterInput, strawberry.argument(description="The new account.")],
    ) -> RegisterPayload:
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

    @strawberry.mutation(
        description="Mails a new confirmation code to an unconfirmed account (the previous code "
        "stops working). Same answer for any email, with or without an account. No sign-in "
        "needed. Errors: RATE_LIMITED."
    )
    async def resend_confirmation(
        self,
        info: Info,
        input: Annotated[
            EmailInput, strawberry.argument(description="The email the account registered.")
        ],
    ) -> AccountActionPayload:
        return _action(
            *await run(
                AccountError,
                uc.resend_confirmation(info.context.deps, input.email, info.context.client),
            )
        )

    @strawberry.mutation(
        description="Confirms a new account's email with its mailed code and signs in (a new "
        "session). No sign-in needed. Errors: INVALID_CODE, CODE_EXPIRED, TOO_MANY_ATTEMPTS, "
        "ALREADY_CONFIRMED, RATE_LIMITED."
    )
    async def confirm_email(
        self,
        info: Info,
        input: Annotated[
            ConfirmEmailInput, strawberry.argument(description="The email and its code.")
        ],
    ) -> AuthPayload:
        return _auth_payload(
            *await run(
                AccountError,
                uc.confirm_email(info.context.deps, input.email, input.code, info.context.client),
            )
        )

    @strawberry.mutation(
        description="Signs in with email and password: a new session. Repeated failures for an "
        "account slow its sign-ins down, then refuse them for a while (RATE_LIMITED). Errors: "
        "INVALID_CREDENTIALS (the same for an unknown email), EMAIL_NOT_CONFIRMED, "
        "ACCOUNT_DISABLED, RATE_LIMITED."
    )
    async def login(
        self,
        info: Info,
        input: Annotated[LoginInput, strawberry.argument(description="The credentials.")],
    ) -> AuthPayload:
        return _auth_payload(
            *await run(
                AccountError,
                uc.login(info.context.deps, input.email, input.password, info.context.client),
            )
        )

    @strawberry.mutation(
        description="Exchanges a refresh token (single use) for a new access token and refresh "
        "token of the same session. No sign-in needed (call it when the access token expires "
        "or was refused). Errors: INVALID_TOKEN, TOKEN_REUSED (both mean: sign in again)."
    )
    async def refresh_session(
        self,
        info: Info,
        input: Annotated[
            RefreshSessionInput, strawberry.argument(description="The refresh token.")
        ],
    ) -> AuthPayload:
        return _auth_payload(
            *await run(
                AccountError,
                uc.refresh(info.context.deps, input.refresh_token, info.context.client),
            )
        )

    @strawberry.mutation(
        description="Ends the current session: its tokens stop working at once and its "
        "sockets close. " + SIGNED_IN
    )
    async def logout(self, info: Info) -> AccountActionPayload:
        viewer = _require_viewer(info)
        await session_uc.revoke(info.context.deps, viewer.user_id, "logout", only=viewer.session_id)
        return AccountActionPayload(ok=True, errors=[])

    @strawberry.mutation(
        description="Ends every session of the viewer, this one included (all their sockets "
        "close). " + SIGNED_IN
    )
    async def logout_everywhere(self, info: Info) -> AccountActionPayload:
        viewer = _require_viewer(info)
        await session_uc.revoke(info.context.deps, viewer.user_id, "logout_everywhere")
        return AccountActionPayload(ok=True, errors=[])

    @strawberry.mutation(
        description="Ends one of the viewer's sessions (e.g. a lost phone): its tokens stop "
        "working and its sockets close. " + SIGNED_IN + " Errors: SESSION_NOT_FOUND."
    )
    async def revoke_session(
        self,
        info: Info,
        input: Annotated[
            RevokeSessionInput, strawberry.argument(description="The session to end.")
        ],
    ) -> RevokeSessionPayload:
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
        description="Mails a password reset link (single use, valid one hour by default) if an "
        "active account has this email; the same answer either way. No sign-in needed. "
        "Errors: RATE_LIMITED."
    )
    async def request_password_reset(
        self,
        info: Info,
        input: Annotated[EmailInput, strawberry.argument(description="The account's email.")],
    ) -> AccountActionPayload:
        return _action(
            *await run(
                AccountError,
                uc.request_password_reset(info.context.deps, input.email, info.context.client),
            )
        )

    @strawberry.mutation(
        description="Sets a new password from a reset link and ends every session of the "
        "account; then sign in with `login`. No sign-in needed. Errors: INVALID_TOKEN, "
        "PASSWORD_TOO_SHORT, PASSWORD_TOO_LONG, PASSWORD_TOO_SIMILAR."
    )
    async def reset_password(
        self,
        info: Info,
        input: Annotated[
            ResetPasswordInput,
            strawberry.argument(description="The link's token and the new password."),
        ],
    ) -> AccountActionPayload:
        return _action(
            *await run(
                AccountError,
                uc.reset_password(
                    info.context.deps, input.token, input.new_password, info.context.client
                ),
            )
        )

    @strawberry.mutation(
        description="Changes the viewer's profile (only the fields given). The picture changes "
        "with `setAvatar`. " + SIGNED_IN + " Errors: INVALID_NAME, INVALID_USERNAME, "
        "USERNAME_TAKEN, INVALID_TIMEZONE, VALUE_TOO_LONG, INVALID_INPUT, STALE."
    )
    async def update_profile(
        self,
        info: Info,
        input: Annotated[UpdateProfileInput, strawberry.argument(description="The changes.")],
    ) -> UserPayload:
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

    @strawberry.mutation(
        description="Changes the password and ends the viewer's other sessions (this one "
        "stays). " + SIGNED_IN + " Errors: WRONG_PASSWORD, PASSWORD_TOO_SHORT, "
        "PASSWORD_TOO_LONG, PASSWORD_TOO_SIMILAR."
    )
    async def change_password(
        self,
        info: Info,
        input: Annotated[
            ChangePasswordInput,
            strawberry.argument(description="The current and the new password."),
        ],
    ) -> UserPayload:
        user, errors = await mutate(
            info,
            AccountError,
            uc.change_password,
            input.current_password,
            input.new_password,
            info.context.client,
        )
        return UserPayload(user=User(row=user) if user else None, errors=errors)

    @strawberry.mutation(
        description="Mails a 6-digit code to the new address (give it to `confirmEmailChange`) "
        "and warns the current one; the email changes only once confirmed. " + SIGNED_IN + " "
        "Errors: INVALID_EMAIL, WRONG_PASSWORD, SAME_EMAIL, EMAIL_TAKEN, RATE_LIMITED."
    )
    async def request_email_change(
        self,
        info: Info,
        input: Annotated[
            RequestEmailChangeInput,
            strawberry.argument(description="The new address and the current password."),
        ],
    ) -> AccountActionPayload:
        return _action(
            *await mutate(
                info, AccountError, uc.request_email_change, input.new_email, input.password
            )
        )

    @strawberry.mutation(
        description="Moves the viewer's account to the new address with the code mailed there "
        "by `requestEmailChange`. " + SIGNED_IN + " Errors: INVALID_CODE, CODE_EXPIRED, "
        "TOO_MANY_ATTEMPTS, EMAIL_TAKEN, RATE_LIMITED."
    )
    async def confirm_email_change(
        self,
        info: Info,
        input: Annotated[
            ConfirmEmailChangeInput, strawberry.argument(description="The mailed code.")
        ],
    ) -> UserPayload:
        user, errors = await mutate(
            info, AccountError, uc.confirm_email_change, input.code, info.context.client
        )
        return UserPayload(user=User(row=user) if user else None, errors=errors)

    @strawberry.mutation(
        description="Deletes the viewer's account for good and ends its sessions. Events it "
        "owns alone are deleted; it leaves the others (its name stays in their history). "
        + SIGNED_IN
        + " Errors: WRONG_PASSWORD, OWNS_EVENTS (owned events with other participants)."
    )
    async def delete_account(
        self,
        info: Info,
        input: Annotated[
            DeleteAccountInput, strawberry.argument(description="The password, to confirm.")
        ],
    ) -> AccountActionPayload:
        return _action(*await mutate(info, AccountError, uc.delete_account, input.password))


@strawberry.type
class AccountSubscription:
    @strawberry.subscription(
        description="Seconds left on the access token, every `intervalSeconds`. The socket is "
        "closed (4401) as soon as the session is revoked or the token expires (refresh, then "
        "reconnect); over SSE the stream ends with UNAUTHENTICATED. " + SIGNED_IN
    )
    async def session_status(
        self,
        info: Info,
        interval_seconds: Annotated[
            int,
            strawberry.argument(
                description="Seconds between two updates: 1 to 3600 (default 30); another "
                "value is a BAD_USER_INPUT error."
            ),
        ] = 30,
    ) -> AsyncGenerator[int, None]:
        viewer = _require_viewer(info)
        if not 1 <= interval_seconds <= 3600:
            raise BadRequest("`intervalSeconds` must be between 1 and 3600.")
        async for left in session_uc.watch(info.context.deps, viewer, interval_seconds):
            yield left
        await info.context.end_session()
