"""Versioned static URLs: `url_for("static", filename=...)` gains `?v=<digest>`, the first 12
hex digits of the file's SHA-256. A changed file gets a new URL, so a proxy may cache
/static/ for a year (deploy/nginx/blog.conf marks versioned requests `immutable`) and a deploy
still reaches every browser at once.

The digest is cached per file; in development it is recomputed when the file's size or mtime
changes, so `make run` picks up an edited stylesheet on the next page without a restart.
"""

from __future__ import annotations

import hashlib
import os
import threading
from functools import lru_cache
from typing import Any

from flask import Flask, current_app, request, url_for
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


@lru_cache(maxsize=1024)
def _static_url(script_root: str, filename: str, digest: str | None) -> str:
    if digest is None:
        return url_for("static", filename=filename)
    return url_for("static", filename=filename, v=digest)


def static_path(filename: str) -> str:
    """url_for("static", filename=…) with its version, for the links every page repeats
    (base.html): the URL is built once per file version instead of on every request. Only in
    development is the file looked at again on each call (an edited stylesheet shows on the
    next page); elsewhere a deploy restarts the processes, and a page spared a dozen stat()
    calls."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if app.config.get("ENV_NAME") != "development":
        return _settled_path(app, request.script_root, filename)
    folder = app.static_folder
    digest = static_digest(folder, filename) if folder is not None else None
    return _static_url(request.script_root, filename, digest)


@lru_cache(maxsize=1024)
def _settled_path(app: Flask, script_root: str, filename: str) -> str:
    folder = app.static_folder
    digest = static_digest(folder, filename) if folder is not None else None
    return _static_url(script_root, filename, digest)


def init_static_versions(app: Flask) -> None:
    folder = app.static_folder
    app.add_template_global(static_path)

    @app.url_defaults
    def version_static_urls(endpoint: str, values: dict[str, Any]) -> None:
        if endpoint != "static" or folder is None or "v" in values:
            return
        filename = values.get("filename")
        if isinstance(filename, str):
            digest = static_digest(folder, filename)
            if digest:
                values["v"] = digest
