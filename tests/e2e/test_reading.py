"""The post page as a reader sees it, in Chromium: the measure of the body at 1280 px, axe-core
at 1280 and 390 px in light and dark, the server's highlighting coloured, nothing scrolling
sideways on a phone. Screenshots go to var/screenshots/reading/ (look at them)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import Browser, Page

from blog.comments.services import add_comment
from blog.extensions import db
from tests.factories import DEFAULT_PASSWORD
from tests.posts.helpers import make_author, make_post

ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
# Not test-results/: pytest-playwright empties that directory for its own artifacts.
SHOTS = ROOT / "var" / "screenshots" / "reading"
SIZES = {1280: 900, 390: 844}
BLOCKING = ("critical", "serious", "moderate")

PARAGRAPH = (
    "Frequency hopping spreads a signal over many channels, changing from one to the next "
    "many times a second in an order both ends know in advance. A listener tuned to a single "
    "channel hears a click now and then; a jammer has to drown the whole band at once. "
)

ARTICLE = f"""{PARAGRAPH * 2}

The idea is older than the radio it now lives in, and @margaret wrote it down first.

# Where it came from

{PARAGRAPH}

### A piano roll for a torpedo

The patent described two paper rolls, like a player piano's, turning in step:

1. one in the ship that fires the torpedo;
2. one in the torpedo itself;
3. both punched with the same 88 holes, one per channel.

> The enemy would find it difficult to detect or interfere with the transmission, since
> it would be jumping from frequency to frequency in a pattern known only to the two ends.

## How a receiver keeps up

Both ends derive the next channel from a shared seed, here in a few lines of `python`:

```python
def hop_sequence(seed: int, channels: int = 79) -> list[int]:
    \"\"\"The next channels, the same at both ends.\"\"\"
    state, order = seed, []
    for _ in range(channels):
        state = (state * 1103515245 + 12345) % 2**31  # a linear congruential step
        order.append(state % channels)
    return order
```

| Standard | Channels | Hops a second | Band | Typical use in the field today |
|---|---|---|---|---|
| Bluetooth Classic | 79 | 1,600 | 2.4 GHz | headphones, keyboards, car kits and more |
| Bluetooth LE | 40 | adaptive | 2.4 GHz | sensors |
| SINCGARS | 2,320 | 111 | 30-88 MHz | military radio |

- Bluetooth hops 1,600 times a second.
- Military radios hop to resist jamming.

---

