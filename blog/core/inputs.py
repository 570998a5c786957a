"""The request boundary: input no view can store is refused here, once, for every route.

Security boundary, and the reason no input reaches a 500. PostgreSQL refuses NUL in text
(psycopg2 raises ValueError for the parameter) and a lone surrogate cannot be encoded to UTF-8
at all; Werkzeug quietly turns undecodable bytes into U+FFFD, so a value is not what was sent.
Rather than guard every query, one hook reads what a view may see before any view runs:

- the path and the query string (each value percent-decoded to bytes, then strict UTF-8);
- every header but Cookie (a garbage cookie is only ever hashed or signature-checked, and
  treated as signed out);
- when a view or CSRF check parses it (GuardedRequest): a urlencoded body (decoded the same
  way as the query), the text fields of a multipart body, and a JSON body (also bounded in
  depth: the json module recurses, and a document 5,000 deep is a RecursionError in whatever
  walks it next).

A refusal is a 400 with a message. MAX_FORM_MEMORY_SIZE bounds each urlencoded field (decoded)
as Werkzeug bounds each multipart text part, and any other body as a whole: 413. File uploads are
multipart; their routes set their own MAX_CONTENT_LENGTH.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any
from urllib.parse import unquote_to_bytes

from flask import Flask, Request, abort, current_app, request
from werkzeug.exceptions import RequestEntityTooLarge

# Deep enough for any setting or push subscription we take; far from the recursion limit.
JSON_MAX_DEPTH = 32

UNREADABLE = (
    "The request contains characters we cannot accept (a NUL byte, or text that is not "
    "valid UTF-8). Check what was sent and try again."
)
TOO_DEEP = f"The JSON sent is nested too deeply (more than {JSON_MAX_DEPTH} levels)."


class InputRefused(ValueError):
    """A value a form or view cannot take; the message is for people."""


def is_clean_text(value: str) -> bool:
    """No NUL and no lone surrogate: text PostgreSQL can store as it is."""
    if "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _clean_bytes(raw: bytes) -> bool:
    if b"\x00" in raw:
        return False
    try:
        raw.decode("utf-8")  # strict: rejects encoded surrogates (ED A0 80) too
    except UnicodeDecodeError:
        return False
    return True


def _urlencoded_parts(raw: bytes) -> list[bytes]:
    """Every name and value of `a=1&b=2`, percent-decoded as Werkzeug does."""
    return [
        unquote_to_bytes(part.replace(b"+", b" "))
        for pair in raw.split(b"&")
        for part in pair.split(b"=", 1)
        if part
    ]


def _clean_urlencoded(raw: bytes) -> bool:
    """Every name and value of `a=1&b=2`, percent-decoded, is clean text."""
    return _clean_bytes(raw) and all(_clean_bytes(part) for part in _urlencoded_parts(raw))


def json_depth(text: str) -> int:
    """How deeply a JSON text nests arrays and objects, read without parsing (no recursion)."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def _clean_json_value(value: Any) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if not is_clean_text(item):
                return False
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return True


def loads_bounded(text: str) -> Any:
    """json.loads for text from a person: bounded depth, no NUL or lone surrogate inside.

    Raises InputRefused (with a message for people) or json.JSONDecodeError.
    """
    if json_depth(text) > JSON_MAX_DEPTH:
        raise InputRefused(TOO_DEEP)
    value = json.loads(text)
    if not _clean_json_value(value):
        raise InputRefused("The JSON contains a NUL character or a lone surrogate.")
    return value


def refuse_unreadable_input() -> None:
    """The path, the query and the headers, for every request; a body's size by its header."""
    environ = request.environ
    # WSGI hands the path and query over as latin-1 strings of the raw bytes.
    path = environ.get("PATH_INFO", "").encode("latin-1", "replace")
    if not _clean_bytes(path):
        abort(400, UNREADABLE)
    try:
        query = environ.get("QUERY_STRING", "").encode("latin-1")
    except UnicodeEncodeError:
        abort(400, UNREADABLE)
    if query and not _clean_urlencoded(query):
        abort(400, "The address contains characters that could not be read.")
    for key, value in environ.items():
        if key.startswith("HTTP_") and key != "HTTP_COOKIE" and "\x00" in value:
            abort(400, UNREADABLE)
    limit = current_app.config.get("MAX_FORM_MEMORY_SIZE")
    if (
        limit is not None
        # Form fields are bounded one by one, as Werkzeug bounds multipart text parts: a post
        # of 100,000 CJK characters is 300 kB of text but 900 kB percent-encoded.
        and request.mimetype not in ("multipart/form-data", "application/x-www-form-urlencoded")
        and (request.content_length or 0) > limit
    ):
        raise RequestEntityTooLarge()


class GuardedRequest(Request):
    """Checks a body when it is parsed (not before: an upload view first raises its own limit
    on the body's size, then reads it), so no view ever sees an unreadable field."""

    def _load_form_data(self) -> None:
        if "form" in self.__dict__:
            return
        limit = current_app.config.get("MAX_FORM_MEMORY_SIZE")
        if self.mimetype == "application/x-www-form-urlencoded":
            # Reads at most MAX_CONTENT_LENGTH; the parser then reads the cached bytes.
            raw = self.get_data(cache=True)
            parts = _urlencoded_parts(raw)
            if limit is not None and any(len(part) > limit for part in parts):
                raise RequestEntityTooLarge()
            if not (_clean_bytes(raw) and all(_clean_bytes(part) for part in parts)):
                abort(400, UNREADABLE)
        super()._load_form_data()
        if self.mimetype == "multipart/form-data":
            # Werkzeug decodes text parts leniently (U+FFFD) and bounds each one.
            for key, value in self.form.items(multi=True):
                if not (is_clean_text(key) and is_clean_text(value)):
                    abort(400, UNREADABLE)

    def get_json(self, force: bool = False, silent: bool = False, cache: bool = True) -> Any:
        if force or self.is_json:
            raw = self.get_data(cache=True)
            limit = current_app.config.get("MAX_FORM_MEMORY_SIZE")
            if limit is not None and len(raw) > limit:
                raise RequestEntityTooLarge()
            if raw:
                if not _clean_bytes(raw):
                    abort(400, UNREADABLE)
                with contextlib.suppress(json.JSONDecodeError):
                    try:
                        loads_bounded(raw.decode())
                    except InputRefused as exc:
                        abort(400, str(exc))
        return super().get_json(force=force, silent=silent, cache=cache)


def init_inputs(app: Flask) -> None:
    """Register right after the request id, before any hook that reads input or the database."""
    app.request_class = GuardedRequest
    hooks = app.before_request_funcs.setdefault(None, [])
    hooks.insert(1 if hooks else 0, refuse_unreadable_input)
