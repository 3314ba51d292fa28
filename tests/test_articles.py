"""Articles through the API: the admin-only matrix of every mutation, slugs (generated, unique,
stable once published, old ones redirecting), validation, sanitised Markdown with hostile input,
visibility of drafts and scheduled articles (with the injectable clock), the public list and its
Redis cache (served without SQL, invalidated by every change, never hiding a publication)."""

from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta
from html.parser import HTMLParser
from typing import Any
from urllib.parse import unquote

import pytest
from markdown_it import MarkdownIt
from sqlmodel import col, select
from strawberry.relay import to_base64

from resolvers import article_cache
from resolvers.article_cache import decoded
from resolvers.markdown import render, sanitise
from stores.admin import AuditEntry
from tests import media_samples as samples
from tests.support import assert_error, assert_payload_error
from tests.support.media import uploaded

FIELDS = """id slug title summary body bodyHtml tags status publishedAt version coverMediaId
  createdAt updatedAt author { username }"""
CREATE = f"""mutation($input: CreateArticleInput!) {{ createArticle(input: $input) {{
  article {{ {FIELDS} }} errors {{ code field message }} }} }}"""
UPDATE = f"""mutation($input: UpdateArticleInput!) {{ updateArticle(input: $input) {{
  article {{ {FIELDS} }} errors {{ code field message }} }} }}"""
PUBLISH = f"""mutation($input: PublishArticleInput!) {{ publishArticle(input: $input) {{
  article {{ {FIELDS} }} errors {{ code field message }} }} }}"""
UNPUBLISH = f"""mutation($input: ArticleRefInput!) {{ unpublishArticle(input: $input) {{
  article {{ {FIELDS} }} errors {{ code field message }} }} }}"""
DELETE = """mutation($input: ArticleRefInput!) { deleteArticle(input: $input) {
  deletedArticleId errors { code field message } } }"""
BY_SLUG = f"""query BySlug($slug: String!) {{ article(slug: $slug) {{ {FIELDS} }} }}"""
LIST = """query List($first: Int, $after: String, $tag: String) {
  articles(first: $first, after: $after, tag: $tag) {
    edges { cursor node { id slug title summary bodyHtml tags status publishedAt } }
    pageInfo { hasNextPage hasPreviousPage endCursor } } }"""
ADMIN_LIST = """query($first: Int, $after: String, $status: ArticleStatus) {
  adminArticles(first: $first, after: $after, status: $status) {
    edges { cursor node { id slug title summary body tags status publishedAt version } }
    pageInfo { hasNextPage endCursor } } }"""
NODE = f"""query($id: ID!) {{ node(id: $id) {{ ... on Article {{ {FIELDS} }} }} }}"""


async def create(api: Any, admin: dict[str, Any], **over: Any) -> dict[str, Any]:
    data = {"title": "Release notes", "body": "Hello **world**", **over}
    result = await api.execute(CREATE, {"input": data}, token=admin["token"])
    payload = result["data"]["createArticle"]
    assert payload["errors"] == [], payload
    return payload["article"]  # type: ignore[no-any-return]


async def mutate(
    api: Any, document: str, name: str, token: str | None, **input_: Any
) -> dict[str, Any]:
    result = await api.execute(document, {"input": input_}, token=token)
    assert "errors" not in result, result
    return result["data"][name]  # type: ignore[no-any-return]


async def publish(
    api: Any, admin: dict[str, Any], article_id: str, publish_at: datetime | None = None
) -> dict[str, Any]:
    input_: dict[str, Any] = {"id": article_id}
    if publish_at is not None:
        input_["publishAt"] = publish_at.isoformat()
    payload = await mutate(api, PUBLISH, "publishArticle", admin["token"], **input_)
    assert payload["errors"] == [], payload
    return payload["article"]  # type: ignore[no-any-return]


async def by_slug(api: Any, slug: str, token: str | None = None) -> dict[str, Any] | None:
    result = await api.execute(BY_SLUG, {"slug": slug}, token=token)
    assert "errors" not in result, result
    return result["data"]["article"]  # type: ignore[no-any-return]


async def listed(api: Any, token: str | None = None, **variables: Any) -> dict[str, Any]:
    result = await api.execute(LIST, variables, token=token)
    assert "errors" not in result, result
    return result["data"]["articles"]  # type: ignore[no-any-return]


def slugs(page: dict[str, Any]) -> list[str]:
    return [e["node"]["slug"] for e in page["edges"]]


async def everything(api: Any, admin: dict[str, Any]) -> list[dict[str, Any]]:
    """Every article as an admin sees it: the state a refused operation must leave alone."""
    result = await api.execute(ADMIN_LIST, {"first": 100}, token=admin["token"])
    assert "errors" not in result, result
    return [e["node"] for e in result["data"]["adminArticles"]["edges"]]


async def audit_actions(server: Any) -> list[str]:
    async with server.deps.db.reader() as db:
        rows = (
            await db.exec(
                select(AuditEntry)
                .where(AuditEntry.target_type == "ARTICLE")
                .order_by(col(AuditEntry.id))
            )
        ).all()
    return [r.action for r in rows]


# --- the admin-only matrix ---------------------------------------------------------------------

