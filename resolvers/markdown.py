"""Markdown to safe HTML, for article bodies. Pure: no I/O, the same input gives the same output.

Two layers, so that a gap in one is covered by the other:
1. markdown-it-py (CommonMark, plus tables and strikethrough) with raw HTML *off*: any `<tag>`
   in the source is escaped as text, and its link validation drops `javascript:`, `vbscript:`,
   `file:` and non-image `data:` destinations;
2. nh3 (ammonia) cleans the result against an explicit allow-list of tags, attributes and URL
   schemes (http, https, mailto; relative URLs pass), and adds `rel` to every link.
The HTML is rendered once, when an article is written, and stored beside its source.
"""

from __future__ import annotations

import re
from functools import lru_cache
from urllib.parse import unquote

import nh3
from markdown_it import MarkdownIt

TAGS = frozenset(
    {
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
    }
)
ATTRIBUTES = {"a": {"href", "title"}, "img": {"src", "alt", "title"}}
URL_SCHEMES = frozenset({"http", "https", "mailto"})
LINK_REL = "nofollow noopener noreferrer"
# what a URL must not start with once percent-decoded and stripped of blanks and controls
# (`java%09script:` is a relative URL to a browser, but it need not be kept either)
UNSAFE_URL = re.compile(r"^(?:javascript|vbscript|data|file):")
BLANKS = re.compile(r"[\x00-\x20\x7f-\x9f]+")


@lru_cache(maxsize=1)
def _parser() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])


def render(source: str) -> str:
    """Sanitised HTML of a Markdown source."""
    return sanitise(_parser().render(source))


def sanitise(html: str) -> str:
    """Only the allowed tags, attributes and URL schemes of `html` (scripts and styles go with
    their content), and `rel` on every link."""
    return nh3.clean(
        html,
        tags=set(TAGS),
        attributes={k: set(v) for k, v in ATTRIBUTES.items()},
        url_schemes=set(URL_SCHEMES),
        link_rel=LINK_REL,
        clean_content_tags={"script", "style"},
        strip_comments=True,
        attribute_filter=_safe_attribute,
    )


def _safe_attribute(tag: str, name: str, value: str) -> str | None:
    if name in ("href", "src") and UNSAFE_URL.match(BLANKS.sub("", unquote(value)).lower()):
        return None
    return value
