"""Markdown to safe HTML, for posts, comments and chat: markdown-it-py, then nh3's allow-list.

Security boundary. What a user writes is rendered with raw HTML switched off (a `<script>` in
the source comes out as text), and the result goes through nh3 (Ammonia) anyway, so a renderer
bug or a future option cannot let markup through: only the tags and attributes below survive;
no scripts, styles, iframes, forms, event handlers, `hx-*`/`data-hx-*` attributes (htmx treats
them as live code) or classes; URLs only http(s) and mailto, or relative; every link gets
rel="nofollow noopener noreferrer".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import nh3
from markdown_it import MarkdownIt
from markdown_it.token import Token

ALLOWED_TAGS = frozenset(
    {
        "a", "abbr", "b", "blockquote", "br", "code", "del", "em", "h2", "h3", "h4", "h5",
        "h6", "hr", "i", "img", "kbd", "li", "ol", "p", "pre", "s", "strong", "sub", "sup",
        "table", "tbody", "td", "th", "thead", "tr", "ul",
    }
)  # fmt: skip
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title"},
    "ol": {"start"},
    "abbr": {"title"},
}
URL_SCHEMES = frozenset({"http", "https", "mailto"})
LINK_REL = "nofollow noopener noreferrer"
# Removed with their content, not just unwrapped (the text of a script is never prose).
DROP_WITH_CONTENT = frozenset({"script", "style", "iframe", "object", "embed", "template"})


@dataclass(frozen=True)
class Rendered:
    html: str  # sanitised: safe to mark safe in a template
    text: str  # the plain text, for search, excerpts and notifications


@lru_cache(maxsize=1)
def _parser() -> MarkdownIt:
    # CommonMark plus GitHub's tables and strikethrough. html=False: raw HTML is text.
    return MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])


def sanitise_html(html: str) -> str:
    """The allow-list, applied to any HTML we did not write ourselves."""
    return nh3.clean(
        html,
        tags=set(ALLOWED_TAGS),
        clean_content_tags=set(DROP_WITH_CONTENT),
        attributes={tag: set(names) for tag, names in ALLOWED_ATTRIBUTES.items()},
        url_schemes=set(URL_SCHEMES),
        link_rel=LINK_REL,
        strip_comments=True,
    )


def render_markdown(source: str) -> Rendered:
    """Render user Markdown to sanitised HTML, with its plain text."""
    md = _parser()
    env: dict[str, object] = {}
    tokens = md.parse(source, env)
    for token in tokens:
        # The page's own title is the h1: a "# Heading" in a post is a section under it.
        if token.type in ("heading_open", "heading_close"):
            token.tag = f"h{min(int(token.tag[1]) + 1, 6)}"
    html = md.renderer.render(tokens, md.options, env)
    return Rendered(html=sanitise_html(html), text=_plain_text(tokens))


def _plain_text(tokens: list[Token]) -> str:
    blocks: list[str] = []
    for token in tokens:
        if token.type == "inline":
            parts = []
            for child in token.children or ():
                if child.type in ("text", "code_inline"):
                    parts.append(child.content)
                elif child.type in ("softbreak", "hardbreak"):
                    parts.append(" ")
                elif child.type == "image":
                    parts.append(child.content)  # its alt text
            blocks.append("".join(parts))
        elif token.type in ("code_block", "fence"):
            blocks.append(token.content.rstrip("\n"))
    return "\n".join(block for block in blocks if block.strip())


_MENTION = re.compile(r"(?<![\w@/])@([\w][\w.-]{1,254})")


def mentioned_names(source: str) -> list[str]:
    """The @user_name mentions in Markdown prose, in order, without repeats; never inside
    code spans or code blocks (where @ is code, not a person)."""
    found: dict[str, None] = {}
    for token in _parser().parse(source, {}):
        if token.type != "inline":
            continue
        for child in token.children or ():
            if child.type == "text":
                for name in _MENTION.findall(child.content):
                    found.setdefault(name.rstrip(".-").lower(), None)
    return [name for name in found if len(name) >= 3]