OPS: dict[str, tuple[str, str, bool]] = {
    # name: (document, root field, whether the target article is published first)
    "createArticle": (CREATE, "createArticle", False),
    "updateArticle": (UPDATE, "updateArticle", False),
    "publishArticle": (PUBLISH, "publishArticle", False),
    "unpublishArticle": (UNPUBLISH, "unpublishArticle", True),
    "deleteArticle": (DELETE, "deleteArticle", True),
}
AUDITED = {
    "createArticle": "article.created",
    "updateArticle": "article.updated",
    "publishArticle": "article.published",
    "unpublishArticle": "article.unpublished",
    "deleteArticle": "article.deleted",
}


@pytest.mark.parametrize("role", ["anonymous", "user", "admin"])
@pytest.mark.parametrize("op", list(OPS))
async def test_every_article_mutation_is_for_admins_only(api, accounts, server, op, role):
    admin = await accounts.admin()
    user = await accounts.user()
    document, name, published = OPS[op]
    target = await create(api, admin, title="Target", tags=["news"])
    if published:
        await publish(api, admin, target["id"])
    inputs = {
        "createArticle": {"title": "Another", "body": "x"},
        "updateArticle": {"id": target["id"], "title": "Changed"},
    }
    before = await everything(api, admin)
    audited_before = await audit_actions(server)
    token = {"anonymous": None, "user": user["token"], "admin": admin["token"]}[role]

    result = await api.execute(
        document, {"input": inputs.get(op, {"id": target["id"]})}, token=token
    )

    if role == "admin":
        assert "errors" not in result, result
        payload = result["data"][name]
        assert payload["errors"] == [], payload
        after = {a["id"]: a for a in await everything(api, admin)}
        if op == "createArticle":
            assert payload["article"]["status"] == "DRAFT" and len(after) == 2
        elif op == "updateArticle":
            assert after[target["id"]]["title"] == "Changed"
        elif op == "publishArticle":
            assert after[target["id"]]["status"] == "PUBLISHED"
        elif op == "unpublishArticle":
            assert after[target["id"]]["status"] == "DRAFT"
        else:
            assert payload["deletedArticleId"] == target["id"] and target["id"] not in after
        assert await audit_actions(server) == [*audited_before, AUDITED[op]]
        return
    error = assert_error(result, "UNAUTHENTICATED" if role == "anonymous" else "FORBIDDEN")
    assert result["data"] is None or result["data"].get(name) is None, result
    assert error["path"] == [name]
    assert await everything(api, admin) == before, "a refused mutation changed an article"
    assert await audit_actions(server) == audited_before


@pytest.mark.parametrize("role", ["anonymous", "user"])
async def test_admin_articles_is_for_admins_only(api, accounts, role):
    admin = await accounts.admin()
    await create(api, admin)
    token = None if role == "anonymous" else (await accounts.user())["token"]
    result = await api.execute(ADMIN_LIST, {}, token=token)
    assert_error(result, "UNAUTHENTICATED" if role == "anonymous" else "FORBIDDEN")
    assert result["data"] is None
    assert len(await everything(api, admin)) == 1


@pytest.mark.parametrize(
    ("document", "extra"),
    [(UPDATE, {"title": "x"}), (PUBLISH, {}), (UNPUBLISH, {}), (DELETE, {})],
    ids=["update", "publish", "unpublish", "delete"],
)
async def test_a_missing_article_is_not_found_for_admins(api, accounts, document, extra):
    admin = await accounts.admin()
    article = await create(api, admin)
    await mutate(api, DELETE, "deleteArticle", admin["token"], id=article["id"])
    result = await api.execute(
        document, {"input": {"id": article["id"], **extra}}, token=admin["token"]
    )
    assert assert_error(result, "NOT_FOUND")["message"] == "Article not found."


async def test_an_id_of_another_type_is_a_missing_article_checked_for_admins_first(api, accounts):
    admin = await accounts.admin()
    other = to_base64("User", 1)
    assert_error(
        await api.execute(UPDATE, {"input": {"id": other, "title": "x"}}, token=admin["token"]),
        "NOT_FOUND",
    )
    assert_error(
        await api.execute(UPDATE, {"input": {"id": other, "title": "x"}}), "UNAUTHENTICATED"
    )


# --- create, read, slugs -----------------------------------------------------------------------


async def test_create_and_read_back(api, accounts):
    admin = await accounts.admin()
    article = await create(
        api,
        admin,
        title="  Hello there  ",
        summary="Short",
        body="# Title\n\nSome *text*.",
        tags=[" Python ", "python", "Web Dev"],
    )
    assert article["slug"] == "hello-there"
    assert article["title"] == "Hello there" and article["summary"] == "Short"
    assert article["body"] == "# Title\n\nSome *text*."
    assert article["bodyHtml"] == "<h1>Title</h1>\n<p>Some <em>text</em>.</p>\n"
    assert article["tags"] == ["python", "web-dev"]
    assert article["status"] == "DRAFT" and article["publishedAt"] is None
    assert article["version"] == 1 and article["coverMediaId"] is None
    assert article["author"] == {"username": admin["username"]}
    published = await publish(api, admin, article["id"])
    assert published["status"] == "PUBLISHED" and published["version"] == 2
    anonymous = await by_slug(api, "hello-there")
    assert anonymous is not None
    assert {k: anonymous[k] for k in ("id", "title", "bodyHtml", "tags", "status", "author")} == {
        k: published[k] for k in ("id", "title", "bodyHtml", "tags", "status", "author")
    }


