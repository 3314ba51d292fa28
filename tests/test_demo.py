"""`iven-gql seed-demo`: the demo through the API as its people see it; a second run (and a run
after one that stopped half-way) doubles nothing; the real command in a process."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from iven_gql.demo import content, seed_demo
from iven_gql.demo import seed as seed_module
from schema.core import global_id
from tests.test_cli import run_cli

EVENT = """query($id: ID!) { event(id: $id) {
  title viewerRole startsAt endsAt shareToken
  participants(first: 20) { nodes { role rsvp user { username } } }
  tasks(first: 20) { nodes { title status assignees { user { username } }
    completedBy { user { username } } validatedBy { user { username } } } }
  expenses(first: 20) { nodes { title splitMode amount { amount currency }
    shares { participant { user { username } } amount { amount } } } }
  settlements { from { user { username } } to { user { username } } amount { amount } }
  invitations { status invitee { username } }
  joinRequests { status user { username } }
  messages(last: 50) { nodes { body author { username } replyTo { body }
    mentions { username } reactions { emoji count } } }
  albums { title isDefault mediaCount media(first: 20) { nodes {
    fileName mimeType width height caption likeCount commentCount
    urls { original preview thumbnail } } } }
  activity(first: 100) { nodes { __typename } }
} }"""

NOTIFICATIONS = """{ notifications(first: 100) { nodes { type title event { title } } }
  unreadNotificationCount }"""

ARTICLES = """{ articles(first: 20) { nodes { slug title author { username } tags } } }"""


def expected_counts() -> Counter[str]:
    """What the demo's description (content.py) adds up to."""
    counts: Counter[str] = Counter()
    for spec in content.EVENTS:
        counts["members"] += 1 + len(spec.organizers) + len(spec.participants)
        counts["tasks"] += len(spec.tasks)
        counts["expenses"] += len(spec.expenses)
        counts["settlements"] += len(spec.settlements)
        counts["messages"] += len(spec.messages)
        counts["media"] += sum(len(a.pictures) for a in spec.albums)
    return counts


async def sign_in(accounts: Any, username: str) -> str:
    payload = await accounts.login(f"{username}@example.com", content.DEMO_PASSWORD)
    assert payload["errors"] == [], payload
    return str(payload["accessToken"])


async def event_as(api: Any, token: str, event_id: int) -> dict[str, Any]:
    result = await api.execute(EVENT, {"id": global_id("Event", event_id)}, token=token)
    assert "errors" not in result, result
    return result["data"]["event"]  # type: ignore[no-any-return]


async def snapshot(api: Any, tokens: dict[str, str], report: seed_module.Report) -> dict[str, Any]:
    """Everything the demo shows, as each event's owner sees it, with every person's
    notifications and the public articles."""
    events = {
        spec.key: await event_as(api, tokens[spec.owner], report.event_ids[spec.key])
        for spec in content.EVENTS
    }
    notifications = {}
    for name, token in tokens.items():
        result = await api.execute(NOTIFICATIONS, token=token)
        assert "errors" not in result, result
        notifications[name] = result["data"]
    articles = (await api.execute(ARTICLES))["data"]["articles"]["nodes"]
    return {"events": events, "notifications": notifications, "articles": articles}


