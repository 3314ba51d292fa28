"""Articles: the articles (Markdown source and rendered HTML), their old slugs and their tags

Revision ID: 0008_articles
Revises: 0007_admin
Create Date: 2026-11-25
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0008_articles"
down_revision = "0007_admin"
branch_labels = None
depends_on = None

TS = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql")
KEY = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
LONG_TEXT = sa.Text().with_variant(mysql.MEDIUMTEXT(), "mysql")
MYSQL: dict[str, Any] = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4"}


def _article() -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(
        "article_id", KEY, sa.ForeignKey("articles.id", ondelete="CASCADE"), nullable=False
    )


def upgrade() -> None:
    op.create_table(
        "articles",
        sa.Column("id", KEY, primary_key=True, autoincrement=True),
        sa.Column("slug", sa.String(80), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("summary", sa.String(500), nullable=False),
        sa.Column("body", LONG_TEXT, nullable=False),
        sa.Column("body_html", LONG_TEXT, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("published_at", TS, nullable=True),
        sa.Column("first_published_at", TS, nullable=True),
        sa.Column("custom_slug", sa.Boolean(), nullable=False),
        sa.Column("cover_media_id", sa.String(24), nullable=True),
        # the article outlives its author's account
        sa.Column("author_id", KEY, sa.ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.UniqueConstraint("slug", name="uq_articles_slug"),
        sa.CheckConstraint("status IN ('DRAFT', 'PUBLISHED')", name="ck_articles_status"),
        sa.CheckConstraint(
            "status = 'DRAFT' OR published_at IS NOT NULL", name="ck_articles_published_at"
        ),
        **MYSQL,
    )
    op.create_index("ix_articles_public", "articles", ["status", "published_at", "id"])
    op.create_index("ix_articles_updated", "articles", ["updated_at", "id"])
    op.create_index("ix_articles_author_id", "articles", ["author_id"])
    op.create_table(
        "article_slugs",
        sa.Column("id", KEY, primary_key=True, autoincrement=True),
        sa.Column("slug", sa.String(80), nullable=False),
        _article(),
        sa.UniqueConstraint("slug", name="uq_article_slugs_slug"),
        **MYSQL,
    )
    op.create_index("ix_article_slugs_article_id", "article_slugs", ["article_id"])
    op.create_table(
        "article_tags",
        sa.Column(
            "article_id", KEY, sa.ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("tag", sa.String(30), primary_key=True),
        **MYSQL,
    )
    op.create_index("ix_article_tags_tag", "article_tags", ["tag", "article_id"])


def downgrade() -> None:
    op.drop_index("ix_article_tags_tag", "article_tags")
    op.drop_table("article_tags")
    op.drop_index("ix_article_slugs_article_id", "article_slugs")
    op.drop_table("article_slugs")
    op.drop_index("ix_articles_author_id", "articles")
    op.drop_index("ix_articles_updated", "articles")
    op.drop_index("ix_articles_public", "articles")
    op.drop_table("articles")