@pytest.mark.parametrize(
    ("title", "slug"),
    [
        ("Héllo, Wörld! — Ça va?", "hello-world-ca-va"),
        ("  --Multiple   spaces & symbols!!  ", "multiple-spaces-symbols"),
        ("日本語", "article"),
        ("!!!", "article"),
        ("Straße 2030", "strae-2030"),
        ("word " * 40, ("word-" * 16).rstrip("-")),  # 80 characters at most, no trailing hyphen
    ],
)
async def test_slugs_are_generated_from_the_title(api, accounts, title, slug):
    admin = await accounts.admin()
    made = await create(api, admin, title=title)
    assert made["slug"] == slug and len(made["slug"]) <= 80


async def test_generated_slugs_are_unique(api, accounts):
    admin = await accounts.admin()
    made = [(await create(api, admin, title="Same title"))["slug"] for _ in range(3)]
    assert made == ["same-title", "same-title-2", "same-title-3"]
    long_title = "x" * 100
    first, second = [(await create(api, admin, title=long_title))["slug"] for _ in range(2)]
    assert first == "x" * 80 and second == "x" * 78 + "-2"


async def test_slug_follows_a_drafts_title_then_stays_once_published(api, accounts):
    admin = await accounts.admin()
    article = await create(api, admin, title="First name")
    renamed = await mutate(
        api, UPDATE, "updateArticle", admin["token"], id=article["id"], title="Second name"
    )
    assert renamed["article"]["slug"] == "second-name"
    # the draft's old slug led nowhere public: it is not kept
    assert await by_slug(api, "first-name", admin["token"]) is None
    await publish(api, admin, article["id"])
    again = await mutate(
        api, UPDATE, "updateArticle", admin["token"], id=article["id"], title="Third name"
    )
    assert again["article"]["slug"] == "second-name"
    assert again["article"]["title"] == "Third name"
    # still stable after unpublishing
    await mutate(api, UNPUBLISH, "unpublishArticle", admin["token"], id=article["id"])
    later = await mutate(
        api, UPDATE, "updateArticle", admin["token"], id=article["id"], title="Fourth name"
    )
    assert later["article"]["slug"] == "second-name"


async def test_an_explicit_slug_on_a_draft_does_not_follow_the_title(api, accounts):
    admin = await accounts.admin()
    article = await create(api, admin, title="Title", slug="my-address")
    assert article["slug"] == "my-address"
    renamed = await mutate(
        api, UPDATE, "updateArticle", admin["token"], id=article["id"], title="Other title"
    )
    assert renamed["article"]["slug"] == "my-address"


async def test_explicit_slug_change_keeps_the_old_one_redirecting(api, accounts):
    admin = await accounts.admin()
    article = await create(api, admin, title="Launch day")
    await publish(api, admin, article["id"])
    moved = await mutate(
        api, UPDATE, "updateArticle", admin["token"], id=article["id"], slug="launch"
    )
    assert moved["errors"] == [] and moved["article"]["slug"] == "launch"
    for slug in ("launch-day", "launch"):
        found = await by_slug(api, slug)  # anonymous
        assert found is not None and found["id"] == article["id"] and found["slug"] == "launch"
    # the old slugs are taken, as current slugs are, for explicit and generated slugs
    other = await create(api, admin, title="Launch day")
    assert other["slug"] == "launch-day-2"
    for taken in ("launch-day", "launch"):
        refused = await mutate(
            api, UPDATE, "updateArticle", admin["token"], id=other["id"], slug=taken
        )
        assert_payload_error(refused, "SLUG_TAKEN", ["input", "slug"])
        created = await mutate(
            api, CREATE, "createArticle", admin["token"], title="x", body="", slug=taken
        )
        assert_payload_error(created, "SLUG_TAKEN", ["input", "slug"])
    # an article may take one of its own old slugs back
    back = await mutate(
        api, UPDATE, "updateArticle", admin["token"], id=article["id"], slug="launch-day"
    )
    assert back["errors"] == [] and back["article"]["slug"] == "launch-day"
    for slug in ("launch-day", "launch"):
        found = await by_slug(api, slug)
        assert found is not None and found["slug"] == "launch-day"
    assert len(await everything(api, admin)) == 2


async def test_deleting_an_article_frees_its_slugs(api, accounts):
    admin = await accounts.admin()
    article = await create(api, admin, title="Gone soon")
    await publish(api, admin, article["id"])
    await mutate(api, UPDATE, "updateArticle", admin["token"], id=article["id"], slug="gone")
    deleted = await mutate(api, DELETE, "deleteArticle", admin["token"], id=article["id"])
    assert deleted == {"deletedArticleId": article["id"], "errors": []}
    for slug in ("gone-soon", "gone"):
        assert await by_slug(api, slug, admin["token"]) is None
    assert (await create(api, admin, title="Gone soon"))["slug"] == "gone-soon"
    assert (await create(api, admin, title="x", slug="gone"))["slug"] == "gone"


# --- validation --------------------------------------------------------------------------------


