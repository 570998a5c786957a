"""The Markdown pipeline (blog.core.markdown) on its own: heading levels, Pygments' classes
through the sanitiser and nothing else, tables and code that scroll, @mentions."""

from __future__ import annotations

import re
from collections.abc import Collection
from html.parser import HTMLParser

import pytest

from blog.core.markdown import (
    HIGHLIGHT_BUDGET,
    PYGMENTS_CLASSES,
    mentioned_names,
    render_markdown,
    sanitise_html,
    word_count,
)


def _levels(html: str) -> list[int]:
    return [int(n) for n in re.findall(r"<h([1-6])>", html)]


@pytest.mark.parametrize(
    ("source", "levels"),
    [
        ("# A\n\n## B\n\n### C", [2, 3, 4]),
        # Skips as written become steps: ### under # is a child, ## after it a sibling of it.
        ("# A\n\n### B\n\n## C\n\n### D", [2, 3, 3, 4]),
        ("### Only deep ones\n\n#### deeper", [2, 3]),
        ("## B\n\n# A\n\n###### F", [2, 2, 3]),
        ("# 1\n## 2\n### 3\n#### 4\n##### 5\n###### 6", [2, 3, 4, 5, 6, 6]),
    ],
)
def test_headings_never_skip_a_level_below_the_page_title(source, levels):
    assert _levels(render_markdown(source).html) == levels


def test_a_comment_s_headings_sit_under_the_thread_s_h2():
    assert _levels(render_markdown("# A\n\n### B", heading_base=2).html) == [3, 4]


def test_closing_tags_match_their_renumbered_opening():
    html = render_markdown("# A\n\n### B\n\n## C").html
    assert html == "<h2>A</h2>\n<h3>B</h3>\n<h3>C</h3>\n"


def test_fenced_code_is_highlighted_with_classes_that_survive_sanitising():
    html = render_markdown('```python\ndef f():\n    return "<b>"  # hi\n```').html
    assert html.startswith('<pre class="highlight" tabindex="0"><code>')
    assert '<span class="k">def</span>' in html
    assert '<span class="nf">f</span>' in html
    assert '<span class="c1"># hi</span>' in html
    assert "&lt;b&gt;" in html  # the code's text stays text
    assert "style=" not in html  # classes only: the CSP forbids inline styles
    used = set(re.findall(r'<span class="([^"]+)"', html))
    assert used <= PYGMENTS_CLASSES


def test_code_without_a_known_language_is_plain_and_escaped():
    for fence in ("```\n<script>x</script>\n```", "```nosuchlang\n<script>x</script>\n```"):
        html = render_markdown(fence).html
        assert html == '<pre tabindex="0"><code>&lt;script&gt;x&lt;/script&gt;\n</code></pre>\n'


def test_the_sanitiser_keeps_our_classes_and_nothing_more():
    dirty = (
        '<span class="k evil" style="color:red" hx-get="/logout" onclick="x()">k</span>'
        '<p class="k">p</p><pre class="highlight other" tabindex="-1">x</pre>'
        '<div class="table-scroll" tabindex="5" data-hx-post="/x">t</div>'
        '<a class="mention sneaky" href="/u/ada" hx-boost="true">@ada</a>'
        "<script>alert(1)</script><style>p{}</style>"
    )
    assert sanitise_html(dirty) == (
        '<span class="k">k</span><p>p</p><pre class="highlight" tabindex="0">x</pre>'
        '<div class="table-scroll" tabindex="0">t</div>'
        '<a class="mention" href="/u/ada" rel="nofollow noopener noreferrer">@ada</a>'
    )


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def test_raw_html_script_and_htmx_in_markdown_stay_inert():
    parser = _Tags()
    parser.feed(
        render_markdown(
            '<script>alert(1)</script>\n\n<span class="k" hx-get="/x">y</span>\n\n'
            "```html\n<div hx-get='/logout' onclick='x()'><script>y</script></div>\n```"
        ).html
    )
    assert "script" not in {tag for tag, _ in parser.tags}
    attributes = {name for _, attrs in parser.tags for name in attrs}
    assert attributes <= {"class", "tabindex"}, attributes  # no hx-*, no on*, no style


def test_tables_scroll_inside_their_own_box():
    html = render_markdown("| a | b |\n|---|---|\n| 1 | 2 |").html
    assert html.startswith('<div class="table-scroll" tabindex="0"><table>')
    assert html.rstrip().endswith("</table>\n</div>")


class People:
    """A `people` lookup that records its calls (the real one is one SELECT per call)."""

    def __init__(self, known: dict[str, str]) -> None:
        self.known = known
        self.calls: list[list[str]] = []

    def __call__(self, names: Collection[str]) -> dict[str, str]:
        self.calls.append(list(names))
        return {name: self.known[name] for name in names if name in self.known}


def test_mentions_of_known_people_become_links_with_one_lookup():
    people = People({"ada": "/u/Ada", "bob": "/u/bob"})
    html = render_markdown(
        "Thanks @Ada and @bob. Also @ada again, and @nobody.\n\n- @bob in a list", people=people
    ).html
    assert people.calls == [["ada", "bob", "nobody"]]
    assert html.count('<a href="/u/Ada" class="mention"') == 2
    assert '>@Ada</a> and <a href="/u/bob" class="mention"' in html
    assert (
        '<li><a href="/u/bob" class="mention" rel="nofollow noopener noreferrer">@bob</a>' in html
    )
    assert "@nobody." in html  # an unknown name stays text, not hidden
    assert "</a>. Also" in html  # the sentence's full stop is not part of the name


def test_mentions_are_never_linked_in_code_links_or_addresses():
    people = People({"ada": "/u/ada"})
    html = render_markdown(
        "`@ada` and [@ada](https://example.com) and <https://x.example/@ada> and ada@ada.example"
        "\n\n```\n@ada\n```",
        people=people,
    ).html
    assert 'class="mention"' not in html
    assert people.calls == []  # nothing to look up: no query at all


def test_no_people_lookup_no_links():
    assert 'class="mention"' not in render_markdown("Hi @ada").html


def test_mentioned_names_skip_code_and_keep_order():
    assert mentioned_names("@Bob, then `@carol`, then @ada and @bob.\n\n    @dan") == ["bob", "ada"]


def test_word_count_ignores_markup():
    html = render_markdown('Three **short** words\n\n```python\nx = "y"\n```').html
    assert word_count(html) == 6  # Three short words, x = "y"


def test_highlighting_stops_past_its_budget_and_the_rest_stays_plain():
    block = "```python\n" + "x = 1\n" * (HIGHLIGHT_BUDGET // 12) + "```"
    html = render_markdown("\n\n".join([block, block, block])).html
    assert html.count('<pre class="highlight"') == 2
    assert html.count('<pre tabindex="0"><code>x = 1') == 1
