"""Articles: types, inputs, payloads, the public reads and the admins' mutations."""

from __future__ import annotations

import base64
import enum
from collections.abc import Iterable
from datetime import datetime
from typing import Annotated
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
    PAGE_AFTER,
    PAGE_FIRST,
    Connection,
    UserError,
    connection,
    cursor_int,
    decode_cursor,
    decode_document_id,
    decode_global_id,
    decode_node_keys,
    documented_enum,
    global_id,
    page_size,
    run,
)

ADMINS_ONLY = "Admins only (UNAUTHENTICATED without a session, FORBIDDEN for anyone else)."
ARTICLE_ID = "The article (an Article id); an unknown one is a top-level NOT_FOUND error."
EXPECTED_VERSION = (
    "The article `version` you read: if it changed since, nothing is changed and STALE comes "
    "back. Null: act whatever changed."
)
# the limits of resolvers/articles.py, as the API tells them
TITLE_RULE = "One line, 1 to 200 characters once trimmed."
SLUG_RULE = (
    "Lower-case letters, digits and single hyphens, at most 80 characters; unique among the "
    "current and old slugs of every article (SLUG_TAKEN)."
)
SUMMARY_RULE = "Plain text, up to 500 characters; newlines are kept."
BODY_RULE = "Markdown, up to 100,000 characters (raw HTML is shown as text)."
TAGS_RULE = (
    "Up to 10 tags of 1 to 30 characters: a-z, 0-9 and '-' (lower-cased first, spaces become "
    "hyphens; duplicates are dropped)."
)
COVER_RULE = "An image you uploaded yourself (a Media id); INVALID_COVER otherwise."
ERRORS = "Why nothing was changed; empty on success."


class ArticleStatus(enum.Enum):
    DRAFT = "DRAFT"
    SCHEDULED = "SCHEDULED"
    PUBLISHED = "PUBLISHED"


documented_enum(
    ArticleStatus,
    {
        ArticleStatus.DRAFT: "Not public: only admins see it (new, or unpublished).",
        ArticleStatus.SCHEDULED: "Published with a time still to come: public from "
        "`publishedAt` on, seen only by admins until then.",
        ArticleStatus.PUBLISHED: "Public: anyone can read it, without an account.",
    },
    description="Where an article stands at the time of the request: DRAFT → (publishArticle) "
    "SCHEDULED or PUBLISHED; a SCHEDULED article becomes PUBLISHED by itself at its time; "
    "`unpublishArticle` sends it back to DRAFT.",
)

documented_enum(  # one definition: resolvers.articles
    ArticleErrorCode,
    {
        ArticleErrorCode.REQUIRED: "Not returned through the API today: `title` is a "
        "required field of CreateArticleInput (a blank one is INVALID_TITLE).",
        ArticleErrorCode.INVALID_INPUT: "Text with control characters (`title` is one line; "
        "`summary` and `body` keep newlines and tabs only), or a `clientMutationId` that is "
        "blank or longer than 100 characters.",
        ArticleErrorCode.INVALID_TITLE: "`title` is blank or longer than 200 characters once "
        "trimmed.",
        ArticleErrorCode.INVALID_SLUG: "`slug` is not lower-case letters, digits and single "
        "hyphens, or is longer than 80 characters.",
        ArticleErrorCode.SLUG_TAKEN: "Another article uses this slug, as its current address "
        "or an old one.",
        ArticleErrorCode.VALUE_TOO_LONG: "`summary` is longer than 500 characters, or `body` "
        "longer than 100,000.",
        ArticleErrorCode.INVALID_TAG: "A tag is not 1 to 30 of a-z, 0-9 and '-'; `field` "
        "ends with its position in `tags`.",
        ArticleErrorCode.TOO_MANY_TAGS: "More than 10 distinct tags.",
        ArticleErrorCode.INVALID_COVER: "`coverMediaId` is not an image you uploaded yourself.",
        ArticleErrorCode.INVALID_PUBLISH_AT: "`publishAt` is in the past or has no UTC offset "
        "(publishArticle).",
        ArticleErrorCode.STALE: "`expectedVersion` is not the article's current version: "
        "someone changed it since you read it; reload it.",
        ArticleErrorCode.DUPLICATE_REQUEST: "This `clientMutationId` was already used for "
        "other arguments, or too long ago, or what it created is gone (createArticle).",
    },
    description="Why an article mutation changed nothing (`ArticleError.code`).",
)


