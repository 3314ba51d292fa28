"""Article use cases: admins write, publish (now or at a time) and unpublish; anyone reads what
is public.

- Every mutation starts with `require_admin` and writes its audit entry in its own unit of work.
- Public = stored PUBLISHED with `published_at` <= `deps.clock()`; a PUBLISHED article whose
  time is ahead is SCHEDULED. Nothing runs at that time: visibility is decided at each read.
- Slugs come from the title until the first publication (unless one was given); from then on
  they stay, and an explicit change keeps the old slug answering `article(slug:)`.
- Anonymous reads go through the Redis read cache (`iven:cache:articles:*`), stamped with the
  "articles" version read *before* the data and bumped *after* every committed change. An entry
  also stops being used when the next scheduled article becomes public (`stale_at`), so the
  cache never hides a publication. Signed-in readers (maybe admins) always read MySQL.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field, fields
from datetime import datetime
from enum import StrEnum
from typing import Any, TypeVar

from sqlalchemy.exc import IntegrityError

from resolvers import article_cache as cache
from resolvers.accounts import is_admin, require_admin
from resolvers.admin import audit
from resolvers.core import idempotency
from resolvers.core.deps import Deps, Viewer
from resolvers.core.errors import DomainError, DomainErrors, NotFound
from resolvers.core.text import (
    checked_text,
    checked_title,
    control_error,
    has_control_characters,
    normalised_text,
)
from resolvers.markdown import render
from stores import articles as store
from stores import media as media_store
from stores.accounts import User
from stores.articles import Article, ArticleStatus

TITLE_MAX = 200
SUMMARY_MAX = 500
BODY_MAX = 100_000
SLUG_MAX = 80
SUFFIX_MAX = 6  # "-99999"
TAGS_MAX = 10
TAG_MAX = 30
SLUG_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
TAG_RE = re.compile(r"^[a-z0-9-]+$")
T = TypeVar("T")
TARGET = "ARTICLE"  # audit target type
WRITE_ATTEMPTS = 3  # a slug taken between the check and the insert: compute it again


# --- the domain object -------------------------------------------------------------------------


class ArticleErrorCode(StrEnum):
    """What article mutations report in `errors`."""

    REQUIRED = "REQUIRED"
    INVALID_INPUT = "INVALID_INPUT"
    INVALID_TITLE = "INVALID_TITLE"
    INVALID_SLUG = "INVALID_SLUG"
    SLUG_TAKEN = "SLUG_TAKEN"
    VALUE_TOO_LONG = "VALUE_TOO_LONG"
    INVALID_TAG = "INVALID_TAG"
    TOO_MANY_TAGS = "TOO_MANY_TAGS"
    INVALID_COVER = "INVALID_COVER"
    INVALID_PUBLISH_AT = "INVALID_PUBLISH_AT"
    STALE = "STALE"
    DUPLICATE_REQUEST = "DUPLICATE_REQUEST"


@dataclass(frozen=True)
class ArticleView:
    """An article as read (from MySQL or from the cache), with its tags."""

    id: int
    slug: str
    title: str
    summary: str
    body: str
    body_html: str
    status: str  # stored: DRAFT | PUBLISHED
    published_at: datetime | None
    first_published_at: datetime | None
    cover_media_id: str | None
    author_id: int | None
    created_at: datetime
    updated_at: datetime
    version: int
    tags: tuple[str, ...] = field(default=())

    @classmethod
    def of(cls, row: Any, tags: list[str]) -> ArticleView:
        """From an Article or a plain row of the articles table."""
        return cls(
            **{f.name: getattr(row, f.name) for f in fields(cls) if f.name != "tags"},
            tags=tuple(tags),
        )

    def public_at(self, now: datetime) -> bool:
        return (
            self.status == ArticleStatus.PUBLISHED.value
            and self.published_at is not None
            and self.published_at <= now
        )

    def shown_status(self, now: datetime) -> str:
        """DRAFT, SCHEDULED or PUBLISHED, as the API shows it at `now`."""
        if self.status != ArticleStatus.PUBLISHED.value:
            return "DRAFT"
        return "PUBLISHED" if self.public_at(now) else "SCHEDULED"

    def to_cached(self) -> dict[str, Any]:
        value = {f.name: getattr(self, f.name) for f in fields(self)}
        for name in ("published_at", "first_published_at", "created_at", "updated_at"):
            value[name] = cache.iso(value[name])
        value["tags"] = list(self.tags)
        return value

    @classmethod
    def from_cached(cls, data: dict[str, Any]) -> ArticleView:
        value = dict(data)
        for name in ("published_at", "first_published_at", "created_at", "updated_at"):
            value[name] = cache.parse_time(value[name])
        value["tags"] = tuple(value["tags"])
        return cls(**value)


class ArticlePage(list[ArticleView]):
    """Articles of a page. The anonymous read cache hands the very same page to every request
    it serves from this process (a list subclass, so it can be weakly referenced by what the
    schema builds from it)."""

    __hash__ = object.__hash__  # type: ignore[assignment]  # by identity: weak mapping keys


# --- validation --------------------------------------------------------------------------------


@dataclass
class ArticleData:
    """What a create or an update gives; None leaves a field as it is."""

    title: str | None = None
    slug: str | None = None
    summary: str | None = None
    body: str | None = None
    tags: list[str] | None = None
    cover_media_id: str | None = None
    clear_cover: bool = False


def slugify(title: str) -> str:
    """ASCII-folded, lower-case, runs of anything else as one hyphen, at most 80 characters."""
    folded = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode().lower()
    slug = re.sub(r"[^a-z0-9]+", "-", folded).strip("-")[:SLUG_MAX].rstrip("-")
    return slug or "article"


def _with_suffix(base: str, n: int) -> str:
    if n == 1:
        return base
    suffix = f"-{n}"
    return base[: SLUG_MAX - len(suffix)].rstrip("-") + suffix


def normalised_tag(value: str) -> str:
    return re.sub(r"\s+", "-", value.strip().lower())


def _checked_tags(values: list[str], errors: list[DomainError]) -> list[str]:
    tags: list[str] = []
    for n, value in enumerate(values):
        tag = normalised_tag(value)
        if not tag or len(tag) > TAG_MAX or not TAG_RE.match(tag):
            errors.append(
                DomainError(
                    ArticleErrorCode.INVALID_TAG,
                    f"1 to {TAG_MAX} of a-z, 0-9 and '-'.",
                    ["tags", str(n)],
                )
            )
        elif tag not in tags:
            tags.append(tag)
    if len(tags) > TAGS_MAX:
        errors.append(
            DomainError(ArticleErrorCode.TOO_MANY_TAGS, f"At most {TAGS_MAX} tags.", "tags")
        )
    return tags


def _checked(data: ArticleData) -> tuple[ArticleData, list[DomainError]]:
    """The normalised data and every validation error of it."""
    errors: list[DomainError] = []
    clean = ArticleData(cover_media_id=data.cover_media_id, clear_cover=data.clear_cover)
    if data.title is not None:
        clean.title = checked_title(data.title, errors, max_len=TITLE_MAX)
    if data.slug is not None:
        clean.slug = data.slug.strip()
        if len(clean.slug) > SLUG_MAX or not SLUG_RE.match(clean.slug):
            errors.append(
                DomainError(
                    ArticleErrorCode.INVALID_SLUG,
                    f"Lower-case letters, digits and single hyphens, at most "
                    f"{SLUG_MAX} characters.",
                    "slug",
                )
            )
    if data.summary is not None:
        clean.summary = checked_text(data.summary, errors, max_len=SUMMARY_MAX, field="summary")
    if data.body is not None:
        if len(data.body) > BODY_MAX:
            errors.append(
                DomainError(
                    ArticleErrorCode.VALUE_TOO_LONG, f"At most {BODY_MAX} characters.", "body"
                )
            )
        elif has_control_characters(data.body, multiline=True):
            errors.append(control_error("body", multiline=True))
        clean.body = normalised_text(data.body)
    if data.tags is not None:
        clean.tags = _checked_tags(data.tags, errors)
    return clean, errors


async def _check_cover(media_id: str, actor: User, errors: list[DomainError]) -> None:
    """An image the acting admin uploaded."""
    media = (await media_store.media_by_ids([media_id]))[0] if len(media_id) == 24 else None
    if (
        media is None
        or media.kind != "IMAGE"
        or not media.mime_type.startswith("image/")
        or media.uploader_user_id != actor.id
    ):
        errors.append(
            DomainError(
                ArticleErrorCode.INVALID_COVER, "Choose an image you uploaded.", "coverMediaId"
            )
        )


async def _validated(data: ArticleData, actor: User) -> ArticleData:
    clean, errors = _checked(data)
    if clean.cover_media_id is not None and not clean.clear_cover:
        await _check_cover(clean.cover_media_id, actor, errors)
    if errors:
        raise DomainErrors(errors)
    return clean


# --- slugs -------------------------------------------------------------------------------------


async def _free_slug(db: Any, base: str, article_id: int | None) -> str:
    """`base`, else `base-2`, `base-3`...: the first one no other article uses (current or
    old slug). The article's own slugs count as free."""
    # `base-<n>` is cut to fit 80 characters: then look for what starts like the cut ones
    cut = len(base) > SLUG_MAX - SUFFIX_MAX
    taken = await store.slugs_taken(db, base, base[: SLUG_MAX - SUFFIX_MAX] if cut else f"{base}-")
    mine = await store.own_slugs(db, article_id) if article_id is not None and taken else set()
    n = 1
    while (candidate := _with_suffix(base, n)) in taken and candidate not in mine:
        n += 1
    return candidate


