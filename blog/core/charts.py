"""Small charts drawn on the server as inline SVG: no chart library, no CDN, no script.

Each chart carries a text alternative (its <title> and a caption the template shows), since a
picture of numbers is not readable to everyone.
"""

from __future__ import annotations

from collections.abc import Sequence
from xml.sax.saxutils import escape

from markupsafe import Markup

WIDTH = 600
HEIGHT = 120
PAD = 4


def _scale(values: Sequence[float]) -> tuple[float, float]:
    low, high = min(values), max(values)
    if high == low:
        return low - 1, high + 1
    return low, high


def line_chart(values: Sequence[float], *, label: str, low: float | None = None) -> Markup:
    """A line over `values` (oldest first), scaled to its own range (or from `low`)."""
    if not values:
        return Markup('<p class="muted">No data yet.</p>')
    bottom, top = _scale(values)
    if low is not None:
        bottom = min(bottom, low)
    step = (WIDTH - 2 * PAD) / max(len(values) - 1, 1)
    span = (top - bottom) / (HEIGHT - 2 * PAD)
    points = " ".join(
        f"{PAD + i * step:.1f},{HEIGHT - PAD - (v - bottom) / span:.1f}"
        for i, v in enumerate(values)
    )
    # Safe: numbers we computed, and the label escaped for text and attribute.
    return Markup(  # noqa: S704
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'preserveAspectRatio="none" aria-label="{escape(label, {chr(34): "&quot;"})}">'
        f"<title>{escape(label)}</title>"
        f'<polyline fill="none" stroke="currentColor" stroke-width="2" points="{points}"/></svg>'
    )


def bar_chart(values: Sequence[int], *, label: str) -> Markup:
    """One bar per value (oldest first), from zero."""
    if not values:
        return Markup('<p class="muted">No data yet.</p>')
    scale = (HEIGHT - 2 * PAD) / max(*values, 1)
    width = (WIDTH - 2 * PAD) / len(values)
    bars = "".join(
        f'<rect x="{PAD + i * width + 1:.1f}" y="{HEIGHT - PAD - v * scale:.1f}" '
        f'width="{max(width - 2, 1):.1f}" height="{v * scale:.1f}" '
        f'fill="currentColor"><title>{v}</title></rect>'
        for i, v in enumerate(values)
    )
    return Markup(  # noqa: S704 - numbers we computed, the label escaped
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'preserveAspectRatio="none" aria-label="{escape(label, {chr(34): "&quot;"})}">'
        f"<title>{escape(label)}</title>{bars}</svg>"
    )
