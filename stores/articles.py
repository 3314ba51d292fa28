"""Articles in MySQL: the articles, their old slugs (which keep redirecting) and their tags.

Store functions add and flush; they never commit (the resolver's unit of work does). Public
visibility (published and `published_at` reached) is decided by the caller's "now": the
store only compares with the time it is given.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Column, ForeignKey, Index, String, Text, UniqueConstraint, and_, delete, or_
from sqlalchemy.dialects import mysql
from sqlmodel import Field, SQLModel, col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from stores.db import BigIntKey, plain_rows, select_plain, timestamp_column, utcnow

# MySQL's TEXT holds 64 KB: a 100,000-character body (and its HTML) needs MEDIUMTEXT
LONG_TEXT = Text().with_variant(mysql.MEDIUMTEXT(), "mysql")


class ArticleStatus(enum.StrEnum):
    DRAFT = "DRAFT"
    PUBLISHED = "PUBLISHED"  # public from `published_at` on (scheduled while it is ahead)


class Article(SQLModel, table=True):
    __tablename__ = "articles"
    __table_args__ = (
        UniqueConstraint("slug", name="uq_articles_slug"),
        Index("ix_articles_public", "status", "published_at", "id"),
        Index("ix_articles_updated", "updated_at", "id"),
        Index("ix_articles_author_id", "author_id"),
    )

    id: int | None = Field(default=None, sa_type=BigIntKey, primary_key=True)
    slug: str = Field(sa_type=String(80))
    title: str = Field(sa_type=String(200))
    summary: str = Field(default="", sa_type=String(500))
    body: str = Field(default="", sa_column=Column(LONG_TEXT, nullable=False))
    # rendered and sanitised when written (resolvers/markdown.py)
    body_html: str = Field(default="", sa_column=Column(LONG_TEXT, nullable=False))
    status: str = Field(default=ArticleStatus.DRAFT.value, sa_type=String(16))
    published_at: datetime | None = Field(default=None, sa_column=timestamp_column(True))
    # set at the first publication and kept: from then on the slug no longer follows the title
    first_published_at: datetime | None = Field(default=None, sa_column=timestamp_column(True))
    # a slug given by an admin: it no longer follows the title
    custom_slug: bool = False
    cover_media_id: str | None = Field(default=None, sa_type=String(24))
    # the article outlives its author's account
    author_id: int | None = Field(
        default=None,
        sa_column=Column(BigIntKey, ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
    )
    created_at: datetime = Field(default_factory=utcnow, sa_column=timestamp_column())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=timestamp_column())
    version: int = 1


class ArticleSlug(SQLModel, table=True):
    """A slug an article had once published: `article(slug:)` still finds it."""

    __tablename__ = "article_slugs"
    __table_args__ = (
        UniqueConstraint("slug", name="uq_article_slugs_slug"),
        Index("ix_article_slugs_article_id", "article_id"),
    )

    id: int | None = Field(default=None, sa_type=BigIntKey, primary_key=True)
    slug: str = Field(sa_type=String(80))
    article_id: int = Field(
        sa_column=Column(BigIntKey, ForeignKey("articles.id", ondelete="CASCADE"), nullable=False)
    )


class ArticleTag(SQLModel, table=True):
    __tablename__ = "article_tags"
    __table_args__ = (Index("ix_article_tags_tag", "tag", "article_id"),)

    article_id: int = Field(
        sa_column=Column(BigIntKey, ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True)
    )
    tag: str = Field(sa_column=Column(String(30), primary_key=True))


# --- writes ------------------------------------------------------------------------------------


async def add_article(db: AsyncSession, article: Article, tags: Sequence[str]) -> Article:
    db.add(article)
    await db.flush()
    await set_tags(db, article, tags)
    return article


async def save_article(db: AsyncSession, article: Article) -> Article:
    article.updated_at = utcnow()
    article.version += 1
    db.add(article)
    await db.flush()
    return article


async def set_tags(db: AsyncSession, article: Article, tags: Sequence[str]) -> None:
    assert article.id is not None
    article_id = article.id
    await db.exec(delete(ArticleTag).where(col(ArticleTag.article_id) == article_id))
    for tag in dict.fromkeys(tags):
        db.add(ArticleTag(article_id=article_id, tag=tag))
    await db.flush()


async def delete_article(db: AsyncSession, article: Article) -> None:
    article_id = article.id
    await db.exec(delete(ArticleTag).where(col(ArticleTag.article_id) == article_id))
    await db.exec(delete(ArticleSlug).where(col(ArticleSlug.article_id) == article_id))
    await db.exec(delete(Article).where(col(Article.id) == article_id))


async def keep_old_slug(db: AsyncSession, article_id: int, slug: str) -> None:
    db.add(ArticleSlug(article_id=article_id, slug=slug))
    await db.flush()


async def release_old_slug(db: AsyncSession, article_id: int, slug: str) -> None:
    """An article taking one of its own old slugs back."""
    await db.exec(
        delete(ArticleSlug).where(
            col(ArticleSlug.article_id) == article_id, col(ArticleSlug.slug) == slug
        )
    )


# --- lookups -----------------------------------------------------------------------------------


async def lock_article(db: AsyncSession, article_id: int) -> Article | None:
    stmt = select(Article).where(Article.id == article_id).with_for_update()
    return (await db.exec(stmt)).first()


async def slug_owner(db: AsyncSession, slug: str) -> int | None:
    """The article using `slug`, as its current slug or as an old one."""
    current = (await db.exec(select(Article.id).where(Article.slug == slug))).first()
    if current is not None:
        return current
    return (await db.exec(select(ArticleSlug.article_id).where(ArticleSlug.slug == slug))).first()


async def slugs_taken(db: AsyncSession, exact: str, prefix: str) -> set[str]:
    """Slugs in use (current or old) equal to `exact` or starting with `prefix`: what a
    generated slug must avoid. Slugs hold [a-z0-9-] only: no LIKE wildcard to escape."""
    found: set[str] = set()
    for column in (Article.slug, ArticleSlug.slug):
        stmt = select(column).where(or_(col(column) == exact, col(column).like(f"{prefix}%")))
        found.update(await db.exec(stmt))
    return found


async def own_slugs(db: AsyncSession, article_id: int) -> set[str]:
    """The article's current slug and its old ones."""
    found = set(await db.exec(select(Article.slug).where(Article.id == article_id)))
    found.update(
        await db.exec(select(ArticleSlug.slug).where(ArticleSlug.article_id == article_id))
    )
    return found


