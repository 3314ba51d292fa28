"""A browser app on another origin (issue 17): IVEN_CORS_ORIGINS applies to HTTP and to WebSocket
handshakes by one rule (iven_gql/origins.py), preflights are answered, file URLs are absolute on
IVEN_PUBLIC_URL, and files carry a resource policy and CORS headers that let those origins use
them. WebSocket handshakes come from the real graphql-ws client (tests/js/ws_origin.mjs), which
sets the Origin header a browser page would."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from iven_gql.app import create_app
from iven_gql.config import Settings, serve_url
from tests import media_samples as samples
from tests.conftest import RunningServer, start_server, stop_server
from tests.factories import crew
from tests.support import GraphQLClient
from tests.support.media import served_path, uploaded
from tests.support.node import run_node_json

APP = "http://localhost:41083"  # the app's dev server, on another port: another origin
OTHER = "http://localhost:41084"
PUBLIC = "https://api.example.test"
PREFLIGHT = {
    "access-control-request-method": "POST",
    "access-control-request-headers": "authorization,content-type",
}
AVATAR = """mutation($input: SetAvatarInput!) { setAvatar(input: $input) {
  user { avatarUrl } errors { code } } }"""
URLS = """query($id: ID!) { node(id: $id) { ... on Media { urls { original preview thumbnail } } }
  me { avatarUrl small: avatarUrl(size: 64) } }"""


@pytest.fixture(scope="module")
async def browser_server(server: RunningServer, settings: Settings) -> AsyncIterator[RunningServer]:
    """A second server on the session server's stores, configured for an app on APP and reached
    at PUBLIC (the session server has no CORS origins)."""
    resources = server.app.state.resources
    mongodb_url = settings.mongodb_url or resources.embedded_mongo.url
    configured = settings.model_copy(
        update={
            "mongodb_url": mongodb_url,
            "cors_origins": [APP],
            "public_url": PUBLIC,
            "run_migrations_on_start": False,
            "dispatcher": False,
        }
    )
    running, uv, task = await start_server(configured)
    yield running
    await stop_server(uv, task)
    await server.deps.documents.bind()  # Beanie's binding is process-wide


@pytest.fixture
async def browser_http(browser_server: RunningServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=browser_server.url, timeout=20) as client:
        yield client


async def handshake(ws_url: str, origin: str | None) -> dict[str, Any]:
    """In a thread: the server under test runs on this event loop."""
    got = await asyncio.to_thread(run_node_json, "ws_origin.mjs", ws_url, origin or "")
    return got  # type: ignore[no-any-return]


# --- one rule for WebSocket handshakes and HTTP ------------------------------------------------


def origin_cases(server: RunningServer) -> list[tuple[str | None, bool]]:
    return [
        (APP, True),  # listed in IVEN_CORS_ORIGINS
        (None, True),  # no Origin: a native app, a server-side client
        (server.url, True),  # the server's own origin (GraphiQL served by it)
        (PUBLIC, True),  # IVEN_PUBLIC_URL's origin (the server behind a proxy)
        (OTHER, False),  # another port is another origin
        ("https://localhost:41083", False),  # another scheme too
        ("null", False),  # a sandboxed page or a file:// one
    ]


async def test_websocket_handshakes_and_preflights_follow_one_rule(browser_server, browser_http):
    for origin, allowed in origin_cases(browser_server):
        got = await handshake(browser_server.ws_url, origin)
        if allowed:
            assert got["connected"], (origin, got)
            assert got["data"] == {"__typename": "Query"}, (origin, got)
        else:
            assert not got["connected"] and got["status"] == 403, (origin, got)
        if origin is None:
            continue
        preflight = await browser_http.options("/graphql", headers={"origin": origin, **PREFLIGHT})
        assert preflight.status_code == (200 if allowed else 403), (origin, preflight.text)
        assert ("access-control-allow-origin" in preflight.headers) is allowed, origin


async def test_without_cors_origins_only_the_own_origin_and_no_origin_connect(server):
    assert (await handshake(server.ws_url, APP))["status"] == 403
    assert (await handshake(server.ws_url, None))["data"] == {"__typename": "Query"}
    assert (await handshake(server.ws_url, server.url))["data"] == {"__typename": "Query"}


async def test_a_preflight_from_an_allowed_origin_gets_what_our_clients_send(browser_http):
    response = await browser_http.options(
        "/graphql",
        headers={
            "origin": APP,
            "access-control-request-method": "POST",
            "access-control-request-headers": "content-type,x-iven-csrf,apollo-require-preflight",
        },
    )
    assert response.status_code == 200 and response.content == b""
    assert response.headers["access-control-allow-origin"] == APP
    assert "POST" in response.headers["access-control-allow-methods"]
    allowed = {h.strip() for h in response.headers["access-control-allow-headers"].split(",")}
    assert {"authorization", "content-type", "x-iven-csrf", "apollo-require-preflight"} <= allowed
    assert "access-control-allow-credentials" not in response.headers  # no cookies, no wildcard
    assert "Origin" in response.headers["vary"]


async def test_a_preflight_from_another_origin_is_a_json_403(browser_http, http):
    for client in (browser_http, http):  # with and without IVEN_CORS_ORIGINS
        response = await client.options("/graphql", headers={"origin": OTHER, **PREFLIGHT})
        assert response.status_code == 403
        assert response.headers["content-type"] == "application/json"
        assert response.json() == {
            "errors": [
                {
                    "message": response.json()["errors"][0]["message"],
                    "extensions": {"code": "ORIGIN_NOT_ALLOWED"},
                }
            ]
        }
        assert not any(name.startswith("access-control-") for name in response.headers)


async def test_answers_carry_cors_headers_for_allowed_origins_only(browser_http):
    query = {"query": "{ __typename }"}
    mine = await browser_http.post("/graphql", json=query, headers={"origin": APP})
    assert mine.status_code == 200 and mine.json()["data"] == {"__typename": "Query"}
    assert mine.headers["access-control-allow-origin"] == APP
    assert "x-request-id" in mine.headers["access-control-expose-headers"]
    theirs = await browser_http.post("/graphql", json=query, headers={"origin": OTHER})
    # answered (no cookies to protect), but without CORS headers the browser hides the answer
    assert theirs.status_code == 200 and "access-control-allow-origin" not in theirs.headers
    refused = await browser_http.post("/graphql", content=b"{", headers={"origin": APP})
    assert refused.status_code == 400 and refused.headers["access-control-allow-origin"] == APP


# --- absolute file URLs and their resource policy ----------------------------------------------


async def test_file_urls_are_absolute_and_embeddable_by_the_configured_origins(
    api, http, accounts, events, browser_server, browser_http
):
    c = await crew(accounts, events, 2)
    owner = c["people"][0]
    [photo] = await uploaded(api, owner, c["event"]["id"], [("p.png", samples.png())])
    set_avatar = await api.upload(
        AVATAR,
        {"input": {"file": None}},
        {"variables.input.file": ("me.png", samples.png(), "image/png")},
        token=owner["token"],
    )
    assert set_avatar.json()["data"]["setAvatar"]["errors"] == []
    there = GraphQLClient(browser_http, browser_server.ws_url)
    data = (await there.execute(URLS, {"id": photo["id"]}, token=owner["token"]))["data"]
    urls = [*data["node"]["urls"].values(), data["me"]["avatarUrl"], data["me"]["small"]]
    assert len(urls) == 5
    for url in urls:
        assert url.startswith(f"{PUBLIC}/media/") or url.startswith(f"{PUBLIC}/avatars/"), url
        embedded = await browser_http.get(served_path(url), headers={"origin": APP})
        assert embedded.status_code == 200, (url, embedded.text)
        assert embedded.headers["cross-origin-resource-policy"] == "cross-origin"
        assert embedded.headers["access-control-allow-origin"] == APP
        assert "Origin" in embedded.headers["vary"]
        elsewhere = await browser_http.get(served_path(url), headers={"origin": OTHER})
        assert "access-control-allow-origin" not in elsewhere.headers
        # the session server has no CORS origins: its files stay same-site
        same_site = await http.get(served_path(url), headers={"origin": APP})
        assert same_site.status_code == 200
        assert same_site.headers["cross-origin-resource-policy"] == "same-site"
        assert "access-control-allow-origin" not in same_site.headers
    # the signature still binds the viewer: another user's id in the URL is refused
    original = served_path(data["node"]["urls"]["original"])
    forged = re.sub(r"\?u=\d+&", "?u=999999&", original)
    assert forged != original
    assert (await browser_http.get(forged)).status_code == 403
    refused = await browser_http.get(f"/media/{photo['id']}/original?u=1&f=0&exp=1&sig=x")
    assert refused.headers["cross-origin-resource-policy"] == "cross-origin"


# --- settings -----------------------------------------------------------------------------------


def test_cors_origins_are_a_list_of_origins_without_a_wildcard(monkeypatch):
    monkeypatch.setenv("IVEN_CORS_ORIGINS", "https://App.example.com:443/, http://localhost:5173")
    assert Settings(_env_file=None).cors_origins == [
        "http://localhost:5173",
        "https://app.example.com",
    ]
    monkeypatch.setenv("IVEN_CORS_ORIGINS", '["https://app.example.com"]')
    assert Settings(_env_file=None).cors_origins == ["https://app.example.com"]
    for refused, says in (
        ("*", "'*' is refused"),
        ("https://app.example.com,*", "'*' is refused"),
        ("https://app.example.com/app", "is not an origin"),
        ("app.example.com", "is not an origin"),
    ):
        monkeypatch.setenv("IVEN_CORS_ORIGINS", refused)
        with pytest.raises(ValueError, match=says):
            Settings(_env_file=None)


def test_public_url_is_a_base_without_trailing_slash_and_required_in_production():
    assert Settings(_env_file=None).public_url == "http://127.0.0.1:8000"  # `iven-gql serve`
    # `iven-gql serve` without IVEN_PUBLIC_URL: the address it listens on
    assert serve_url("127.0.0.1", 8000) == Settings(_env_file=None).public_url
    assert serve_url("192.168.1.20", 9000) == "http://192.168.1.20:9000"
    assert serve_url("0.0.0.0", 9000) == "http://127.0.0.1:9000"
    assert serve_url("::1", 9000) == "http://[::1]:9000"
    assert Settings(_env_file=None, public_url="https://api.example.com/").public_url == (
        "https://api.example.com"
    )
    with pytest.raises(ValueError, match="no query"):
        Settings(_env_file=None, public_url="https://api.example.com/?x=1")
    production: dict[str, Any] = {
        "env": "production",
        "jwt_secret": "x" * 40,
        "mongodb_url": "mongodb://db/",
        "redis_url": "redis://r/",
        "database_url": "mysql+aiomysql://u@h/db",
    }
    with pytest.raises(ValueError, match="IVEN_PUBLIC_URL"):
        Settings(_env_file=None, **production)
    assert Settings(_env_file=None, **production, public_url="https://api.example.com")


async def test_an_unexpected_error_past_the_view_is_json_too():
    """No lifespan ran: the view has no stores, and the request with an Origin goes through the
    middleware stack (not the fast path's own guard)."""
    app = create_app(Settings(_env_file=None, cors_origins=[APP]))
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://iven.test") as client:
        response = await client.post(
            "/graphql", json={"query": "{ __typename }"}, headers={"origin": APP}
        )
    assert response.status_code == 500
    assert response.json()["errors"][0]["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    assert "Traceback" not in response.text and "assert" not in response.text