{PARAGRAPH}
"""


@pytest.fixture
def post_path(app: Flask) -> str:
    with app.app_context():
        make_author(user_name="margaret")
        author = make_author(
            user_name="hedy",
            display_name="Hedy Lamarr",
            bio="Actor and inventor. Co-patented frequency hopping in 1942 with George "
            "Antheil; writes here about radio, film and the engineering in between.",
        )
        post = make_post(
            author,
            title="Frequency hopping, from piano rolls to Bluetooth",
            content=ARTICLE,
            tags=["radio", "history"],
        )
        reader = make_author(user_name="grace", email="grace@example.com")
        add_comment(post, reader, "Lovely history, @hedy. `@notaperson` in code stays code.")
        db.session.commit()
        path = f"/posts/{post.slug}"
        db.session.remove()
    return path


def _page(browser: Browser, width: int, scheme: str) -> Iterator[Page]:
    context = browser.new_context(
        viewport={"width": width, "height": SIZES[width]}, color_scheme=scheme
    )
    try:
        yield context.new_page()
    finally:
        context.close()


def _axe(page: Page) -> list[dict[str, Any]]:
    # Not add_script_tag: the page's CSP (script-src 'self') rightly refuses an inline script,
    # and bypassing the CSP would also hide any inline style we shipped by mistake.
    page.evaluate(AXE.read_text())
    result = page.evaluate("async () => (await axe.run(document)).violations")
    return [
        {
            "id": v["id"],
            "impact": v["impact"],
            "nodes": [n["target"] for n in v["nodes"]][:5],
            "help": v["help"],
        }
        for v in result
        if v["impact"] in BLOCKING
    ]


MEASURE = """() => {
  const body = document.querySelector('.post-body');
  const first = body.querySelector('p');
  const style = getComputedStyle(first);
  const ctx = document.createElement('canvas').getContext('2d');
  ctx.font = `${style.fontWeight} ${style.fontSize} ${style.fontFamily}`;
  // Letters on each full line of every paragraph, as laid out: one range per character,
  // grouped by the line it sits on; a paragraph's last (short) line left out.
  const full = [];
  const lineHeight = parseFloat(style.lineHeight);
  for (const p of body.querySelectorAll(':scope > p')) {
    const lines = new Map();
    const pTop = p.getBoundingClientRect().top;
    const walker = document.createTreeWalker(p, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      for (let i = 0; i < node.length; i++) {
        const range = document.createRange();
        range.setStart(node, i);
        range.setEnd(node, i + 1);
        const rect = range.getClientRects()[0];
        if (!rect) continue;
        // By the line box it falls in (a code span's smaller glyphs sit at another top).
        const line = Math.floor((rect.top + rect.height / 2 - pTop) / lineHeight);
        lines.set(line, (lines.get(line) || 0) + 1);
      }
    }
    full.push(...[...lines.values()].slice(0, -1));
  }
  const width = body.getBoundingClientRect().width;
  return {
    width,
    zeros: width / ctx.measureText('0').width,
    lines: full.length,
    letters: full.reduce((a, b) => a + b, 0) / full.length,
    shortest: Math.min(...full),
    longest: Math.max(...full),
    lineHeight: lineHeight / parseFloat(style.fontSize),
  };
}"""


def test_the_body_reads_at_a_comfortable_measure(browser: Browser, live_server: str, post_path):
    """60-75 characters a line, counted on the laid-out text (what a reader gets), not only
    as the column's width in '0's: a '0' is wider than the average letter (DejaVu Sans here:
    64 zeros held 78 letters; the 58ch column holds 64-74, 69 on average)."""
    for page in _page(browser, 1280, "light"):
        page.goto(live_server + post_path)
        measure = page.evaluate(MEASURE)
        assert measure["lines"] >= 10, measure
        assert 60 <= measure["letters"] <= 75, measure  # 69 here (58ch, DejaVu Sans, 20 px)
        assert measure["longest"] <= 80, measure
        assert 50 <= measure["zeros"] <= 75, measure
        assert 1.6 <= measure["lineHeight"] <= 1.8, measure


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("width", [1280, 390])
def test_the_post_page_is_axe_clean_and_looks_right(
    browser: Browser, live_server: str, post_path: str, width: int, scheme: str
) -> None:
    for page in _page(browser, width, scheme):
        page.goto(live_server + post_path)
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"post-{width}-{scheme}.png"), full_page=True)

        assert _axe(page) == []
        # Nothing scrolls sideways: the table and the code scroll inside their own boxes.
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        # The server's highlighting is coloured by reading.css (a keyword is not plain text).
        colours = page.evaluate(
            """() => ['.highlight .k', '.highlight .n', '.highlight .c1'].map(
                 s => getComputedStyle(document.querySelector(s)).color)"""
        )
        assert len(set(colours)) == 3, colours
        # Headings never skip a level, comments included.
        levels = page.evaluate(
            "() => [...document.querySelectorAll('main :is(h1,h2,h3,h4,h5,h6)')]"
            ".map(h => +h.tagName[1])"
        )
        assert levels[0] == 1
        assert levels.count(1) == 1
        assert all(b - a <= 1 for a, b in itertools.pairwise(levels)), levels
        assert page.get_by_text("min read").is_visible()
        assert page.locator(".post-body a.mention").get_attribute("href") == "/u/margaret"


def test_code_and_tables_scroll_in_their_own_box_on_a_phone(
    browser: Browser, live_server: str, post_path: str
) -> None:
    for page in _page(browser, 390, "light"):
        page.goto(live_server + post_path)
        boxes = page.evaluate(
            """() => ['.post-body pre', '.post-body .table-scroll'].map(s => {
                 const el = document.querySelector(s);
                 return [el.scrollWidth > el.clientWidth, el.tabIndex,
                         el.getBoundingClientRect().right <= window.innerWidth];
               })"""
        )
        assert boxes == [[True, 0, True], [True, 0, True]], boxes


@pytest.mark.parametrize(("width", "scheme"), [(1280, "light"), (390, "dark")])
def test_the_post_page_is_axe_clean_for_a_signed_in_reader(
    browser: Browser, live_server: str, post_path: str, width: int, scheme: str
) -> None:
    """The reader's own controls too: the comment form, the Flag menu, the live channel."""
    for page in _page(browser, width, scheme):
        page.goto(live_server + "/login")
        page.get_by_label("Email").fill("grace@example.com")
        page.get_by_label("Password", exact=True).fill(DEFAULT_PASSWORD)
        page.locator("#login-form").get_by_role("button", name="Sign in").click()
        page.wait_for_url(lambda url: "/login" not in url)
        page.goto(live_server + post_path)
        assert page.locator("#comment-form textarea").is_visible()
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"post-signed-in-{width}-{scheme}.png"), full_page=True)
        assert _axe(page) == []