async def test_invalid_input_reports_every_error_and_creates_nothing(api, accounts):
    admin = await accounts.admin()
    payload = await mutate(
        api,
        CREATE,
        "createArticle",
        admin["token"],
        title="   ",
        summary="s" * 501,
        body="b" * 100_001,
        tags=[f"t{i}" for i in range(11)] + ["bad_tag!", "x" * 31, " "],
    )
    codes = sorted((e["code"], tuple(e["field"])) for e in payload["errors"])
    assert codes == sorted(
        [
            ("INVALID_TITLE", ("input", "title")),
            ("VALUE_TOO_LONG", ("input", "summary")),
            ("VALUE_TOO_LONG", ("input", "body")),
            ("INVALID_TAG", ("input", "tags", "11")),
            ("INVALID_TAG", ("input", "tags", "12")),
            ("INVALID_TAG", ("input", "tags", "13")),
            ("TOO_MANY_TAGS", ("input", "tags")),
        ]
    )
    assert payload["article"] is None
    assert await everything(api, admin) == []


async def test_limits_are_inclusive(api, accounts):
    admin = await accounts.admin()
    made = await create(
        api,
        admin,
        title="t" * 200,
        summary="s" * 500,
        body="b" * 100_000,
        tags=[f"tag-{i}" for i in range(10)] + ["tag-0", "TAG-1"],
    )
    assert len(made["tags"]) == 10 and len(made["body"]) == 100_000


@pytest.mark.parametrize(
    "slug", ["Upper", "two words", "a--b", "-a", "a-", "é", "a_b", "x" * 81, ""]
)
async def test_invalid_slugs(api, accounts, slug):
    admin = await accounts.admin()
    article = await create(api, admin)
    refused = await mutate(
        api, UPDATE, "updateArticle", admin["token"], id=article["id"], slug=slug
    )
    assert_payload_error(refused, "INVALID_SLUG", ["input", "slug"])
    created = await mutate(
        api, CREATE, "createArticle", admin["token"], title="t", body="", slug=slug
    )
    assert_payload_error(created, "INVALID_SLUG", ["input", "slug"])
    assert [a["slug"] for a in await everything(api, admin)] == [article["slug"]]


async def test_stale_edits_are_refused(api, accounts):
    admin = await accounts.admin()
    article = await create(api, admin)
    first = await mutate(
        api,
        UPDATE,
        "updateArticle",
        admin["token"],
        id=article["id"],
        title="One",
        expectedVersion=1,
    )
    assert first["errors"] == [] and first["article"]["version"] == 2
    before = await everything(api, admin)
    for document, name, extra in [
        (UPDATE, "updateArticle", {"title": "Two"}),
        (PUBLISH, "publishArticle", {}),
        (UNPUBLISH, "unpublishArticle", {}),
        (DELETE, "deleteArticle", {}),
    ]:
        stale = await mutate(
            api, document, name, admin["token"], id=article["id"], expectedVersion=1, **extra
        )
        assert_payload_error(stale, "STALE", ["input", "expectedVersion"])
    assert await everything(api, admin) == before


async def test_create_is_idempotent_with_a_client_mutation_id(api, accounts):
    admin = await accounts.admin()
    first = await create(api, admin, title="Once", clientMutationId="abc")
    again = await create(api, admin, title="Once", clientMutationId="abc")
    assert again["id"] == first["id"]
    assert len(await everything(api, admin)) == 1


async def covers(api: Any, accounts: Any, events: Any) -> dict[str, Any]:
    """An admin with an image and a document in their event, another user's image, and an
    article of the admin's with the image as its cover."""
    admin = await accounts.admin()
    other = await accounts.user()
    mine = await events.create(admin["token"])
    theirs = await events.create(other["token"])
    image, document = await uploaded(
        api, admin, mine["id"], [("a.png", samples.png()), ("b.pdf", samples.pdf())]
    )
    (foreign,) = await uploaded(api, other, theirs["id"], [("c.png", samples.png())])
    made = await create(api, admin, coverMediaId=image["id"])
    assert made["coverMediaId"] == image["id"]
    bad = {
        "a-document": document["id"],
        "another-users-image": foreign["id"],
        "an-event": mine["id"],
        "a-missing-media": "TWVkaWE6bm9wZQ==",  # "Media:nope"
    }
    return {"admin": admin, "image": image, "made": made, "bad": bad}


async def test_an_image_the_admin_uploaded_is_a_cover_that_can_be_cleared(api, accounts, events):
    c = await covers(api, accounts, events)
    cleared = await mutate(
        api, UPDATE, "updateArticle", c["admin"]["token"], id=c["made"]["id"], clearCover=True
    )
    assert cleared["article"]["coverMediaId"] is None
    assert len(await everything(api, c["admin"])) == 1


@pytest.mark.parametrize(
    "which", ["a-document", "another-users-image", "an-event", "a-missing-media"]
)
async def test_cover_must_be_an_image_the_admin_uploaded(api, accounts, events, which):
    c = await covers(api, accounts, events)
    admin, bad = c["admin"], c["bad"][which]
    refused = await mutate(
        api, CREATE, "createArticle", admin["token"], title="t", body="", coverMediaId=bad
    )
    assert_payload_error(refused, "INVALID_COVER", ["input", "coverMediaId"])
    changed = await mutate(
        api, UPDATE, "updateArticle", admin["token"], id=c["made"]["id"], coverMediaId=bad
    )
    assert_payload_error(changed, "INVALID_COVER", ["input", "coverMediaId"])
    assert len(await everything(api, admin)) == 1


