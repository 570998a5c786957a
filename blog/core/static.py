"""Versioned static URLs: `url_for("static", filename=...)` gains `?v=<digest>`, the first 12
hex digits of the file's SHA-256. A changed file gets a new URL, so a proxy may cache
/static/ for a year (deploy/nginx/blog.conf marks versioned requests `immutable`) and a deploy
still reaches every browser at once.

The digest is cached per file and recomputed when its size or mtime changes, so `make run`
picks up an edited stylesheet on the next page without a restart.
"""

from __future__ import annotations

import hashlib
import os
import threading
from typing import Any

from flask import Flask
from werkzeug.security import safe_join

_digests: dict[str, tuple[int, int, str]] = {}
_lock = threading.Lock()


def static_digest(folder: str, filename: str) -> str | None:
    """The version of static file `filename`, or None when there is no such file."""
    path = safe_join(folder, filename)
    if path is None:
        return None
    try:
        stat = os.stat(path)
    except OSError:
        return None
    with _lock:
        cached = _digests.get(path)
    if cached is not None and cached[:2] == (stat.st_mtime_ns, stat.st_size):
        return cached[2]
    with open(path, "rb") as fh:
        digest = hashlib.file_digest(fh, "sha256").hexdigest()[:12]
    with _lock:
        _digests[path] = (stat.st_mtime_ns, stat.st_size, digest)
    return digest


def init_static_versions(app: Flask) -> None:
    folder = app.static_folder

    @app.url_defaults
    def version_static_urls(endpoint: str, values: dict[str, Any]) -> None:
        if endpoint != "static" or folder is None or "v" in values:
            return
        filename = values.get("filename")
        if isinstance(filename, str):
            digest = static_digest(folder, filename)
            if digest:
                values["v"] = digest
