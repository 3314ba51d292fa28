"""Registration, confirmation, sign-in, profile, passwords, email change, deletion."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from argon2 import PasswordHasher
from sqlalchemy import update
from sqlmodel import select

from resolvers.accounts import create_admin
from stores.accounts import OneTimeSecret, User
from stores.db import utcnow
from tests.support import assert_error, assert_payload_error

ME = "{ me { id username firstName lastName email emailConfirmed role timezone version } }"

REGISTER = """mutation($input: RegisterInput!) { register(input: $input) {
  user { id username email } errors { code field message } } }"""


def reg_input(**over: Any) -> dict[str, Any]:
    base = {
        "username": "alice",
        "email": "alice@example.com",
        "password": "correct-horse-9",
        "firstName": "Alice",
        "lastName": "Liddell",
    }
    base.update(over)
    return {"input": base}


async def test_register_confirm_login_me(api, accounts, mailbox):
    assert (await api.execute(ME))["data"]["me"] is None

    result = await api.execute(REGISTER, reg_input(email="  Alice@Example.COM "))
    payload = result["data"]["register"]
    assert payload == {"user": None, "errors": []}  # the same answer for a taken email

    # unconfirmed: clear code, and the right password is needed to learn it
    login = await accounts.login("alice@example.com", "correct-horse-9")
    assert_payload_error(login, "EMAIL_NOT_CONFIRMED")
    assert login["accessToken"] is None

    mail = await mailbox.wait_for("alice@example.com", "confirmation code")
    assert "15 minutes" in mail["body"]
    auth = await accounts.confirm("alice@example.com")
    assert auth["accessToken"] and auth["refreshToken"] and auth["expiresAt"]

    login = await accounts.login("ALICE@example.com", "correct-horse-9")
    assert login["errors"] == []
    me = (await api.execute(ME, token=login["accessToken"]))["data"]["me"]
    assert me["username"] == "alice"
    assert me["email"] == "alice@example.com"
    assert me["emailConfirmed"] is True
    assert me["role"] == "USER"
    assert me["id"] == auth["user"]["id"]


async def test_register_validation_reports_every_bad_field_and_creates_nothing(api, accounts):
    result = await api.execute(
        REGISTER, reg_input(username="A!", email="nope", password="short", firstName="")
    )
    payload = result["data"]["register"]
    assert payload["user"] is None
    codes = {e["code"]: e["field"] for e in payload["errors"]}
    assert codes == {
        "INVALID_USERNAME": ["input", "username"],
        "INVALID_EMAIL": ["input", "email"],
        "PASSWORD_TOO_SHORT": ["input", "password"],
        "INVALID_NAME": ["input", "firstName"],
    }
    # nothing was created: the same username and email are still free
    ok = (await api.execute(REGISTER, reg_input()))["data"]["register"]
    assert ok["errors"] == []


@pytest.mark.parametrize(
    ("bad", "code"),
    [
        ("x" * 129, "PASSWORD_TOO_LONG"),
        ("AliceAlice", "PASSWORD_TOO_SIMILAR"),
        ("alice@example.com", "PASSWORD_TOO_SIMILAR"),
    ],
    ids=["too-long", "like-the-username", "like-the-email"],
)
async def test_a_bad_password_is_refused_and_creates_nothing(api, bad, code):
    payload = (await api.execute(REGISTER, reg_input(username="alicealice", password=bad)))["data"][
        "register"
    ]
    assert_payload_error(payload, code, ["input", "password"])
    # nothing was created: the same email is still free
    ok = (await api.execute(REGISTER, reg_input()))["data"]["register"]
    assert ok["errors"] == []


@pytest.mark.parametrize(
    "bad", ["ab", "a" * 31, "bad-name", "émile"], ids=["too-short", "too-long", "dash", "accent"]
)
async def test_a_bad_username_is_refused_and_creates_nothing(api, bad):
    payload = (await api.execute(REGISTER, reg_input(username=bad)))["data"]["register"]
    assert_payload_error(payload, "INVALID_USERNAME")
    # nothing was created: the same email is still free
    ok = (await api.execute(REGISTER, reg_input()))["data"]["register"]
    assert ok["errors"] == []


async def test_username_unique_case_insensitively_and_email_normalised(api, mailbox, server):
    assert (await api.execute(REGISTER, reg_input(username="Alice")))["data"]["register"][
        "errors"
    ] == []
    payload = (await api.execute(REGISTER, reg_input(username="aLICE", email="ALICE@example.com")))[
        "data"
    ]["register"]
    # usernames are public: a taken one is reported; whether the email has an account is not
    assert [e["code"] for e in payload["errors"]] == ["USERNAME_TAKEN"]
    again = (await api.execute(REGISTER, reg_input(username="bob", email="ALICE@example.com")))[
        "data"
    ]["register"]
    assert again == {"user": None, "errors": []}
    mail = await mailbox.wait_for("alice@example.com", "tried to create")
    assert "No new account was created" in mail["body"]
    async with server.deps.db.reader() as db:
        usernames = (await db.exec(select(User.username_key))).all()
    assert sorted(usernames) == ["alice"]


async def test_wrong_codes_invalidate_the_code_after_five_tries(api, accounts, server):
    await api.execute(REGISTER, reg_input())
    code = await accounts.code_for("alice@example.com")
    wrong = "000000" if code != "000000" else "111111"
    mutation = """mutation($input: ConfirmEmailInput!) { confirmEmail(input: $input) {
        accessToken errors { code field } } }"""
    for _ in range(4):
        payload = (
            await api.execute(mutation, {"input": {"email": "alice@example.com", "code": wrong}})
        )["data"]["confirmEmail"]
        assert_payload_error(payload, "INVALID_CODE", ["input", "code"])
    payload = (
        await api.execute(mutation, {"input": {"email": "alice@example.com", "code": wrong}})
    )["data"]["confirmEmail"]
    assert_payload_error(payload, "TOO_MANY_ATTEMPTS")
    payload = (
        await api.execute(mutation, {"input": {"email": "alice@example.com", "code": code}})
    )["data"]["confirmEmail"]
    assert_payload_error(payload, "INVALID_CODE")
    assert payload["accessToken"] is None

    # a new code works, the code is stored hashed
    resend = """mutation { resendConfirmation(input: {email: "alice@example.com"}) {
      ok errors { code } } }"""
    assert (await api.execute(resend))["data"]["resendConfirmation"]["ok"] is True
    new_code = await accounts.code_for("alice@example.com", count=2)
    async with server.deps.db.reader() as db:
        secrets = (await db.exec(select(OneTimeSecret))).all()
    assert all(new_code not in s.secret_hash for s in secrets)
    payload = (
        await api.execute(mutation, {"input": {"email": "alice@example.com", "code": new_code}})
    )["data"]["confirmEmail"]
    assert payload["errors"] == [] and payload["accessToken"]


async def test_expired_code_is_refused(api, accounts, server):
    await api.execute(REGISTER, reg_input())
    code = await accounts.code_for("alice@example.com")
    async with server.deps.db.unit_of_work() as db:
        await db.exec(update(OneTimeSecret).values(expires_at=utcnow() - timedelta(seconds=1)))
    payload = (
        await api.execute(
            """mutation($input: ConfirmEmailInput!) { confirmEmail(input: $input) {
              errors { code } } }""",
            {"input": {"email": "alice@example.com", "code": code}},
        )
    )["data"]["confirmEmail"]
    assert_payload_error(payload, "CODE_EXPIRED")


async def test_login_failures_look_the_same(api, accounts, server):
    user = await accounts.user()
    wrong_password = await accounts.login(user["email"], "not-the-password")
    unknown = await accounts.login("nobody@example.com", "not-the-password")
    assert wrong_password["errors"] == unknown["errors"]
    assert_payload_error(unknown, "INVALID_CREDENTIALS")

    async with server.deps.db.unit_of_work() as db:
        await db.exec(update(User).values(is_active=False))
    assert_payload_error(await accounts.login(user["email"], user["password"]), "ACCOUNT_DISABLED")


UPDATE_PROFILE = """mutation($input: UpdateProfileInput!) { updateProfile(input: $input) {
    user { username firstName bio timezone version } errors { code field } } }"""


async def update_profile(api: Any, user: dict[str, Any], input_: dict[str, Any]) -> dict[str, Any]:
    result = await api.execute(UPDATE_PROFILE, {"input": input_}, token=user["token"])
    return result["data"]["updateProfile"]  # type: ignore[no-any-return]


async def bobby(api: Any, user: dict[str, Any]) -> dict[str, Any]:
    """Gives `user` the profile of Bobby in Paris; returns what `me` was before."""
    me: dict[str, Any] = (await api.execute(ME, token=user["token"]))["data"]["me"]
    payload = await update_profile(
        api,
        user,
        {
            "firstName": " Bob ",
            "bio": "Hi",
            "timezone": "Europe/Paris",
            "username": "Bobby",
            "expectedVersion": me["version"],
        },
    )
    assert payload["errors"] == []
    return me


async def test_update_profile(api, accounts):
    user = await accounts.user()
    me = (await api.execute(ME, token=user["token"]))["data"]["me"]
    payload = await update_profile(
        api,
        user,
        {
            "firstName": " Bob ",
            "bio": "Hi",
            "timezone": "Europe/Paris",
            "username": "Bobby",
            "expectedVersion": me["version"],
        },
    )
    assert payload["errors"] == []
    assert payload["user"] == {
        "username": "Bobby",
        "firstName": "Bob",
        "bio": "Hi",
        "timezone": "Europe/Paris",
        "version": me["version"] + 1,
    }


async def test_a_stale_profile_update_is_refused(api, accounts):
    user = await accounts.user()
    me = await bobby(api, user)
    stale = await update_profile(api, user, {"bio": "x", "expectedVersion": me["version"]})
    assert_payload_error(stale, "STALE")


@pytest.mark.parametrize(
    ("data", "code"),
    [
        ({"timezone": "Mars/Base"}, "INVALID_TIMEZONE"),
        ({"username": "TAKEN_NAME"}, "USERNAME_TAKEN"),
        ({"bio": "x" * 501}, "VALUE_TOO_LONG"),
        ({"lastName": ""}, "INVALID_NAME"),
    ],
    ids=["unknown-timezone", "username-taken", "bio-too-long", "empty-last-name"],
)
async def test_bad_profile_input_gets_a_typed_error_and_changes_nothing(data, code, api, accounts):
    user = await accounts.user()
    await accounts.user(username="taken_name")  # USERNAME_TAKEN: its name in another case
    await bobby(api, user)
    before = (await api.execute(ME, token=user["token"]))["data"]["me"]
    assert_payload_error(await update_profile(api, user, data), code)
    me = (await api.execute(ME, token=user["token"]))["data"]["me"]
    assert me["username"] == "Bobby" and me["timezone"] == "Europe/Paris"
    assert me == before


async def test_anonymous_cannot_update_a_profile(api):
    anonymous = await api.execute(UPDATE_PROFILE, {"input": {"bio": "x"}})
    assert_error(anonymous, "UNAUTHENTICATED")


async def test_change_password_keeps_this_session_and_ends_the_others(api, accounts):
    user = await accounts.user()
    other_device = await accounts.login(user["email"], user["password"])
    mutation = """mutation($input: ChangePasswordInput!) { changePassword(input: $input) {
        user { id } errors { code field } } }"""
    wrong = (
        await api.execute(
            mutation,
            {"input": {"currentPassword": "nope-nope", "newPassword": "another-pass-1"}},
            token=user["token"],
        )
    )["data"]["changePassword"]
    assert_payload_error(wrong, "WRONG_PASSWORD", ["input", "currentPassword"])
    ok = (
        await api.execute(
            mutation,
            {"input": {"currentPassword": user["password"], "newPassword": "another-pass-1"}},
            token=user["token"],
        )
    )["data"]["changePassword"]
    assert ok["errors"] == []
    assert (await api.execute(ME, token=user["token"]))["data"]["me"] is not None
    assert_error(await api.execute(ME, token=other_device["accessToken"]), "UNAUTHENTICATED")
    assert_payload_error(
        await accounts.login(user["email"], user["password"]), "INVALID_CREDENTIALS"
    )
    assert (await accounts.login(user["email"], "another-pass-1"))["errors"] == []


async def test_password_reset_flow(api, accounts, mailbox):
    user = await accounts.user()
    request = """mutation($email: String!) { requestPasswordReset(input: {email: $email}) {
        ok errors { code } } }"""
    unknown = await api.execute(request, {"email": "nobody@example.com"})
    known = await api.execute(request, {"email": user["email"]})
    assert unknown == known == {"data": {"requestPasswordReset": {"ok": True, "errors": []}}}

    mail = await mailbox.wait_for(user["email"], "reset")
    assert "http://iven.test/reset-password?token=" in mail["body"]
    token = mail["body"].split("token=", 1)[1].split()[0]
    assert mailbox.to("nobody@example.com") == []

    reset = """mutation($token: String!, $pw: String!) { resetPassword(input: {token: $token,
        newPassword: $pw}) { ok errors { code field } } }"""
    weak = (await api.execute(reset, {"token": token, "pw": "short"}))["data"]["resetPassword"]
    assert_payload_error(weak, "PASSWORD_TOO_SHORT", ["input", "newPassword"])
    done = (await api.execute(reset, {"token": token, "pw": "brand-new-pass"}))["data"][
        "resetPassword"
    ]
    assert done == {"ok": True, "errors": []}
    # all sessions revoked, the old password is gone, the link works once
    assert_error(await api.execute(ME, token=user["token"]), "UNAUTHENTICATED")
    assert (await accounts.login(user["email"], "brand-new-pass"))["errors"] == []
    again = (await api.execute(reset, {"token": token, "pw": "other-new-pass"}))["data"][
        "resetPassword"
    ]
    assert_payload_error(again, "INVALID_TOKEN")
    garbage = (await api.execute(reset, {"token": "garbage", "pw": "other-new-pass"}))["data"][
        "resetPassword"
    ]
    assert_payload_error(garbage, "INVALID_TOKEN")


async def test_email_change(api, accounts, mailbox):
    user = await accounts.user()
    taken = await accounts.user()
    request = """mutation($input: RequestEmailChangeInput!) { requestEmailChange(input: $input) {
        ok errors { code field } } }"""
    confirm = """mutation($code: String!) { confirmEmailChange(input: {code: $code}) {
        user { email } errors { code } } }"""
    bad = (
        await api.execute(
            request,
            {"input": {"newEmail": "new@example.com", "password": "wrong-password"}},
            token=user["token"],
        )
    )["data"]["requestEmailChange"]
    assert_payload_error(bad, "WRONG_PASSWORD")
    used = (
        await api.execute(
            request,
            {"input": {"newEmail": taken["email"], "password": user["password"]}},
            token=user["token"],
        )
    )["data"]["requestEmailChange"]
    assert_payload_error(used, "EMAIL_TAKEN")
    ok = (
        await api.execute(
            request,
            {"input": {"newEmail": "New@Example.com", "password": user["password"]}},
            token=user["token"],
        )
    )["data"]["requestEmailChange"]
    assert ok == {"ok": True, "errors": []}
    code = await accounts.code_for("new@example.com", "new iven email")
    await mailbox.wait_for(user["email"], "being changed")
    wrong = "000000" if code != "000000" else "111111"
    assert_payload_error(
        (await api.execute(confirm, {"code": wrong}, token=user["token"]))["data"][
            "confirmEmailChange"
        ],
        "INVALID_CODE",
    )
    done = (await api.execute(confirm, {"code": code}, token=user["token"]))["data"][
        "confirmEmailChange"
    ]
    assert done == {"user": {"email": "new@example.com"}, "errors": []}
    assert (await accounts.login("new@example.com", user["password"]))["errors"] == []


async def test_delete_account(api, accounts):
    user = await accounts.user()
    mutation = """mutation($pw: String!) { deleteAccount(input: {password: $pw}) {
        ok errors { code } } }"""
    assert_payload_error(
        (await api.execute(mutation, {"pw": "wrong-password"}, token=user["token"]))["data"][
            "deleteAccount"
        ],
        "WRONG_PASSWORD",
    )
    assert (await api.execute(mutation, {"pw": user["password"]}, token=user["token"]))["data"][
        "deleteAccount"
    ] == {"ok": True, "errors": []}
    assert_error(await api.execute(ME, token=user["token"]), "UNAUTHENTICATED")
    assert_payload_error(
        await accounts.login(user["email"], user["password"]), "INVALID_CREDENTIALS"
    )
    # the username is free again
    again = await accounts.register(username=user["username"], email=user["email"])
    assert again["username"] == user["username"]


async def test_other_users_see_a_public_profile_only(api, accounts, events):
    alice = await accounts.user()
    bob = await accounts.user()
    query = (
        """query($id: ID!) { node(id: $id) { ... on User { username email emailConfirmed } } }"""
    )
    # by id, a user is found by the people they share an event with (a stranger gets null)
    stranger = await api.execute(query, {"id": alice["id"]}, token=bob["token"])
    assert stranger == {"data": {"node": None}}
    shared = await events.create(alice["token"])
    await events.add(alice["token"], shared["id"], bob)
    seen = (await api.execute(query, {"id": alice["id"]}, token=bob["token"]))["data"]["node"]
    assert seen == {"username": alice["username"], "email": None, "emailConfirmed": None}
    mine = (await api.execute(query, {"id": alice["id"]}, token=alice["token"]))["data"]["node"]
    assert mine["email"] == alice["email"]
    assert (await api.execute(query, {"id": alice["id"]}))["data"]["node"] is None


async def test_login_rate_limit_per_account_counts_aliases(api, accounts):
    user = await accounts.user()
    fields = " ".join(
        f'a{i}: login(input: {{email: "{user["email"]}", password: "wrong-{i}-pass"}}) '
        "{ errors { code retryAfterSeconds } }"
        for i in range(12)
    )
    result = await api.execute(f"mutation {{ {fields} }}")
    codes = [result["data"][f"a{i}"]["errors"][0]["code"] for i in range(12)]
    assert codes[:10] == ["INVALID_CREDENTIALS"] * 10
    assert codes[10:] == ["RATE_LIMITED"] * 2
    retry = result["data"]["a11"]["errors"][0]["retryAfterSeconds"]
    assert 1 <= retry <= 900
    # even the right password is refused from this address: the limit is per account and
    # address (tests/test_hostile.py: the owner elsewhere still signs in)
    assert_payload_error(await accounts.login(user["email"], user["password"]), "RATE_LIMITED")


async def test_register_rate_limit_per_email(api, mailbox):
    payloads = []
    for i in range(6):
        result = await api.execute(REGISTER, reg_input(username=f"taken{i}"))
        payloads.append(result["data"]["register"])
    # the same answer for a new and a taken email; the owner is told by mail, once per attempt
    assert all(p == {"user": None, "errors": []} for p in payloads[:5])
    await mailbox.wait_for("alice@example.com", "tried to create", count=4)
    assert_payload_error(payloads[-1], "RATE_LIMITED")
    assert payloads[-1]["errors"][0]["field"] == ["input", "email"]


async def test_login_rehashes_a_password_hashed_with_old_parameters(api, accounts, server):

    user = await accounts.user()
    old = PasswordHasher(time_cost=3, memory_cost=19 * 1024, parallelism=1).hash(user["password"])
    async with server.deps.db.unit_of_work() as db:
        await db.exec(update(User).values(password_hash=old))
    assert (await accounts.login(user["email"], user["password"]))["errors"] == []
    async with server.deps.db.reader() as db:
        stored = (await db.exec(select(User))).one().password_hash
    assert stored != old
    assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert (await accounts.login(user["email"], user["password"]))["errors"] == []


async def test_reset_requests_are_rate_limited_per_email(api, accounts, mailbox):
    user = await accounts.signed_up()  # its confirmation is part of what is checked
    request = """mutation($email: String!) { requestPasswordReset(input: {email: $email}) {
        ok errors { code retryAfterSeconds } } }"""
    results = [
        (await api.execute(request, {"email": user["email"]}))["data"]["requestPasswordReset"]
        for _ in range(6)
    ]
    assert all(r == {"ok": True, "errors": []} for r in results[:5])
    assert results[5]["ok"] is False
    assert results[5]["errors"][0]["code"] == "RATE_LIMITED"
    await mailbox.wait_for(user["email"], "reset", count=5)
    assert len(mailbox.to(user["email"])) == 1 + 5  # confirmation + five reset links


async def test_admin_role(api, accounts, server):

    user = await accounts.user()
    await create_admin(server.deps, email=user["email"], username="ignored", password="x")
    me = (await api.execute("{ me { role } }", token=user["token"]))["data"]["me"]
    assert me == {"role": "ADMIN"}


async def test_concurrent_registrations_all_succeed(api):

    results = await asyncio.gather(
        *[
            api.execute(REGISTER, reg_input(username=f"crowd{i}", email=f"crowd{i}@example.com"))
            for i in range(8)
        ]
    )
    assert [r["data"]["register"]["errors"] for r in results] == [[]] * 8