# --- Markdown ----------------------------------------------------------------------------------


class _Html(HTMLParser):
    """Every tag and attribute (values with entities decoded) of an HTML fragment."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs += [(tag, name, value or "") for name, value in attrs]


def assert_safe(html: str) -> None:
    parsed = _Html()
    parsed.feed(html)
    parsed.close()
    assert "<script" not in html.lower()
    assert set(parsed.tags) <= {
        "p",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "em",
        "strong",
        "a",
        "ul",
        "ol",
        "li",
        "blockquote",
        "code",
        "pre",
        "hr",
        "br",
        "img",
        "del",
        "s",
        "table",
        "thead",
        "tbody",
        "tr",
        "th",
        "td",
    }, parsed.tags
    for tag, name, value in parsed.attrs:
        assert not name.lower().startswith("on"), (tag, name, value)
        assert name in {"href", "title", "rel", "src", "alt"}, (tag, name, value)
        compact = "".join(
            ch for ch in unquote(value).lower() if ch.isprintable() and not ch.isspace()
        )
        for scheme in ("javascript:", "vbscript:", "data:"):
            assert scheme not in compact, (tag, name, value)
        if name in ("href", "src"):
            found = re.match(r"^([a-z][a-z0-9+.-]*):", value.strip().lower())
            assert found is None or found.group(1) in ("http", "https", "mailto"), (
                tag,
                name,
                value,
            )


HOSTILE = {
    "script": "<script>alert(1)</script>",
    "script-mixed-case": "<ScRiPt>alert(1)</sCrIpT>",
    "img-onerror": "<img src=x onerror=alert(1)>",
    "md-link-javascript": "[x](javascript:alert(1))",
    "md-link-mixed-case": "[x](JaVaScRiPt:alert(1))",
    "md-link-entity": "[x](&#106;avascript:alert(1))",
    "md-link-hex-entity": "[x](&#x6A;avascript&#x3A;alert(1))",
    "md-link-tab": "[x](java\tscript:alert(1))",
    "md-link-encoded-tab": "[x](java&#9;script:alert(1))",
    "md-link-spaces": "[x](  javascript:alert(1)  )",
    "md-link-angle": "[x](<javascript:alert(1)>)",
    "md-reference": "[x][1]\n\n[1]: javascript:alert(1)",
    "md-image-javascript": "![x](javascript:alert(1))",
    "md-link-vbscript": "[x](vbscript:msgbox(1))",
    "md-link-data": "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "md-image-data": "![x](data:image/png;base64,iVBORw0KGgo=)",
    "md-image-svg-data": "![x](data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+)",
    "autolink": "<javascript:alert(1)>",
    "autolink-data": "<data:text/html,alert(1)>",
    "iframe": '<iframe src="https://evil.example"></iframe>',
    "svg-onload": "<svg onload=alert(1)>",
    "raw-a-javascript": '<a href="javascript:alert(1)">x</a>',
    "style": '<p style="background:url(javascript:alert(1))">x</p>',
    "details-ontoggle": "<details open ontoggle=alert(1)>x</details>",
    "link-title-quote": '[x](https://ok.example "a\\" onmouseover=\\"alert(1)")',
    "html-comment": "<!-- <script>alert(1)</script> -->",
    "object": '<object data="javascript:alert(1)"></object>',
}


@pytest.mark.parametrize("source", list(HOSTILE.values()), ids=list(HOSTILE))
async def test_hostile_markdown_is_sanitised(api, accounts, source):
    admin = await accounts.admin()
    article = await create(api, admin, body=f"Intro\n\n{source}\n\nOutro")
    assert article["body"] == f"Intro\n\n{source}\n\nOutro"  # the source is kept as written
    assert_safe(article["bodyHtml"])
    assert article["bodyHtml"].startswith("<p>Intro</p>")
    assert article["bodyHtml"].rstrip().endswith("<p>Outro</p>")


@pytest.mark.parametrize("source", list(HOSTILE.values()), ids=list(HOSTILE))
def test_the_sanitiser_alone_cleans_hostile_html(source):
    """The second layer holds even where the first (Markdown with raw HTML off) would not."""

    unsafe = MarkdownIt("commonmark", {"html": True}).render(source) + source
    assert_safe(sanitise(unsafe))


def test_sanitiser_drops_dangerous_markup():
    cleaned = sanitise(
        '<p onclick="x()" style="color:red">a <a href="javascript:alert(1)" '
        'onmouseover="y()">b</a> <img src="x" onerror="alert(1)"></p>'
        '<script>alert(1)</script><iframe src="https://x"></iframe>'
    )
    assert cleaned == '<p>a <a rel="nofollow noopener noreferrer">b</a> <img src="x"></p>'


def test_benign_markdown_renders():
    html = render(
        "# Title\n\n## Sub\n\nSome *em* and **strong** and `code` and ~~gone~~.\n\n"
        "- one\n- two\n\n1. first\n\n> quoted\n\n```python\nprint('<hi>')\n```\n\n"
        '[site](https://example.com "Ex") [mail](mailto:a@example.com) [rel](/about)'
        "\n\n![alt](https://example.com/a.png)\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n---"
    )
    for fragment in (
        "<h1>Title</h1>",
        "<h2>Sub</h2>",
        "<em>em</em>",
        "<strong>strong</strong>",
        "<code>code</code>",
        "<s>gone</s>",
        "<ul>\n<li>one</li>\n<li>two</li>\n</ul>",
        "<ol>\n<li>first</li>\n</ol>",
        "<blockquote>\n<p>quoted</p>\n</blockquote>",
        "<pre><code>print('&lt;hi&gt;')\n</code></pre>",
        ('<a href="https://example.com" title="Ex" rel="nofollow noopener noreferrer">site</a>'),
        '<a href="mailto:a@example.com" rel="nofollow noopener noreferrer">mail</a>',
        '<a href="/about" rel="nofollow noopener noreferrer">rel</a>',
        '<img src="https://example.com/a.png" alt="alt">',
        "<th>a</th>",
        "<td>2</td>",
        "<hr>",
    ):
        assert fragment in html, (fragment, html)
    assert_safe(html)


async def test_updating_the_body_renders_it_again(api, accounts):
    admin = await accounts.admin()
    article = await create(api, admin, body="*one*")
    updated = await mutate(
        api,
        UPDATE,
        "updateArticle",
        admin["token"],
        id=article["id"],
        body="**two** <script>x</script>",
    )
    assert (
        updated["article"]["bodyHtml"]
        == "<p><strong>two</strong> &lt;script&gt;x&lt;/script&gt;</p>\n"
    )


# --- visibility and scheduling -----------------------------------------------------------------


async def three_articles(api: Any, accounts: Any, clock: Any) -> dict[str, Any]:
    """An admin's draft, scheduled (tomorrow) and public articles, the admin and a user."""
    admin = await accounts.admin()
    user = await accounts.user()
    draft = await create(api, admin, title="Draft")
    scheduled = await create(api, admin, title="Scheduled")
    await publish(api, admin, scheduled["id"], clock.now + timedelta(days=1))
    public = await create(api, admin, title="Public")
    await publish(api, admin, public["id"])
    return {"admin": admin, "user": user, "draft": draft, "scheduled": scheduled, "public": public}


