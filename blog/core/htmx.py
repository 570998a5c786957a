"""HTMX helpers: decide page-or-fragment in one place; flashes travel out-of-band."""

from __future__ import annotations

from typing import Any

from flask import Response, g, get_flashed_messages, render_template, request, session
from jinja2 import Template
from werkzeug.urls import iri_to_uri


def is_htmx() -> bool:
    """A request made by htmx that expects a fragment (boosted requests get whole pages)."""
    return request.headers.get("HX-Request") == "true" and not request.headers.get("HX-Boosted")


def render(template_name: str, fragment: str | None = None, **context: Any) -> str:
    """Render the page, or, for an htmx request, only the named block of that page.

    A fragment is a `{% block %}` of the page rendered alone, so the page and the fragment can
    never drift apart. Macros a block uses must be imported inside the block.
    """
    if fragment and is_htmx():
        from flask import current_app

        env = current_app.jinja_env
        template: Template = env.get_or_select_template(template_name)
        ctx = template.new_context(_template_context(context))
        return "".join(template.blocks[fragment](ctx))
    return render_template(template_name, **context)


def _template_context(context: dict[str, Any]) -> dict[str, Any]:
    from flask import current_app

    merged = dict(context)
    current_app.update_template_context(merged)
    return merged


def append_flashes_oob(response: Response) -> Response:
    """After an htmx swap, deliver pending flash messages into #flash-messages out of band."""
    if not is_htmx() or response.mimetype != "text/html" or response.direct_passthrough:
        return response
    # A response htmx will not swap (an empty 204, a redirect, HX-Redirect) must leave the
    # messages in the session for the page that loads next.
    if response.status_code == 204 or 300 <= response.status_code < 400:
        return response
    if "HX-Redirect" in response.headers or "HX-Location" in response.headers:
        return response
    if "_flashes" not in session or g.get("keep_flashes"):
        return response
    messages = get_flashed_messages(with_categories=True)
    html = render_template("_flashes.html", messages=messages, oob=True)
    response.set_data(response.get_data(as_text=True) + html)
    return response


def error_beside_form() -> None:
    """This answer to an htmx request is an error to show beside the form that sent it, never
    in the form's target (a list it appends to, an element it replaces).

    The page decides where "beside" is (static/js/app.js: a role="alert" slot right after the
    form, made on demand): the server cannot know the form's surroundings, and a proxy's 502
    never reaches it. The server says which answers are such errors: `HX-Reswap: none`
    (mark_error_answer), so that htmx by itself never swaps one into the target either. Not
    for 422 form re-renders, nor for answers that name their own place with HX-Retarget.
    """
    g.error_beside_form = True


def mark_error_answer(response: Response) -> Response:
    """after_request: an answer marked with error_beside_form says so in its headers."""
    if (
        g.get("error_beside_form")
        and is_htmx()
        and response.status_code >= 400
        and "HX-Retarget" not in response.headers
    ):
        response.headers["HX-Reswap"] = "none"
    return response


def keep_flashes() -> None:
    """This response is a background fragment (a live preview, suggestions): pending flash
    messages stay for the page. Such requests fire on a timer and can land between a form's
    redirect and the page it loads, which would otherwise swallow the message."""
    g.keep_flashes = True


def redirect_to(location: str) -> Response:
    """Redirect a page request; tell htmx to load the page itself (not swap it into a target)."""
    if is_htmx():
        # Headers are Latin-1: encode the IRI the way Werkzeug's redirect() does for Location.
        return Response("", 204, {"HX-Redirect": iri_to_uri(location)})
    from flask import redirect

    return redirect(location)  # type: ignore[return-value]