async def _move_slug(db: Any, article: Article, slug: str) -> None:
    """Gives the article `slug` (free, or one of its own old ones). Once published, the slug
    it leaves keeps redirecting; before, nobody can have linked to it."""
    assert article.id is not None
    if slug == article.slug:
        return
    await store.release_old_slug(db, article.id, slug)
    if article.first_published_at is not None:
        await store.keep_old_slug(db, article.id, article.slug)
    article.slug = slug


async def _explicit_slug(db: Any, article_id: int | None, slug: str) -> None:
    owner = await store.slug_owner(db, slug)
    if owner is not None and owner != article_id:
        raise DomainError(ArticleErrorCode.SLUG_TAKEN, "Another article uses this address.", "slug")


# --- writes ------------------------------------------------------------------------------------


async def _retrying_slug_races(op: Any) -> Any:
    """A unit of work again when the unique slug index refused what the check let through (a
    concurrent write took the slug)."""
    for attempt in range(WRITE_ATTEMPTS):
        try:
            return await op()
        except IntegrityError:
            if attempt == WRITE_ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


async def create_article(
    deps: Deps, viewer: Viewer | None, data: ArticleData, client_mutation_id: str | None = None
) -> ArticleView:
    actor = await require_admin(deps, viewer)
    if data.title is None:
        raise DomainError(ArticleErrorCode.REQUIRED, "Required.", "title")
    clean = await _validated(data, actor)

    async def attempt(remember: idempotency.Remember) -> ArticleView:
        async with deps.db.unit_of_work() as db:
            if clean.slug is not None:
                await _explicit_slug(db, None, clean.slug)
                slug = clean.slug
            else:
                slug = await _free_slug(db, slugify(clean.title or ""), None)
            body = clean.body or ""
            article = Article(
                slug=slug,
                title=clean.title or "",
                summary=clean.summary or "",
                body=body,
                body_html=render(body),
                cover_media_id=clean.cover_media_id,
                author_id=actor.id,
                custom_slug=clean.slug is not None,
            )
            tags = clean.tags or []
            await store.add_article(db, article, tags)
            audit(
                db,
                actor,
                "article.created",
                TARGET,
                article.id,
                title=article.title,
                slug=article.slug,
            )
            assert article.id is not None
            await remember(db, article.id)
        await cache.changed(deps)
        return ArticleView.of(article, sorted(tags))

    async def create(remember: idempotency.Remember) -> ArticleView:
        made: ArticleView = await _retrying_slug_races(lambda: attempt(remember))
        return made

    async def load(ids: list[int]) -> ArticleView | None:
        return (await articles_by_ids(deps, viewer, ids[:1]))[0]

    assert actor.id is not None
    return await idempotency.once(
        deps, actor.id, "createArticle", client_mutation_id, [data], create, load
    )


