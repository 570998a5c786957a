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


@lru_cache(maxsize=16384)
def _build(script_root: str, endpoint: str, values: tuple[tuple[str, Any], ...]) -> str:
    return url_for(endpoint, **dict(values))


def path_for(endpoint: str, **values: Any) -> str:
    """A relative URL, as url_for(endpoint, **values) gives it, from a bounded cache."""
    return _build(request.script_root, endpoint, tuple(sorted(values.items())))


def init_urls(app: Flask) -> None:
    app.add_template_global(path_for)