@pytest.mark.parametrize("viewer", ["anonymous", "user"])
@pytest.mark.parametrize("which", ["draft", "scheduled"])
async def test_drafts_and_scheduled_articles_are_for_admins_only(
    api, accounts, clock, viewer, which
):
    a = await three_articles(api, accounts, clock)
    token = a["user"]["token"] if viewer == "user" else None
    hidden = a[which]
    assert await by_slug(api, hidden["slug"], token) is None
    node = await api.execute(NODE, {"id": hidden["id"]}, token=token)
    assert node == {"data": {"node": None}}


@pytest.mark.parametrize("viewer", ["anonymous", "user"])
async def test_non_admins_see_the_public_article_only(api, accounts, clock, viewer):
    a = await three_articles(api, accounts, clock)
    token = a["user"]["token"] if viewer == "user" else None
    assert slugs(await listed(api, token)) == ["public"]
    seen = await api.execute(NODE, {"id": a["public"]["id"]}, token=token)
    assert seen["data"]["node"]["slug"] == "public"


async def test_a_missing_slug_answers_like_a_drafts(api, accounts, clock):
    a = await three_articles(api, accounts, clock)
    assert await by_slug(api, a["draft"]["slug"]) is None
    missing = await by_slug(api, "no-such-article")
    assert missing is None  # exactly what a draft's slug gets


async def test_admins_read_every_article_with_its_status(api, accounts, clock):
    a = await three_articles(api, accounts, clock)
    admin = a["admin"]
    statuses = {}
    for item in (a["draft"], a["scheduled"], a["public"]):
        found = await by_slug(api, item["slug"], admin["token"])
        assert found is not None
        statuses[item["slug"]] = found["status"]
        node = await api.execute(NODE, {"id": item["id"]}, token=admin["token"])
        assert node["data"]["node"]["id"] == item["id"]
    assert statuses == {"draft": "DRAFT", "scheduled": "SCHEDULED", "public": "PUBLISHED"}


async def test_the_public_list_is_the_public_list_for_admins_too(api, accounts, clock):
    a = await three_articles(api, accounts, clock)
    assert slugs(await listed(api, a["admin"]["token"])) == ["public"]


@pytest.mark.parametrize(
    ("status", "slug"), [("DRAFT", "draft"), ("SCHEDULED", "scheduled"), ("PUBLISHED", "public")]
)
async def test_the_admin_list_filters_by_status(api, accounts, clock, status, slug):
    a = await three_articles(api, accounts, clock)
    result = await api.execute(ADMIN_LIST, {"status": status}, token=a["admin"]["token"])
    assert [e["node"]["slug"] for e in result["data"]["adminArticles"]["edges"]] == [slug]