async def _locked(db: Any, article_id: int, expected_version: int | None) -> Article:
    article = await store.lock_article(db, article_id)
    if article is None:
        raise NotFound("Article not found.")
    if expected_version is not None and expected_version != article.version:
        raise DomainError(
            ArticleErrorCode.STALE,
            "The article changed since you read it; reload it.",
            "expectedVersion",
        )
    return article


async def _saved(db: Any, article: Article) -> ArticleView:
    saved = await store.save_article(db, article)
    assert saved.id is not None
    return ArticleView.of(saved, (await store.tags_of(db, [saved.id]))[saved.id])


async def update_article(
    deps: Deps,
    viewer: Viewer | None,
    article_id: int,
    data: ArticleData,
    expected_version: int | None,
) -> ArticleView:
    """Only the fields given change."""
    actor = await require_admin(deps, viewer)
    clean = await _validated(data, actor)

    async def once() -> ArticleView:
        async with deps.db.unit_of_work() as db:
            article = await _locked(db, article_id, expected_version)
            changed = [
                name
                for name in ("title", "summary", "body", "tags", "slug")
                if getattr(clean, name) is not None
            ]
            if clean.slug is not None:
                await _explicit_slug(db, article_id, clean.slug)
                await _move_slug(db, article, clean.slug)
                article.custom_slug = True
            elif (
                clean.title is not None
                and not article.custom_slug
                and article.first_published_at is None
            ):
                # a draft's generated slug follows its title until the first publication
                await _move_slug(
                    db, article, await _free_slug(db, slugify(clean.title), article_id)
                )
            if clean.title is not None:
                article.title = clean.title
            if clean.summary is not None:
                article.summary = clean.summary
            if clean.body is not None:
                article.body = clean.body
                article.body_html = render(clean.body)
            if clean.clear_cover:
                article.cover_media_id = None
                changed.append("cover")
            elif clean.cover_media_id is not None:
                article.cover_media_id = clean.cover_media_id
                changed.append("cover")
            if clean.tags is not None:
                await store.set_tags(db, article, clean.tags)
            view = await _saved(db, article)
            audit(db, actor, "article.updated", TARGET, article_id, fields=changed, slug=view.slug)
        await cache.changed(deps)
        return view

    result: ArticleView = await _retrying_slug_races(once)
    return result


