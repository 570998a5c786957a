"""path_for: url_for for the links that lists repeat on every request.

Building a URL with url_for costs about 25 µs; a list page builds a hundred (each post's,
author's and tags' links), and the same ones again on every view of the page. The result of a
relative build depends only on the endpoint, its values and the app's mount point, so it is
cached on exactly those.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from flask import Flask, request, url_for
from werkzeug.routing import BaseConverter


@lru_cache(maxsize=16384)
def _build(script_root: str, endpoint: str, values: tuple[tuple[str, Any], ...]) -> str:
    return url_for(endpoint, **dict(values))


def path_for(endpoint: str, **values: Any) -> str:
    """A relative URL, as url_for(endpoint, **values) gives it, from a bounded cache."""
    key = tuple(sorted(values.items())) if len(values) > 1 else tuple(values.items())
    return _build(request.script_root, endpoint, key)


class SlugConverter(BaseConverter):
    """<slug:…>: one path segment of 1-255 characters, none of them control characters.

    A slug, tag or user name never holds one, and PostgreSQL refuses a NUL in text: without
    this, /posts/a%00b reached the lookup and failed there (a 500). Now no route matches: 404.
    """

    regex = r"[^/\x00-\x1f\x7f]{1,255}"


def init_urls(app: Flask) -> None:
    """Call before registering the blueprints whose routes use <slug:…>."""
    app.url_map.converters["slug"] = SlugConverter
    app.add_template_global(path_for)