@strawberry.type(description="An expected failure of an article mutation: nothing was changed.")
class ArticleError(UserError):
    codes = ArticleErrorCode  # the enum of `code` (a class attribute, not a GraphQL field)
    # described on each error type itself (the UserError interface belongs to the kit)
    message: str = strawberry.field(
        description="What went wrong, in English, fit to show to the user as it is."
    )
    code: ArticleErrorCode = strawberry.field(description="What went wrong, for your code.")
    retry_after_seconds: int | None = strawberry.field(
        default=None,
        description="Always null: article mutations are not rate-limited.",
    )


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
    title: str = strawberry.field(description="Its title: one line, 1 to 200 characters.")
    summary: str = strawberry.field(
        description="A short plain-text introduction, up to 500 characters (may be empty)."
    )
    body: str = strawberry.field(description="The Markdown source, up to 100,000 characters.")
    body_html: str = strawberry.field(
        description="The body rendered to HTML and sanitised "
        "(no scripts, event handlers or unsafe links)."
    )
    tags: list[str] = strawberry.field(
        description="Up to 10 tags, lower-case, in alphabetical order."
    )
    status: ArticleStatus = strawberry.field(description="Where it stands, as of now.")
    published_at: datetime | None = strawberry.field(
        description="When it became (or becomes, if SCHEDULED) public; null for a draft."
    )
    cover_media_id: strawberry.ID | None = strawberry.field(
        description="The cover image (a Media id), if any."
    )
    created_at: datetime = strawberry.field(description="When it was created.")
    updated_at: datetime = strawberry.field(
        description="When it was last changed (edited, published or unpublished)."
    )
    version: int = strawberry.field(
        description="Its version: it grows with every change; send it as `expectedVersion`."
    )

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


@strawberry.input(
    description="A new article, created as a DRAFT. Every problem is reported at once."
)
class CreateArticleInput:
    title: str = strawberry.field(description=TITLE_RULE)
    body: str = strawberry.field(description=BODY_RULE)
    slug: str | None = strawberry.field(
        default=None,
        description="Its address. " + SLUG_RULE + " Null: made from the title (with -2, -3... "
        "when taken).",
    )
    summary: str = strawberry.field(default="", description=SUMMARY_RULE)
    tags: list[str] = strawberry.field(default_factory=list, description=TAGS_RULE)
    cover_media_id: relay.GlobalID | None = strawberry.field(default=None, description=COVER_RULE)
    client_mutation_id: str | None = strawberry.field(default=None, description=CLIENT_MUTATION_ID)


@strawberry.input(
    description="Changes to an article: only the fields given change. Every problem is "
    "reported at once."
)
class UpdateArticleInput:
    id: relay.GlobalID = strawberry.field(description=ARTICLE_ID)
    title: str | None = strawberry.field(
        default=None,
        description=TITLE_RULE + " A draft never published, whose slug was not chosen, gets a "
        "new slug from it.",
    )
    slug: str | None = strawberry.field(
        default=None,
        description=SLUG_RULE + " Once the article was published, the old slug keeps leading "
        "to it.",
    )
    summary: str | None = strawberry.field(default=None, description=SUMMARY_RULE)
    body: str | None = strawberry.field(default=None, description=BODY_RULE)
    tags: list[str] | None = strawberry.field(
        default=None, description="Replaces the tags. " + TAGS_RULE
    )
    cover_media_id: relay.GlobalID | None = strawberry.field(
        default=None, description="A new cover. " + COVER_RULE
    )
    clear_cover: bool = strawberry.field(
        default=False, description="True removes the cover (and ignores `coverMediaId`)."
    )
    expected_version: int | None = strawberry.field(default=None, description=EXPECTED_VERSION)


@strawberry.input(description="An article to make public, now or at a time to come.")
class PublishArticleInput:
    id: relay.GlobalID = strawberry.field(description=ARTICLE_ID)
    publish_at: datetime | None = strawberry.field(
        default=None,
        description="A time to come, with its UTC offset: the article stays SCHEDULED until "
        "then. Null: public now (an article already public keeps its publication time).",
    )
    expected_version: int | None = strawberry.field(default=None, description=EXPECTED_VERSION)


@strawberry.input(description="An article to unpublish or delete.")
class ArticleRefInput:
    id: relay.GlobalID = strawberry.field(description=ARTICLE_ID)
    expected_version: int | None = strawberry.field(default=None, description=EXPECTED_VERSION)


@strawberry.type(
    description="The result of `createArticle`, `updateArticle`, `publishArticle` or "
    "`unpublishArticle`."
)
class ArticlePayload:
    article: Article | None = strawberry.field(
        description="The article as it is now; null on error."
    )
    errors: list[ArticleError] = strawberry.field(description=ERRORS)