async def publish_article(
    deps: Deps,
    viewer: Viewer | None,
    article_id: int,
    publish_at: datetime | None,
    expected_version: int | None = None,
) -> ArticleView:
    """Public now (no time given), or at `publish_at` (scheduled). A scheduled article given a
    new time is rescheduled; a public one given no time stays as it is."""
    actor = await require_admin(deps, viewer)
    now = deps.clock()
    if publish_at is not None and (publish_at.tzinfo is None or publish_at < now):
        raise DomainError(
            ArticleErrorCode.INVALID_PUBLISH_AT,
            "Give a time to come, with its UTC offset (or none: now).",
            "publishAt",
        )
    async with deps.db.unit_of_work() as db:
        article = await _locked(db, article_id, expected_version)
        already_public = (
            article.status == ArticleStatus.PUBLISHED.value
            and article.published_at is not None
            and article.published_at <= now
        )
        if publish_at is None and already_public:
            at = article.published_at
        else:
            at = publish_at or now
        article.status = ArticleStatus.PUBLISHED.value
        article.published_at = at
        if article.first_published_at is None or article.first_published_at > now:
            # the first publication (or its time, while it is still ahead): the slug is fixed
            article.first_published_at = at
        view = await _saved(db, article)
        scheduled = at is not None and at > now
        audit(
            db,
            actor,
            "article.scheduled" if scheduled else "article.published",
            TARGET,
            article_id,
            slug=view.slug,
            published_at=at,
        )
    await cache.changed(deps)
    return view


