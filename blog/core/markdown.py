"""Markdown to safe HTML, for posts, comments and chat: markdown-it-py, then nh3's allow-list.

Security boundary. What a user writes is rendered with raw HTML switched off (a `<script>` in
the source comes out as text), and the result goes through nh3 (Ammonia) anyway, so a renderer
bug or a future option cannot let markup through: only the tags and attributes below survive;
no scripts, styles, iframes, forms, event handlers, `hx-*`/`data-hx-*` attributes (htmx treats
them as live code); classes only from a closed list (Pygments' token classes on `span`, ours on
`pre`, `div` and `a`); URLs only http(s) and mailto, or relative; every link gets
rel="nofollow noopener noreferrer".

What the renderer adds, once, when the text is saved (the HTML is stored, never rendered per
request):
- headings shifted under the page's own heading and renumbered so they never skip a level;
- fenced code with a known language highlighted by Pygments into class-based spans (the CSP
  forbids inline styles; static/css/reading.css colours them for light and dark);
- tables inside a box of their own that scrolls on narrow screens;
- `@user_name` of a live account as a link to the profile, looked up once per text through the
  caller's `people` function (core knows no users); never inside code or an existing link;
- images that the caller's `images` function knows (our uploads: core knows no files) get
  their width and height (no layout shift) and a `srcset` of their sizes; every image loads
  lazily.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

import nh3
from markdown_it import MarkdownIt
from markdown_it.renderer import RendererHTML
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict
from pygments import highlight as pygments_highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import get_lexer_by_name
from pygments.token import STANDARD_TYPES
from pygments.util import ClassNotFound

ALLOWED_TAGS = frozenset(
    {
        "a", "abbr", "b", "blockquote", "br", "code", "del", "div", "em", "h2", "h3", "h4",
        "h5", "h6", "hr", "i", "img", "kbd", "li", "ol", "p", "pre", "s", "span", "strong",
        "sub", "sup", "table", "tbody", "td", "th", "thead", "tr", "ul",
    }
)  # fmt: skip
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    # width, height, srcset and sizes come only from the `images` lookup (raw HTML is text).
    "img": {"src", "alt", "title", "width", "height", "srcset", "sizes", "loading"},
    "ol": {"start"},
    "abbr": {"title"},
}
# Pygments' short token classes ("k", "s2", "nf"…), exactly the set its HtmlFormatter emits.
PYGMENTS_CLASSES = frozenset(name for name in STANDARD_TYPES.values() if name)
ALLOWED_CLASSES = {
    "span": set(PYGMENTS_CLASSES),
    "pre": {"highlight"},
    "div": {"table-scroll"},
    "a": {"mention"},
}
# A code block and a table box scroll sideways on a phone: keyboard users must reach them
# (axe: scrollable-region-focusable). Set on every pre and div, whatever came in.
FORCED_ATTRIBUTES = {
    "pre": {"tabindex": "0"},
    "div": {"tabindex": "0"},
    "img": {"loading": "lazy"},
}
URL_SCHEMES = frozenset({"http", "https", "mailto"})
LINK_REL = "nofollow noopener noreferrer"
# Removed with their content, not just unwrapped (the text of a script is never prose).
DROP_WITH_CONTENT = frozenset({"script", "style", "iframe", "object", "embed", "template"})
# Highlighting costs ~2 ms of CPU per 1,000 characters of code (Python or JavaScript; plain
# code ~0.25 ms), and the editor's preview renders on every pause in typing: past this many
# characters of code in one text the remaining blocks stay plain, so no text spends more than
# ~60 ms highlighting (a 100,000-character text of code alone would take ~200 ms).
HIGHLIGHT_BUDGET = 30_000

# names (lower case, without "@") → the profile link of each live account among them.
PeopleLookup = Callable[[Collection[str]], Mapping[str, str]]


@dataclass(frozen=True)
class ImageSize:
    """What the page needs to lay out one of our images before it loads."""

    width: int
    height: int
    srcset: str = ""  # "url 320w, url 1200w": empty when there is one size only


# image sources as written → the size of each that the caller knows (one call per text).
ImageLookup = Callable[[Collection[str]], Mapping[str, ImageSize]]
# The reading column (static/css/reading.css: 58ch, about 40rem) or the screen, if narrower.
IMAGE_SIZES = "(max-width: 42rem) 100vw, 40rem"


@dataclass(frozen=True)
class Rendered:
    html: str  # sanitised: safe to mark safe in a template
    text: str  # the plain text, for search, excerpts and notifications


_FORMATTER = HtmlFormatter(nowrap=True)  # spans only; we write the <pre> ourselves


def _highlight(code: str, lang: str, _attrs: str) -> str:
    """A fenced block in a language Pygments knows, as class-based spans; "" lets markdown-it
    escape it as plain code (no language, or an unknown one)."""
    if not lang:
        return ""
    try:
        lexer = get_lexer_by_name(lang.lower(), stripnl=False, ensurenl=False)
    except ClassNotFound:
        return ""
    spans = pygments_highlight(code, lexer, _FORMATTER)
    return f'<pre class="highlight"><code>{spans}</code></pre>'


@lru_cache(maxsize=1)
def _parser() -> MarkdownIt:
    # CommonMark plus GitHub's tables and strikethrough. html=False: raw HTML is text.
    md = MarkdownIt("commonmark", {"html": False, "highlight": _highlight})
    md.enable(["table", "strikethrough"])
    md.add_render_rule("table_open", _table_open)
    md.add_render_rule("table_close", _table_close)
    return md


def _table_open(
    self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    return '<div class="table-scroll">' + self.renderToken(tokens, idx, options, env)


def _table_close(
    self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    return self.renderToken(tokens, idx, options, env) + "</div>\n"


def sanitise_html(html: str) -> str:
    """The allow-list, applied to any HTML we did not write ourselves."""
    return nh3.clean(
        html,
        tags=set(ALLOWED_TAGS),
        clean_content_tags=set(DROP_WITH_CONTENT),
        attributes={tag: set(names) for tag, names in ALLOWED_ATTRIBUTES.items()},
        allowed_classes={tag: set(names) for tag, names in ALLOWED_CLASSES.items()},
        set_tag_attribute_values={tag: dict(v) for tag, v in FORCED_ATTRIBUTES.items()},
        url_schemes=set(URL_SCHEMES),
        link_rel=LINK_REL,
        strip_comments=True,
    )


def render_markdown(
    source: str,
    *,
    people: PeopleLookup | None = None,
    heading_base: int = 1,
    images: ImageLookup | None = None,
) -> Rendered:
    """Render user Markdown to sanitised HTML, with its plain text.

    `heading_base` is the level of the heading the text sits under (the post page's h1: 1;
    a comment under the thread's h2: 2). `people` resolves @mentions, `images` the sizes of
    images (one call each per text)."""
    md = _parser()
    env: dict[str, object] = {}
    tokens = md.parse(source, env)
    _shift_headings(tokens, heading_base)
    _spend_highlighting(tokens)
    if people is not None:
        _link_mentions(tokens, people)
    if images is not None:
        _size_images(tokens, images)
    html = md.renderer.render(tokens, md.options, env)
    return Rendered(html=sanitise_html(html), text=_plain_text(tokens))


def _size_images(tokens: list[Token], images: ImageLookup) -> None:
    found = [
        child
        for token in tokens
        if token.type == "inline"
        for child in token.children or ()
        if child.type == "image" and child.attrGet("src")
    ]
    if not found:
        return
    sizes = images(sorted({str(child.attrGet("src")) for child in found}))
    for child in found:
        size = sizes.get(str(child.attrGet("src")))
        if size is None:
            continue
        child.attrSet("width", str(size.width))
        child.attrSet("height", str(size.height))
        if size.srcset:
            child.attrSet("srcset", size.srcset)
            child.attrSet("sizes", IMAGE_SIZES)


def _spend_highlighting(tokens: list[Token]) -> None:
    """Fenced blocks past HIGHLIGHT_BUDGET characters of code lose their language: plain."""
    spent = 0
    for token in tokens:
        if token.type == "fence" and token.info:
            spent += len(token.content)
            if spent > HIGHLIGHT_BUDGET:
                token.info = ""


def _shift_headings(tokens: list[Token], base: int) -> None:
    """Put the text's headings under the page's and never skip a level: "# A / ### B / ## C"
    under an h1 becomes h2, h3, h3 (B is A's child, C its sibling), whatever the writer chose.
    The deepest is h6."""
    stack: list[tuple[int, int]] = []  # (level as written, level on the page), outermost first
    for token in tokens:
        if token.type == "heading_open":
            written = int(token.tag[1])
            while stack and stack[-1][0] >= written:
                stack.pop()
            level = min((stack[-1][1] if stack else base) + 1, 6)
            stack.append((written, level))
            token.tag = f"h{level}"
        elif token.type == "heading_close":
            token.tag = f"h{stack[-1][1]}" if stack else token.tag


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
_MIN_NAME = 3  # users.user_name is 3-255 characters


def _mention_spans(text: str) -> list[tuple[int, int, str]]:
    """(start, end, name in lower case) of each @mention in a run of prose; the span covers
    "@" and the name, without the trailing dots or hyphens that end a sentence."""
    spans = []
    for match in _MENTION.finditer(text):
        name = match.group(1).rstrip(".-")
        if len(name) >= _MIN_NAME:
            spans.append((match.start(), match.start(1) + len(name), name.lower()))
    return spans


def _prose_runs(tokens: list[Token]) -> list[tuple[list[Token], int]]:
    """The text tokens where a mention may be: (siblings, index), never inside a link (code
    spans and blocks are tokens of their own, so they are never text)."""
    runs = []
    for token in tokens:
        if token.type != "inline" or not token.children:
            continue
        depth = 0
        for i, child in enumerate(token.children):
            if child.type == "link_open":
                depth += 1
            elif child.type == "link_close":
                depth -= 1
            elif child.type == "text" and depth == 0 and "@" in child.content:
                runs.append((token.children, i))
    return runs


def _link_mentions(tokens: list[Token], people: PeopleLookup) -> None:
    runs = _prose_runs(tokens)
    wanted = {name for siblings, i in runs for _s, _e, name in _mention_spans(siblings[i].content)}
    if not wanted:
        return
    links = people(sorted(wanted))
    # Backwards, so the indexes of earlier runs in the same list stay right.
    for siblings, i in reversed(runs):
        text = siblings[i].content
        pieces: list[Token] = []
        at = 0
        for start, end, name in _mention_spans(text):
            href = links.get(name)
            if href is None:
                continue  # an unknown or deleted name stays text
            if start > at:
                pieces.append(_text(text[at:start]))
            link = Token("link_open", "a", 1, attrs={"href": href, "class": "mention"})
            pieces += [link, _text(text[start:end]), Token("link_close", "a", -1)]
            at = end
        if pieces:
            if at < len(text):
                pieces.append(_text(text[at:]))
            siblings[i : i + 1] = pieces


def _text(content: str) -> Token:
    return Token("text", "", 0, content=content)


def mentioned_names(source: str) -> list[str]:
    """The @user_name mentions in Markdown prose, in order, without repeats; never inside
    code spans or code blocks (where @ is code, not a person)."""
    found: dict[str, None] = {}
    for token in _parser().parse(source, {}):
        if token.type != "inline":
            continue
        for child in token.children or ():
            if child.type == "text":
                for _start, _end, name in _mention_spans(child.content):
                    found.setdefault(name, None)
    return list(found)


_TAG = re.compile(r"<[^>]*>")


def word_count(html: str) -> int:
    """Words in stored HTML (tags dropped): what a reading time counts. 0.14 ms for a
    2,000-word post, cheap enough per request (there is no column to keep it in)."""
    return len(_TAG.sub(" ", html).split())