async def article_by_slug(db: AsyncSession, slug: str) -> Article | None:
    """By current slug, else by old slug."""
    stmt = select_plain(Article).where(col(Article.slug) == slug)
    found = await plain_rows(db, stmt)
    if not found:
        old = select(ArticleSlug.article_id).where(ArticleSlug.slug == slug)
        found = await plain_rows(db, select_plain(Article).where(col(Article.id).in_(old)))
    return found[0] if found else None


async def articles_by_ids(db: AsyncSession, ids: Sequence[int]) -> list[Any]:
    if not ids:
        return []
    return await plain_rows(db, select_plain(Article).where(col(Article.id).in_(list(ids))))


async def tags_of(db: AsyncSession, article_ids: Sequence[int]) -> dict[int, list[str]]:
    result: dict[int, list[str]] = {i: [] for i in article_ids}
    if not article_ids:
        return result
    stmt = (
        select_plain(ArticleTag)
        .where(col(ArticleTag.article_id).in_(list(article_ids)))
        .order_by(col(ArticleTag.article_id), col(ArticleTag.tag))
    )
    for row in await plain_rows(db, stmt):
        result[row.article_id].append(row.tag)
    return result


# --- pages -------------------------------------------------------------------------------------


def _public(now: datetime) -> Any:
    return and_(
        col(Article.status) == ArticleStatus.PUBLISHED.value, col(Article.published_at) <= now
    )


async def public_page(
    db: AsyncSession,
    now: datetime,
    *,
    limit: int,
    after: tuple[datetime, int] | None,
    tag: str | None,
) -> list[Any]:
    """Articles public at `now`, newest publication first, after the (published_at, id)
    cursor."""
    stmt = select_plain(Article).where(_public(now))
    if tag is not None:
        stmt = stmt.join(ArticleTag, col(ArticleTag.article_id) == col(Article.id)).where(
            col(ArticleTag.tag) == tag
        )
    if after is not None:
        at, article_id = after
        stmt = stmt.where(
            or_(
                col(Article.published_at) < at,
                and_(col(Article.published_at) == at, col(Article.id) < article_id),
            )
        )
    stmt = stmt.order_by(col(Article.published_at).desc(), col(Article.id).desc()).limit(limit)
    return await plain_rows(db, stmt)


async def next_publication(db: AsyncSession, now: datetime) -> datetime | None:
    """When the next scheduled article becomes public (None if none is scheduled)."""
    stmt = select(func.min(Article.published_at)).where(
        col(Article.status) == ArticleStatus.PUBLISHED.value, col(Article.published_at) > now
    )
    return (await db.exec(stmt)).first()


async def admin_page(
    db: AsyncSession,
    now: datetime,
    *,
    limit: int,
    after: tuple[datetime, int] | None,
    status: str | None,
) -> list[Any]:
    """Every article, most recently updated first; `status` DRAFT, SCHEDULED or PUBLISHED
    (as the API shows it at `now`)."""
    stmt = select_plain(Article)
    published = col(Article.status) == ArticleStatus.PUBLISHED.value
    if status == "DRAFT":
        stmt = stmt.where(col(Article.status) == ArticleStatus.DRAFT.value)
    elif status == "SCHEDULED":
        stmt = stmt.where(published, col(Article.published_at) > now)
    elif status == "PUBLISHED":
        stmt = stmt.where(published, col(Article.published_at) <= now)
    if after is not None:
        at, article_id = after
        stmt = stmt.where(
            or_(
                col(Article.updated_at) < at,
                and_(col(Article.updated_at) == at, col(Article.id) < article_id),
            )
        )
    stmt = stmt.order_by(col(Article.updated_at).desc(), col(Article.id).desc()).limit(limit)
    return await plain_rows(db, stmt)