async def test_scheduled_publication_follows_the_clock_through_the_cache(
    api, accounts, clock, server
):
    admin = await accounts.admin()
    older = await create(api, admin, title="Older")
    await publish(api, admin, older["id"])
    article = await create(api, admin, title="Coming soon", tags=["launch"])
    at = clock.now + timedelta(hours=1)
    scheduled = await publish(api, admin, article["id"], at)
    assert scheduled["status"] == "SCHEDULED"
    assert datetime.fromisoformat(scheduled["publishedAt"]) == at
    # anonymous reads before: not visible, and these answers are now cached
    for _ in range(2):
        assert await by_slug(api, "coming-soon") is None
        assert slugs(await listed(api)) == ["older"]
        assert slugs(await listed(api, tag="launch")) == []
    assert [k async for k in server.deps.redis.scan_iter(match="iven:cache:articles:*")]
    clock.advance(minutes=59)
    assert await by_slug(api, "coming-soon") is None
    clock.advance(minutes=1)  # publishAt reached
    found = await by_slug(api, "coming-soon")
    assert found is not None and found["status"] == "PUBLISHED"
    assert slugs(await listed(api)) == ["coming-soon", "older"]
    assert slugs(await listed(api, tag="launch")) == ["coming-soon"]


async def test_publish_times(api, accounts, clock):
    admin = await accounts.admin()
    article = await create(api, admin)
    past = await mutate(
        api,
        PUBLISH,
        "publishArticle",
        admin["token"],
        id=article["id"],
        publishAt=(clock.now - timedelta(minutes=1)).isoformat(),
    )
    assert_payload_error(past, "INVALID_PUBLISH_AT", ["input", "publishAt"])
    assert (await everything(api, admin))[0]["status"] == "DRAFT"
    first = clock.now + timedelta(days=2)
    assert (await publish(api, admin, article["id"], first))["status"] == "SCHEDULED"
    second = clock.now + timedelta(hours=3)
    rescheduled = await publish(api, admin, article["id"], second)
    assert datetime.fromisoformat(rescheduled["publishedAt"]) == second
    clock.advance(hours=1)
    now = await publish(api, admin, article["id"])  # a scheduled one published at once
    assert now["status"] == "PUBLISHED"
    assert datetime.fromisoformat(now["publishedAt"]) == clock.now
    clock.advance(hours=1)
    again = await publish(api, admin, article["id"])  # already public: stays as it was
    assert again["publishedAt"] == now["publishedAt"]
    unpublished = await mutate(api, UNPUBLISH, "unpublishArticle", admin["token"], id=article["id"])
    assert unpublished["article"]["status"] == "DRAFT"
    assert unpublished["article"]["publishedAt"] is None
    assert await by_slug(api, article["slug"]) is None


# --- the public list ---------------------------------------------------------------------------


async def test_list_order_pagination_and_tags(api, accounts, clock):
    admin = await accounts.admin()
    made = []
    for n in range(5):
        article = await create(
            api, admin, title=f"Post {n}", tags=["python"] if n % 2 == 0 else ["web"]
        )
        await publish(api, admin, article["id"])
        made.append(article["slug"])
        clock.advance(minutes=1)
    same_time = await create(api, admin, title="Post tie", tags=["web"])
    await publish(api, admin, same_time["id"], clock.now + timedelta(seconds=1))
    tie = await create(api, admin, title="Post tie two")
    await publish(api, admin, tie["id"], clock.now + timedelta(seconds=1))
    clock.advance(seconds=1)
    expected = ["post-tie-two", "post-tie", *reversed(made)]  # newest first, then higher id
    assert slugs(await listed(api)) == expected
    seen: list[str] = []
    after = None
    for _ in range(4):
        page = await listed(api, first=2, after=after)
        seen += slugs(page)
        assert page["pageInfo"]["hasPreviousPage"] == (after is not None)
        after = page["pageInfo"]["endCursor"]
        if not page["pageInfo"]["hasNextPage"]:
            break
    assert seen == expected
    assert slugs(await listed(api, tag="python")) == ["post-4", "post-2", "post-0"]
    assert slugs(await listed(api, tag=" PYTHON ")) == ["post-4", "post-2", "post-0"]
    assert slugs(await listed(api, tag="nothing")) == []
    assert slugs(await listed(api, tag="not a valid tag!")) == []
    page = await listed(api, first=1, tag="web")
    assert slugs(page) == ["post-tie"] and page["pageInfo"]["hasNextPage"]
    assert slugs(await listed(api, first=5, tag="web", after=page["pageInfo"]["endCursor"])) == [
        "post-3",
        "post-1",
    ]
    assert_error(await api.execute(LIST, {"first": 101}), "BAD_USER_INPUT")
    assert_error(await api.execute(LIST, {"after": "nonsense"}), "BAD_USER_INPUT")
    assert slugs(await listed(api, first=100)) == expected


async def test_admin_list_newest_update_first_with_pages(api, accounts):
    admin = await accounts.admin()
    made = [await create(api, admin, title=f"A{n}") for n in range(3)]
    await mutate(api, UPDATE, "updateArticle", admin["token"], id=made[0]["id"], summary="new")
    result = await api.execute(ADMIN_LIST, {"first": 2}, token=admin["token"])
    page = result["data"]["adminArticles"]
    assert [e["node"]["slug"] for e in page["edges"]] == ["a0", "a2"]
    rest = await api.execute(
        ADMIN_LIST, {"first": 2, "after": page["pageInfo"]["endCursor"]}, token=admin["token"]
    )
    assert [e["node"]["slug"] for e in rest["data"]["adminArticles"]["edges"]] == ["a1"]


