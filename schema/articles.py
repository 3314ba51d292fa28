"""Articles: types, inputs, payloads, the public reads and the admins' mutations."""

from __future__ import annotations

import base64
import enum
from collections.abc import Iterable
from datetime import datetime
from weakref import WeakKeyDictionary

import strawberry
from strawberry import relay

from resolvers import articles as uc
from resolvers.articles import ArticleErrorCode
from resolvers.core.errors import BadRequest
from schema.accounts import User
from schema.context import Info
from schema.core import (
    CLIENT_MUTATION_ID,
    Connection,
    UserError,
    connection,
    cursor_int,
    decode_cursor,
    decode_document_id,
    decode_global_id,
    decode_node_keys,
    global_id,
    page_size,
    run,
)


@strawberry.enum(description="SCHEDULED: published with a time still to come.")
class ArticleStatus(enum.Enum):
    DRAFT = "DRAFT"
    SCHEDULED = "SCHEDULED"
    PUBLISHED = "PUBLISHED"


strawberry.enum(ArticleErrorCode)  # the GraphQL enum: one definition, in resolvers


@strawberry.type
class ArticleError(UserError):
    codes = ArticleErrorCode  # the enum of `code` (a class attribute, not a GraphQL field)
    code: ArticleErrorCode
    retry_after_seconds: int | None = None


@strawberry.type(
    description="A news article, written in Markdown by administrators. Anyone "
    "reads the published ones; drafts and scheduled ones only admins."
)
class Article(relay.Node):
    """Plain fields, built once per article (graphql-core reads attributes)."""

    view: strawberry.Private[uc.ArticleView]
    slug: str = strawberry.field(
        description="Its current address; `article(slug:)` also "
        "answers to the old ones, which redirect here."
    )
    title: str
    summary: str
    body: str = strawberry.field(description="The Markdown source.")
    body_html: str = strawberry.field(
        description="The body rendered to HTML and sanitised "
        "(no scripts, event handlers or unsafe links)."
    )
    tags: list[str] = strawberry.field(description="Lower-case, in alphabetical order.")
    status: ArticleStatus
    published_at: datetime | None = strawberry.field(
        description="When it became (or becomes, if SCHEDULED) public; null for a draft."
    )
    cover_media_id: strawberry.ID | None = strawberry.field(
        description="The cover image (a Media id), if any."
    )
    created_at: datetime
    updated_at: datetime
    version: int = strawberry.field(description="For `expectedVersion`.")

    @classmethod
    def resolve_id(cls, root: Article, *, info: Info) -> str:
        return str(root.view.id)

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Article | None]:
        ids = decode_node_keys(node_ids)
        found = await uc.articles_by_ids(info.context.deps, info.context.viewer_or_none(), ids)
        now = info.context.deps.clock()
        return [_article_of(v, now) if v is not None else None for v in found]

    @strawberry.field(description="Who wrote it (null if their account is gone).")
    async def author(self, info: Info) -> User | None:
        if self.view.author_id is None:
            return None
        row = await info.context.loaders.user_by_id.load(self.view.author_id)
        return User(row=row) if row is not None else None


def _article_of(view: uc.ArticleView, now: datetime) -> Article:
    return Article(
        view=view,
        slug=view.slug,
        title=view.title,
        summary=view.summary,
        body=view.body,
        body_html=view.body_html,
        tags=list(view.tags),
        status=ArticleStatus(view.shown_status(now)),
        published_at=view.published_at,
        cover_media_id=global_id("Media", view.cover_media_id) if view.cover_media_id else None,
        created_at=view.created_at,
        updated_at=view.updated_at,
        version=view.version,
    )


def _articles(info: Info, views: list[uc.ArticleView]) -> list[Article]:
    now = info.context.deps.clock()
    return [_article_of(v, now) for v in views]


def _article_id(gid: relay.GlobalID) -> int:
    """The article's database id; another type's id is 0, which no article has: NOT_FOUND,
    after the admin check (like any id you may not see)."""
    return decode_global_id(gid, "Article")