async def unpublish_article(
    deps: Deps, viewer: Viewer | None, article_id: int, expected_version: int | None = None
) -> ArticleView:
    """Back to DRAFT (public or scheduled). The slug stays as it was published."""
    actor = await require_admin(deps, viewer)
    async with deps.db.unit_of_work() as db:
        article = await _locked(db, article_id, expected_version)
        article.status = ArticleStatus.DRAFT.value
        article.published_at = None
        view = await _saved(db, article)
        audit(db, actor, "article.unpublished", TARGET, article_id, slug=view.slug)
    await cache.changed(deps)
    return view


async def delete_article(
    deps: Deps, viewer: Viewer | None, article_id: int, expected_version: int | None = None
) -> None:
    """For good, with its tags and old slugs."""
    actor = await require_admin(deps, viewer)
    async with deps.db.unit_of_work() as db:
        article = await _locked(db, article_id, expected_version)
        await store.delete_article(db, article)
        audit(
            db, actor, "article.deleted", TARGET, article_id, slug=article.slug, title=article.title
        )
    await cache.changed(deps)


# --- reads -------------------------------------------------------------------------------------


async def _views(db: Any, rows: list[Any]) -> list[ArticleView]:
    tags = await store.tags_of(db, [r.id for r in rows])
    return [ArticleView.of(r, tags[r.id]) for r in rows]


async def public_articles(
    deps: Deps,
    viewer: Viewer | None,
    *,
    limit: int,
    after: tuple[datetime, int] | None,
    after_key: str,
    tag: str | None,
) -> ArticlePage:
    """Up to `limit` public articles, newest publication first, after the cursor; anyone.
    `after_key` is the cursor as given (part of the cache key)."""
    if tag is not None:
        tag = normalised_tag(tag)
        if not TAG_RE.match(tag) or len(tag) > TAG_MAX:
            return ArticlePage()

    async def fill(db: Any, now: datetime) -> ArticlePage:
        return ArticlePage(
            await _views(db, await store.public_page(db, now, limit=limit, after=after, tag=tag))
        )

    if viewer is not None:
        async with deps.db.reader() as db:
            return await fill(db, deps.clock())
    return await cache.cached(
        deps,
        f"list:{limit}:{tag or ''}:{after_key}",
        fill,
        lambda views: [v.to_cached() for v in views],
        lambda value: ArticlePage(ArticleView.from_cached(v) for v in value),
    )


async def article_by_slug(deps: Deps, viewer: Viewer | None, slug: str) -> ArticleView | None:
    """By current or old slug: public ones for anyone, any for admins; else None."""
    slug = slug.strip()
    if len(slug) > SLUG_MAX or not SLUG_RE.match(slug):
        return None

    async def fill(db: Any, now: datetime) -> ArticleView | None:
        row = await store.article_by_slug(db, slug)
        return (await _views(db, [row]))[0] if row is not None else None

    if viewer is None:

        async def public(db: Any, now: datetime) -> ArticleView | None:
            found = await fill(db, now)
            return found if found is not None and found.public_at(now) else None

        return await cache.cached(
            deps,
            f"slug:{slug}",
            public,
            lambda view: view.to_cached() if view is not None else None,
            lambda value: ArticleView.from_cached(value) if value else None,
        )
    async with deps.db.reader() as db:
        found = await fill(db, deps.clock())
    if found is None or found.public_at(deps.clock()) or await is_admin(deps, viewer):
        return found
    return None


async def articles_by_ids(
    deps: Deps, viewer: Viewer | None, ids: list[int]
) -> list[ArticleView | None]:
    """For node(id:): the same visibility as `article(slug:)`."""
    async with deps.db.reader() as db:
        found = {v.id: v for v in await _views(db, await store.articles_by_ids(db, ids))}
    now = deps.clock()
    if any(not v.public_at(now) for v in found.values()) and not await is_admin(deps, viewer):
        found = {i: v for i, v in found.items() if v.public_at(now)}
    return [found.get(i) for i in ids]


async def admin_articles(
    deps: Deps,
    viewer: Viewer | None,
    *,
    limit: int,
    after: tuple[datetime, int] | None,
    status: str | None,
) -> list[ArticleView]:
    """Every article, most recently updated first; admins only."""
    await require_admin(deps, viewer)
    async with deps.db.reader() as db:
        return await _views(
            db, await store.admin_page(db, deps.clock(), limit=limit, after=after, status=status)
        )