# --- the read cache ----------------------------------------------------------------------------


async def _statements(
    api: Any,
    caplog: Any,
    query: str,
    variables: dict[str, Any],
    operation: str,
    token: str | None = None,
) -> tuple[dict[str, Any], int]:
    caplog.clear()
    result = await api.execute(query, variables, token=token)
    assert "errors" not in result, result
    line = [r for r in caplog.records if getattr(r, "operation", None) == operation][-1]
    return result["data"], line.statements


async def test_anonymous_reads_are_served_from_redis(api, accounts, server, caplog):
    caplog.set_level(logging.INFO, logger="iven.graphql")
    admin = await accounts.admin()
    user = await accounts.user()
    for n in range(3):
        article = await create(api, admin, title=f"Cached {n}", tags=["t"])
        await publish(api, admin, article["id"])
    variables = {"first": 20}
    first, cold = await _statements(api, caplog, LIST, variables, "List")
    assert cold >= 1 and len(first["articles"]["edges"]) == 3
    keys = [k async for k in server.deps.redis.scan_iter(match="iven:cache:articles:*")]
    assert len(keys) == 1
    second, warm = await _statements(api, caplog, LIST, variables, "List")
    assert second == first and warm == 0  # no SQL at all
    decoded(server.deps).clear()  # the process's decoded copy gone: from Redis itself
    third, from_redis = await _statements(api, caplog, LIST, variables, "List")
    assert third == first and from_redis == 0
    one, cold_one = await _statements(api, caplog, BY_SLUG, {"slug": "cached-1"}, "BySlug")
    again, warm_one = await _statements(api, caplog, BY_SLUG, {"slug": "cached-1"}, "BySlug")
    assert again == one and one["article"]["title"] == "Cached 1"
    assert cold_one >= 1 and warm_one == 0  # the author comes from the per-process user cache
    # signed-in readers read MySQL and leave the cache alone
    for key in [k async for k in server.deps.redis.scan_iter(match="iven:cache:articles:*")]:
        await server.deps.redis.delete(key)
    signed_in, statements = await _statements(api, caplog, LIST, variables, "List", user["token"])
    assert signed_in == first and statements >= 1
    assert [k async for k in server.deps.redis.scan_iter(match="iven:cache:articles:*")] == []


async def test_every_change_invalidates_the_cache(api, accounts):
    admin = await accounts.admin()
    article = await create(api, admin, title="Before", tags=["a"])
    await publish(api, admin, article["id"])
    assert [e["node"]["title"] for e in (await listed(api))["edges"]] == ["Before"]
    assert (await by_slug(api, "before"))["title"] == "Before"  # type: ignore[index]

    await mutate(
        api, UPDATE, "updateArticle", admin["token"], id=article["id"], title="After", tags=["b"]
    )
    assert [e["node"]["title"] for e in (await listed(api))["edges"]] == ["After"]
    assert (await by_slug(api, "before"))["title"] == "After"  # type: ignore[index]
    assert slugs(await listed(api, tag="a")) == []
    assert slugs(await listed(api, tag="b")) == ["before"]

    await mutate(api, UNPUBLISH, "unpublishArticle", admin["token"], id=article["id"])
    assert slugs(await listed(api)) == []
    assert await by_slug(api, "before") is None

    await publish(api, admin, article["id"])
    assert slugs(await listed(api)) == ["before"]

    second = await create(api, admin, title="Second")
    await publish(api, admin, second["id"])
    assert set(slugs(await listed(api))) == {"before", "second"}

    await mutate(api, DELETE, "deleteArticle", admin["token"], id=article["id"])
    assert slugs(await listed(api)) == ["second"]
    assert await by_slug(api, "before") is None
    node = await api.execute(NODE, {"id": article["id"]}, token=admin["token"])
    assert node == {"data": {"node": None}}
    gone = await api.execute(
        UPDATE, {"input": {"id": article["id"], "title": "x"}}, token=admin["token"]
    )
    assert_error(gone, "NOT_FOUND")


async def test_without_redis_versions_reads_go_to_mysql(api, accounts, server, caplog):
    """Redis failing: Versions answers None; anonymous reads are answered from MySQL, uncached."""

    class Down:
        async def get_many(self, ids: list[Any]) -> list[int | None]:
            return [None] * len(ids)

        async def bump(self, ids: list[Any]) -> None:
            return None

    caplog.set_level(logging.INFO, logger="iven.graphql")
    admin = await accounts.admin()
    article = await create(api, admin, title="Still readable")
    await publish(api, admin, article["id"])
    original = article_cache.versions(server.deps)
    server.deps.services.article_versions = Down()
    try:
        for _ in range(2):
            data, statements = await _statements(api, caplog, LIST, {}, "List")
            assert slugs(data["articles"]) == ["still-readable"] and statements >= 1
        assert [k async for k in server.deps.redis.scan_iter(match="iven:cache:articles:*")] == []
        await mutate(
            api, UPDATE, "updateArticle", admin["token"], id=article["id"], title="Renamed"
        )
        data, _ = await _statements(api, caplog, LIST, {}, "List")
        assert data["articles"]["edges"][0]["node"]["title"] == "Renamed"
    finally:
        server.deps.services.article_versions = original