def _media_id(gid: relay.GlobalID | None) -> str | None:
    """The media's document id; an id of another type is no media (INVALID_COVER)."""
    if gid is None:
        return None
    return decode_document_id(gid, "Media")


def _time_cursor(after: str | None) -> tuple[datetime, int] | None:
    """A (time, article id) cursor; a malformed one is BAD_USER_INPUT."""
    parts = decode_cursor(after, arity=2)
    if parts is None:
        return None
    try:
        at = datetime.fromisoformat(str(parts[0]))
        article_id = cursor_int(parts[1])
    except (TypeError, ValueError):
        raise BadRequest("Invalid cursor.") from None
    if at.tzinfo is None:
        raise BadRequest("Invalid cursor.")
    return at, article_id


# --- inputs and payloads -----------------------------------------------------------------------


@strawberry.input
class CreateArticleInput:
    title: str
    body: str = strawberry.field(description="Markdown (raw HTML is shown as text).")
    slug: str | None = strawberry.field(
        default=None, description="Made from the title when not given."
    )
    summary: str = ""
    tags: list[str] = strawberry.field(default_factory=list)
    cover_media_id: relay.GlobalID | None = strawberry.field(
        default=None, description="An image you uploaded."
    )
    client_mutation_id: str | None = strawberry.field(default=None, description=CLIENT_MUTATION_ID)


@strawberry.input
class UpdateArticleInput:
    id: relay.GlobalID
    title: str | None = None
    slug: str | None = strawberry.field(
        default=None,
        description="Once the article was published, the old slug keeps leading to it.",
    )
    summary: str | None = None
    body: str | None = None
    tags: list[str] | None = strawberry.field(default=None, description="Replaces the tags.")
    cover_media_id: relay.GlobalID | None = None
    clear_cover: bool = False
    expected_version: int | None = None


@strawberry.input
class PublishArticleInput:
    id: relay.GlobalID
    publish_at: datetime | None = strawberry.field(
        default=None, description="A time to come (scheduled publication); none: now."
    )
    expected_version: int | None = None


@strawberry.input
class ArticleRefInput:
    id: relay.GlobalID
    expected_version: int | None = None


@strawberry.type
class ArticlePayload:
    article: Article | None
    errors: list[ArticleError]


@strawberry.type
class DeleteArticlePayload:
    deleted_article_id: relay.GlobalID | None
    errors: list[ArticleError]


def _payload(info: Info, view: uc.ArticleView | None, errors: list[ArticleError]) -> ArticlePayload:
    if view is None:
        return ArticlePayload(article=None, errors=errors)
    return ArticlePayload(article=_article_of(view, info.context.deps.clock()), errors=errors)


# --- fields ------------------------------------------------------------------------------------


@strawberry.type
class ArticleQuery:
    @strawberry.field(
        description="Published articles, newest first (no account needed). "
        "`tag` keeps those with that tag."
    )
    async def articles(
        self, info: Info, first: int | None = 20, after: str | None = None, tag: str | None = None
    ) -> Connection[Article]:
        size = page_size(first)
        cursor = _time_cursor(after)
        page = await uc.public_articles(
            info.context.deps,
            info.context.viewer_or_none(),
            limit=size + 1,
            after=cursor,
            after_key=after or "",
            tag=tag,
        )
        # Anonymous pages come from the read cache, the same page object for every request
        # this process serves from it: build the connection once per page. Every article of a
        # public page is PUBLISHED (a change makes a new page), so it holds no per-request state.
        built = _BUILT_PAGES.setdefault(page, {})
        found = built.get(size)
        if found is None:
            found = built[size] = connection(
                _articles(info, page), size, _public_cursor, has_previous=cursor is not None
            )
        return found

    @strawberry.field(
        description="A published article by its slug or one of its old slugs "
        "(compare with `slug` to redirect); drafts and scheduled "
        "ones for admins only, null for others."
    )
    async def article(self, info: Info, slug: str) -> Article | None:
        view = await uc.article_by_slug(info.context.deps, info.context.viewer_or_none(), slug)
        return _article_of(view, info.context.deps.clock()) if view is not None else None

    @strawberry.field(description="Admins only. Every article, most recently updated first.")
    async def admin_articles(
        self,
        info: Info,
        first: int | None = 20,
        after: str | None = None,
        status: ArticleStatus | None = None,
    ) -> Connection[Article]:
        size = page_size(first)
        cursor = _time_cursor(after)
        views = await uc.admin_articles(
            info.context.deps,
            info.context.viewer_or_none(),
            limit=size + 1,
            after=cursor,
            status=status.value if status else None,
        )
        return connection(
            _articles(info, views),
            size,
            lambda a: _time_id_cursor(a.view.updated_at, a.view.id),
            has_previous=cursor is not None,
        )