@strawberry.type(description="The result of `deleteArticle`.")
class DeleteArticlePayload:
    deleted_article_id: relay.GlobalID | None = strawberry.field(
        description="The id of the deleted article; null on error."
    )
    errors: list[ArticleError] = strawberry.field(description=ERRORS)


def _payload(info: Info, view: uc.ArticleView | None, errors: list[ArticleError]) -> ArticlePayload:
    if view is None:
        return ArticlePayload(article=None, errors=errors)
    return ArticlePayload(article=_article_of(view, info.context.deps.clock()), errors=errors)


# --- fields ------------------------------------------------------------------------------------


@strawberry.type
class ArticleQuery:
    @strawberry.field(
        description="Published articles, most recently published first; anyone may read them, "
        "no account needed."
    )
    async def articles(
        self,
        info: Info,
        first: Annotated[int | None, strawberry.argument(description=PAGE_FIRST)] = 20,
        after: Annotated[str | None, strawberry.argument(description=PAGE_AFTER)] = None,
        tag: Annotated[
            str | None,
            strawberry.argument(
                description="Keeps the articles with this tag (lower-cased first, spaces as "
                "hyphens); a tag no article can have gives an empty page."
            ),
        ] = None,
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
    async def article(
        self,
        info: Info,
        slug: Annotated[
            str, strawberry.argument(description="Its current slug or one of its old ones.")
        ],
    ) -> Article | None:
        view = await uc.article_by_slug(info.context.deps, info.context.viewer_or_none(), slug)
        return _article_of(view, info.context.deps.clock()) if view is not None else None

    @strawberry.field(
        description="Every article, drafts and scheduled ones included, most recently updated "
        "first. " + ADMINS_ONLY
    )
    async def admin_articles(
        self,
        info: Info,
        first: Annotated[int | None, strawberry.argument(description=PAGE_FIRST)] = 20,
        after: Annotated[str | None, strawberry.argument(description=PAGE_AFTER)] = None,
        status: Annotated[
            ArticleStatus | None,
            strawberry.argument(description="Keeps the articles in this status (as of now)."),
        ] = None,
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
        description="Creates a DRAFT article; its slug comes from the title unless given. "
        + ADMINS_ONLY
        + " Errors: INVALID_TITLE, INVALID_SLUG, SLUG_TAKEN, VALUE_TOO_LONG, INVALID_INPUT, "
        "INVALID_TAG, TOO_MANY_TAGS, INVALID_COVER, DUPLICATE_REQUEST."
    )
    async def create_article(
        self,
        info: Info,
        input: Annotated[CreateArticleInput, strawberry.argument(description="The article.")],
    ) -> ArticlePayload:
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
        description="Edits an article: only the fields given change. A draft never published "
        "follows its title with its slug; after that the slug stays unless changed explicitly. "
        + ADMINS_ONLY
        + " An unknown id is a top-level NOT_FOUND error. Errors: INVALID_TITLE, INVALID_SLUG, "
        "SLUG_TAKEN, VALUE_TOO_LONG, INVALID_INPUT, INVALID_TAG, TOO_MANY_TAGS, INVALID_COVER, "
        "STALE."
    )
    async def update_article(
        self,
        info: Info,
        input: Annotated[
            UpdateArticleInput, strawberry.argument(description="The article and its changes.")
        ],
    ) -> ArticlePayload:
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
        description="Makes an article public now, or SCHEDULED until `publishAt`; a scheduled "
        "article given a new time is rescheduled. Its slug no longer follows its title. "
        + ADMINS_ONLY
        + " An unknown id is a top-level NOT_FOUND error. Errors: INVALID_PUBLISH_AT, STALE."
    )
    async def publish_article(
        self,
        info: Info,
        input: Annotated[
            PublishArticleInput, strawberry.argument(description="The article and when.")
        ],
    ) -> ArticlePayload:
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

    @strawberry.mutation(
        description="Sends a public or scheduled article back to DRAFT; the slug stays. "
        + ADMINS_ONLY
        + " An unknown id is a top-level NOT_FOUND error. Errors: STALE."
    )
    async def unpublish_article(
        self,
        info: Info,
        input: Annotated[ArticleRefInput, strawberry.argument(description="The article.")],
    ) -> ArticlePayload:
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

    @strawberry.mutation(
        description="Deletes an article for good, with its tags and old slugs. "
        + ADMINS_ONLY
        + " An unknown id is a top-level NOT_FOUND error. Errors: STALE."
    )
    async def delete_article(
        self,
        info: Info,
        input: Annotated[ArticleRefInput, strawberry.argument(description="The article.")],
    ) -> DeleteArticlePayload:
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
