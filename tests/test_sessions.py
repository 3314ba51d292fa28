"""Access tokens, refresh rotation with reuse detection, session listing and revocation."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from typing import Any

import jwt
import pytest
from sqlalchemy import update
from sqlmodel import col

from resolvers.sessions import guard
from stores.accounts import RefreshToken
from stores.db import utcnow
from tests.support import assert_error, assert_payload_error
from tests.support.live import until

ME = "{ me { id username } }"
REFRESH = """mutation($t: String!) { refreshSession(input: {refreshToken: $t}) {
  accessToken refreshToken expiresAt user { id } errors { code field } } }"""
SESSIONS = "{ mySessions { id current userAgent ip createdAt lastUsedAt expiresAt } }"
REVOKE_SESSION = """mutation($id: ID!) { revokeSession(input: {sessionId: $id}) {
  revokedSessionId errors { code } } }"""


async def test_access_token_claims(api, accounts, server):
    user = await accounts.user()
    claims = jwt.decode(user["token"], options={"verify_signature": False})
    assert set(claims) >= {"sub", "sid", "exp", "iat", "jti"}
    assert claims["exp"] - claims["iat"] == 15 * 60
    assert jwt.get_unverified_header(user["token"])["alg"] == "HS256"


def forged(claims: dict[str, Any], secret: str) -> str:
    return jwt.encode(claims, "another-secret-of-at-least-32-bytes!", algorithm="HS256")


def unsigned(claims: dict[str, Any], secret: str) -> str:
    return jwt.encode(claims, None, algorithm="none")


def expired(claims: dict[str, Any], secret: str) -> str:
    return jwt.encode({**claims, "exp": int(time.time()) - 5}, secret, algorithm="HS256")


def garbage(claims: dict[str, Any], secret: str) -> str:
    return "garbage"


@pytest.mark.parametrize("bad_token", [forged, unsigned, expired, garbage])
async def test_a_bad_token_is_rejected(api, accounts, settings, bad_token):
    user = await accounts.user()
    claims = jwt.decode(user["token"], options={"verify_signature": False})
    token = bad_token(claims, settings.jwt_secret.get_secret_value())
    error = assert_error(await api.execute(ME, token=token), "UNAUTHENTICATED")
    assert "rejected" in error["message"]
    assert (await api.execute(ME, token=user["token"]))["data"]["me"]["username"]


async def test_a_basic_authorization_header_is_rejected(api):
    response = await api.post({"query": ME}, headers={"authorization": "Basic abc"})
    assert_error(response.json(), "UNAUTHENTICATED")


async def refresh(api, token: str) -> dict[str, Any]:
    payload: dict[str, Any] = (await api.execute(REFRESH, {"t": token}))["data"]["refreshSession"]
    return payload


async def test_refresh_rotates_the_token(api, accounts):
    user = await accounts.user()
    first = await refresh(api, user["refresh"])
    assert first["errors"] == [] and first["refreshToken"] != user["refresh"]
    assert first["user"]["id"] == user["id"]
    second = await refresh(api, first["refreshToken"])
    assert second["errors"] == []
    assert (await api.execute(ME, token=second["accessToken"]))["data"]["me"]


async def test_a_reused_refresh_token_revokes_the_session(api, accounts, server):
    user = await accounts.user()
    first = await refresh(api, user["refresh"])
    second = await refresh(api, first["refreshToken"])
    assert second["errors"] == []

    # the first token was used (and its child too) long ago: presenting it again is theft
    async with server.deps.db.unit_of_work() as db:
        await db.exec(
            update(RefreshToken)
            .where(col(RefreshToken.used_at).is_not(None))
            .values(used_at=utcnow() - timedelta(seconds=60))
        )
    reused = (await api.execute(REFRESH, {"t": user["refresh"]}))["data"]["refreshSession"]
    assert_payload_error(reused, "TOKEN_REUSED", ["input", "refreshToken"])
    # the whole session family is gone: its access tokens and its newest refresh token
    assert_error(await api.execute(ME, token=second["accessToken"]), "UNAUTHENTICATED")
    assert_error(await api.execute(ME, token=user["token"]), "UNAUTHENTICATED")
    latest = (await api.execute(REFRESH, {"t": second["refreshToken"]}))["data"]["refreshSession"]
    assert_payload_error(latest, "INVALID_TOKEN")


async def test_immediate_parent_has_a_short_grace(api, accounts):
    user = await accounts.user()
    a = (await api.execute(REFRESH, {"t": user["refresh"]}))["data"]["refreshSession"]
    # a second tab presents the same token right away: served, session kept
    b = (await api.execute(REFRESH, {"t": user["refresh"]}))["data"]["refreshSession"]
    assert a["errors"] == [] and b["errors"] == []
    assert (await api.execute(ME, token=b["accessToken"]))["data"]["me"]
    # once a child has been used, the parent is no longer in grace
    c = (await api.execute(REFRESH, {"t": a["refreshToken"]}))["data"]["refreshSession"]
    assert c["errors"] == []
    late = (await api.execute(REFRESH, {"t": user["refresh"]}))["data"]["refreshSession"]
    assert_payload_error(late, "TOKEN_REUSED")


async def test_concurrent_refreshes_rotate_once(api, accounts):
    user = await accounts.user()
    results = await asyncio.gather(
        *[api.execute(REFRESH, {"t": user["refresh"]}) for _ in range(4)]
    )
    payloads = [r["data"]["refreshSession"] for r in results]
    # all within grace of the same parent: every caller gets tokens, none revokes the family
    assert all(p["errors"] == [] for p in payloads), payloads
    for p in payloads:
        assert (await api.execute(ME, token=p["accessToken"]))["data"]["me"]


async def test_unknown_refresh_token(api):
    payload = (await api.execute(REFRESH, {"t": "nope"}))["data"]["refreshSession"]
    assert_payload_error(payload, "INVALID_TOKEN")


async def sessions(api, user) -> list[dict[str, Any]]:
    listed: list[dict[str, Any]] = (await api.execute(SESSIONS, token=user["token"]))["data"][
        "mySessions"
    ]
    return listed


async def test_sessions_are_listed_with_the_current_one_marked(api, accounts):
    user = await accounts.user()
    await accounts.login(user["email"], user["password"], user_agent="phone/1.0")
    listed = await sessions(api, user)
    assert len(listed) == 2
    current = [s for s in listed if s["current"]]
    other = [s for s in listed if not s["current"]]
    assert len(current) == 1 and other[0]["userAgent"] == "phone/1.0"
    assert other[0]["ip"] == "127.0.0.1"


async def test_someone_elses_session_cannot_be_revoked(api, accounts):
    user = await accounts.user()
    # someone else's session id is unknown to you
    stranger = await accounts.user()
    theirs = (await sessions(api, stranger))[0]
    payload = (await api.execute(REVOKE_SESSION, {"id": theirs["id"]}, token=user["token"]))[
        "data"
    ]["revokeSession"]
    assert_payload_error(payload, "SESSION_NOT_FOUND")
    assert (await api.execute(ME, token=stranger["token"]))["data"]["me"]


async def test_a_revoked_session_stops_at_once(api, accounts):
    user = await accounts.user()
    phone = await accounts.login(user["email"], user["password"], user_agent="phone/1.0")
    other = [s for s in await sessions(api, user) if not s["current"]]
    payload = (await api.execute(REVOKE_SESSION, {"id": other[0]["id"]}, token=user["token"]))[
        "data"
    ]["revokeSession"]
    assert payload == {"revokedSessionId": other[0]["id"], "errors": []}
    # the revoked token stops working on its very next request
    assert_error(await api.execute(ME, token=phone["accessToken"]), "UNAUTHENTICATED")
    assert_payload_error(
        (await api.execute(REFRESH, {"t": phone["refreshToken"]}))["data"]["refreshSession"],
        "INVALID_TOKEN",
    )
    assert [s["current"] for s in await sessions(api, user)] == [True]


async def test_a_session_is_a_node_only_for_its_owner(api, accounts):
    user = await accounts.user()
    stranger = await accounts.user()
    current = [s for s in await sessions(api, user) if s["current"]]
    node = """query($id: ID!) { node(id: $id) { ... on Session { userAgent } } }"""
    assert (await api.execute(node, {"id": current[0]["id"]}, token=user["token"]))["data"][
        "node"
    ] is not None
    assert (await api.execute(node, {"id": current[0]["id"]}, token=stranger["token"]))["data"][
        "node"
    ] is None


async def test_logout_ends_only_this_session(api, accounts):
    user = await accounts.user()
    second = await accounts.login(user["email"], user["password"])
    third = await accounts.login(user["email"], user["password"])
    out = await api.execute("mutation { logout { ok } }", token=second["accessToken"])
    assert out["data"]["logout"]["ok"] is True
    assert_error(await api.execute(ME, token=second["accessToken"]), "UNAUTHENTICATED")
    assert (await api.execute(ME, token=third["accessToken"]))["data"]["me"]


async def test_logout_everywhere_ends_every_session(api, accounts):
    user = await accounts.user()
    third = await accounts.login(user["email"], user["password"])
    out = await api.execute("mutation { logoutEverywhere { ok } }", token=user["token"])
    assert out["data"]["logoutEverywhere"]["ok"] is True
    assert_error(await api.execute(ME, token=user["token"]), "UNAUTHENTICATED")
    assert_error(await api.execute(ME, token=third["accessToken"]), "UNAUTHENTICATED")


async def test_logout_needs_a_session(api):
    assert_error(await api.execute("mutation { logout { ok } }"), "UNAUTHENTICATED")


async def test_session_survives_redis_loss(api, accounts, server):
    """Sessions are durable in MySQL: a Redis flush (restart) does not sign anyone out,
    and a revoked session stays revoked."""
    user = await accounts.user()
    other = await accounts.login(user["email"], user["password"])
    await api.execute("mutation { logout { ok } }", token=other["accessToken"])
    await server.deps.redis.flushdb()

    guard(server.deps)._valid.clear()
    assert (await api.execute(ME, token=user["token"]))["data"]["me"]["username"]
    assert_error(await api.execute(ME, token=other["accessToken"]), "UNAUTHENTICATED")


async def test_account_activity_is_recorded(api, accounts):
    user = await accounts.signed_up()  # its confirmation is part of what is checked
    await accounts.login(user["email"], "wrong-password")
    await accounts.login(user["email"], user["password"])
    query = """query($after: String) { myAccountActivity(first: 2, after: $after) {
        edges { cursor node { kind ip } } pageInfo { hasNextPage endCursor } } }"""
    everything = "{ myAccountActivity(first: 10) { edges { node { kind } } } }"

    async def all_written() -> bool:  # the log is written just after the response
        result = await api.execute(everything, token=user["token"])
        return len(result["data"]["myAccountActivity"]["edges"]) >= 3

    await until(all_written, "three activity entries")
    kinds: list[str] = []
    after = None
    for _ in range(5):
        page = (await api.execute(query, {"after": after}, token=user["token"]))["data"][
            "myAccountActivity"
        ]
        kinds += [e["node"]["kind"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert sorted(kinds) == ["EMAIL_CONFIRMED", "LOGIN", "LOGIN_FAILED"]
    assert kinds == ["LOGIN", "LOGIN_FAILED", "EMAIL_CONFIRMED"]  # newest first


@pytest.mark.parametrize(
    "query",
    [
        "{ myAccountActivity(first: 101) { edges { cursor } } }",
        '{ myAccountActivity(after: "%%%") { edges { cursor } } }',
    ],
    ids=["too-many", "bad-cursor"],
)
async def test_account_activity_refuses_a_bad_page(api, accounts, query):
    user = await accounts.user()
    assert_error(await api.execute(query, token=user["token"]), "BAD_USER_INPUT")
