"""/dev/mail: the mail the development sink caught, like Mailpit.

Registered only in development and testing (blog/__init__.py): the directory holds sign-in and
password-reset links, and the pages have no access check of their own. A message's HTML is
shown only inside a sandboxed iframe (no scripts, no same-origin access) or as escaped source,
never as part of our page.
"""

from __future__ import annotations

from pathlib import Path

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)

from blog.devmail.services import delete_messages, get_message, get_message_path, list_messages

bp = Blueprint("devmail", __name__, url_prefix="/dev/mail")

LISTED_MESSAGES = 500


@bp.before_request
def loopback_only() -> None:
    # The mailbox holds sign-in and reset links: even in development, only this machine may
    # read it (BLOG_BIND=0.0.0.0 would otherwise publish it to the network).
    if request.remote_addr not in ("127.0.0.1", "::1"):
        abort(404)


def _mail_dir() -> Path:
    return Path(current_app.config["DEV_MAIL_DIR"])


@bp.get("")
def index():
    mails, total = list_messages(_mail_dir(), LISTED_MESSAGES)
    return render_template(
        "devmail/index.html",
        mails=mails,
        total=total,
        mail_dir=_mail_dir(),
        smtp_url_set=bool(current_app.config.get("SMTP_URL")),
    )


@bp.get("/<name>")
def message(name: str):
    found = get_message(_mail_dir(), name)
    if found is None:
        abort(404)
    return render_template("devmail/message.html", message=found)


@bp.get("/<name>/raw")
def raw(name: str):
    path = get_message_path(_mail_dir(), name)
    if path is None:
        abort(404)
    # An attachment, so the browser saves it (or hands it to a mail client), never renders it.
    return send_file(path, mimetype="message/rfc822", as_attachment=True, download_name=name)


@bp.post("/delete")
def delete_all():
    deleted = delete_messages(_mail_dir())
    flash(f"Deleted {deleted} message{'' if deleted == 1 else 's'}.", "success")
    return redirect(url_for("devmail.index"))