def check_demo(shot: dict[str, Any]) -> None:
    events = shot["events"]
    trip, birthday, dinner = events["trip"], events["birthday"], events["dinner"]
    assert [e["title"] for e in (trip, birthday, dinner)] == [s.title for s in content.EVENTS]
    assert all(e["viewerRole"] == "OWNER" for e in events.values())
    now = datetime.now().astimezone()
    assert datetime.fromisoformat(dinner["endsAt"]) < now  # one past, two to come
    assert min(datetime.fromisoformat(e["startsAt"]) for e in (trip, birthday)) > now
    for event in events.values():  # every role in every event
        roles = Counter(p["role"] for p in event["participants"]["nodes"])
        assert roles["OWNER"] == 1 and roles["ORGANIZER"] >= 1 and roles["PARTICIPANT"] >= 2
    counts: Counter[str] = Counter()
    for event in events.values():
        counts["members"] += len(event["participants"]["nodes"])
        counts["tasks"] += len(event["tasks"]["nodes"])
        counts["expenses"] += len(event["expenses"]["nodes"])
        counts["settlements"] += len(event["settlements"])
        counts["messages"] += len(event["messages"]["nodes"])
        counts["media"] += sum(a["mediaCount"] for a in event["albums"])
    assert counts == expected_counts()
    rsvps = {p["rsvp"] for e in events.values() for p in e["participants"]["nodes"]}
    assert rsvps == {"GOING", "MAYBE", "DECLINED"}

    tasks = [t for e in events.values() for t in e["tasks"]["nodes"]]
    assert {t["status"] for t in tasks} == {"TODO", "DONE", "VALIDATED"}
    for task in tasks:
        if task["status"] != "TODO":
            assert task["completedBy"]["user"]["username"] in {
                a["user"]["username"] for a in task["assignees"]
            }
        if task["status"] == "VALIDATED":
            assert task["validatedBy"]["user"] != task["completedBy"]["user"]
    assert any(t["assignees"] for t in tasks) and any(not t["assignees"] for t in tasks)

    expenses = [x for e in events.values() for x in e["expenses"]["nodes"]]
    assert {x["splitMode"] for x in expenses} == {"EQUAL", "SHARES", "EXACT", "PERCENT"}
    gift = next(x for x in expenses if x["splitMode"] == "PERCENT")
    assert {s["amount"]["amount"] for s in gift["shares"]} == {"75.00", "37.50"}
    assert dinner["settlements"][0]["to"]["user"]["username"] == "farid.haddad"

    assert [i["invitee"]["username"] for i in trip["invitations"] if i["status"] == "PENDING"] == [
        "keiko.tanaka"
    ]
    assert [(r["user"]["username"], r["status"]) for r in birthday["joinRequests"]] == [
        ("liam.oconnor", "PENDING")
    ]

    messages = [m for e in events.values() for m in e["messages"]["nodes"]]
    replies = [m for m in messages if m["replyTo"] is not None]
    assert replies and all(m["replyTo"]["body"] for m in replies)
    assert {"username": "david.kim"} in [u for m in messages for u in m["mentions"]]
    assert sum(r["count"] for m in messages for r in m["reactions"]) == sum(
        len(m.reactions) for s in content.EVENTS for m in s.messages
    )

    albums = [a for e in events.values() for a in e["albums"] if not a["isDefault"]]
    assert {a["title"] for a in albums} == {"Scouting", "Invitation", "The evening"}
    media = [m for a in albums for m in a["media"]["nodes"]]
    assert {m["mimeType"] for m in media} == {"image/jpeg", "image/png"}
    assert all(m["urls"]["thumbnail"] and m["urls"]["preview"] for m in media)
    assert {(m["width"], m["height"]) for m in media} >= {(1200, 800), (800, 1200)}
    assert any(m["likeCount"] >= 2 for m in media) and any(m["commentCount"] for m in media)

    assert all(e["activity"]["nodes"] for e in events.values())
    kinds = {n["type"] for v in shot["notifications"].values() for n in v["notifications"]["nodes"]}
    # invitations, tasks, money, mentions and pictures all reached someone
    assert len(kinds) >= 6, kinds
    assert shot["notifications"]["keiko.tanaka"]["notifications"]["nodes"]  # her invitations
    assert [(a["slug"], a["author"]["username"]) for a in shot["articles"]] == [
        (content.ARTICLE_SLUG, content.ADMIN.username)
    ]


async def test_seed_demo_twice_and_after_a_crash(server, api, accounts, monkeypatch):
    deps = server.deps
    # a first run that stops half-way: the second event's expenses fail
    real_expenses = seed_module.Seeder.expenses
    calls = 0

    async def crashing(self: Any, spec: Any, event: Any, members: Any) -> None:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise RuntimeError("killed")
        await real_expenses(self, spec, event, members)

    monkeypatch.setattr(seed_module.Seeder, "expenses", crashing)
    with pytest.raises(RuntimeError, match="killed"):
        await seed_demo(deps)
    monkeypatch.setattr(seed_module.Seeder, "expenses", real_expenses)

    completed = await seed_demo(deps)  # finishes the job, redoing nothing
    assert completed.pending_outbox == 0
    assert completed.created["users"] == 0 and completed.created["events"] == 1
    assert completed.created["expenses"] == 1 + 3  # the birthday's and the dinner's
    # every demo person signs in with the printed password
    tokens = {p.username: await sign_in(accounts, p.username) for p in content.PEOPLE}
    first = await snapshot(api, tokens, completed)
    check_demo(first)

    again = await seed_demo(deps)
    assert again.created == Counter() and again.pending_outbox == 0
    assert again.event_ids == completed.event_ids
    assert await snapshot(api, tokens, again) == first


def test_seed_demo_command(tmp_path: Path) -> None:
    env = {
        "IVEN_VAR_DIR": str(tmp_path / "var"),
        # explicit until IVEN_VAR_DIR moves the SQLite default too
        "IVEN_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'demo.db'}",
        "IVEN_UPLOADS_DIR": str(tmp_path / "uploads"),
        "IVEN_JWT_SECRET": "demo-test-secret-0123456789abcdef012",
        "IVEN_MONGODB_URL": "",
        "IVEN_REDIS_URL": "",
        "IVEN_SMTP_URL": "",
        "IVEN_STORE_CONNECT_TIMEOUT_S": "60",  # a busy two-core machine (as in test_cli)
    }
    result = run_cli("seed-demo", env=env, timeout=600)
    assert result.returncode == 0, result.stderr
    assert content.DEMO_PASSWORD in result.stdout
    for person in (*content.PEOPLE, content.ADMIN):
        assert person.email in result.stdout
    assert global_id("Event", 1) in result.stdout
    assert (tmp_path / "uploads").is_dir() and any((tmp_path / "uploads").rglob("*.jpg"))