def _time_id_cursor(at: datetime | None, article_id: int) -> str:
    """`encode_cursor(at.isoformat(), article_id)` without its JSON encoder: a page makes 20
    of them, and an ISO time needs no escaping."""
    assert at is not None
    raw = f'["{at.isoformat()}",{article_id}]'.encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


# Connections built from a cached page, kept while the page is (weakly: they go with it).
_BUILT_PAGES: WeakKeyDictionary[uc.ArticlePage, dict[int, Connection[Article]]] = (
    WeakKeyDictionary()
)


def _public_cursor(a: Article) -> str:
    return _time_id_cursor(a.view.published_at, a.view.id)


@strawberry.type
class ArticleMutation:
    @strawberry.mutation(
        description="Admins only. A draft; its slug comes from the title unless given."
    )
    async def create_article(self, info: Info, input: CreateArticleInput) -> ArticlePayload:
        return _payload(
            info,
            *await run(
                ArticleError,
                uc.create_article(
                    info.context.deps,
                    info.context.viewer_or_none(),
                    uc.ArticleData(
                        title=input.title,
                        slug=input.slug,
                        summary=input.summary,
                        body=input.body,
                        tags=input.tags,
                        cover_media_id=_media_id(input.cover_media_id),
                    ),
                    input.client_mutation_id,
                ),
            ),
        )

    @strawberry.mutation(
        description="Admins only. Only the fields given change. A draft never "
        "published follows its title with its slug; after that "
        "the slug stays unless changed explicitly."
    )
    async def update_article(self, info: Info, input: UpdateArticleInput) -> ArticlePayload:
        return _payload(
            info,
            *await run(
                ArticleError,
                uc.update_article(
                    info.context.deps,
                    info.context.viewer_or_none(),
                    _article_id(input.id),
                    uc.ArticleData(
                        title=input.title,
                        slug=input.slug,
                        summary=input.summary,
                        body=input.body,
                        tags=input.tags,
                        cover_media_id=_media_id(input.cover_media_id),
                        clear_cover=input.clear_cover,
                    ),
                    input.expected_version,
                ),
            ),
        )

    @strawberry.mutation(
        description="Admins only. Public now, or SCHEDULED until `publishAt`; "
        "a scheduled article given a new time is rescheduled."
    )
    async def publish_article(self, info: Info, input: PublishArticleInput) -> ArticlePayload:
        return _payload(
            info,
            *await run(
                ArticleError,
                uc.publish_article(
                    info.context.deps,
                    info.context.viewer_or_none(),
                    _article_id(input.id),
                    input.publish_at,
                    input.expected_version,
                ),
            ),
        )

    @strawberry.mutation(description="Admins only. Back to DRAFT; the slug stays.")
    async def unpublish_article(self, info: Info, input: ArticleRefInput) -> ArticlePayload:
        return _payload(
            info,
            *await run(
                ArticleError,
                uc.unpublish_article(
                    info.context.deps,
                    info.context.viewer_or_none(),
                    _article_id(input.id),
                    input.expected_version,
                ),
            ),
        )

    @strawberry.mutation(description="Admins only. For good, with its old slugs.")
    async def delete_article(self, info: Info, input: ArticleRefInput) -> DeleteArticlePayload:
        _, errors = await run(
            ArticleError,
            uc.delete_article(
                info.context.deps,
                info.context.viewer_or_none(),
                _article_id(input.id),
                input.expected_version,
            ),
        )
        return DeleteArticlePayload(deleted_article_id=None if errors else input.id, errors=errors)
