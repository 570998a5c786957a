"""Sending a picture or a file in a conversation: the composer's "Attach" form.

One multipart POST does it all, so it works without JavaScript (the page comes back with the
message); with htmx it goes in the background with a progress bar (static/js/uploads.js) and
the answer appends the message at once, as a text message's does. Like every upload view it is
exempt from the global CSRF hook and checks the token itself once it has raised the body limit
(blog/uploads/forms.py: read_upload_form).
"""

from __future__ import annotations

import uuid
from typing import Any

from flask import Blueprint, render_template, url_for
from flask_login import current_user
from flask_wtf.file import FileField, FileRequired
from wtforms import StringField
from wtforms.validators import Length, Optional

from blog.auth.access import require_verified
from blog.chat import attachments
from blog.chat.access import access_conversation
from blog.chat.models import BODY_MAX
from blog.chat.views import message_context  # the chat's own rendering of a message
from blog.core.forms import BaseForm
from blog.core.htmx import is_htmx, redirect_to
from blog.extensions import csrf, db
from blog.uploads import services as upload_services
from blog.uploads.forms import ANY_ACCEPT, read_upload_form
from blog.uploads.inspect import UploadRefused

bp = Blueprint("chat_attachments", __name__, url_prefix="/chat")

CAPTION_MAX = 500


class AttachmentForm(BaseForm):
    file = FileField(
        "Attach a picture or a file",
        validators=[FileRequired("Choose a picture or a file to send.")],
        render_kw={"accept": ANY_ACCEPT},
    )
    caption = StringField(
        "Caption",
        filters=[lambda v: v.strip() if isinstance(v, str) else v],
        validators=[
            Optional(),
            Length(max=min(CAPTION_MAX, BODY_MAX), message=f"At most {CAPTION_MAX} characters."),
        ],
    )


def _refused(conversation_id: uuid.UUID, message: str, status: int) -> Any:
    back = url_for("chat.show", conversation_id=conversation_id) + "#latest"
    if is_htmx():
        return render_template("uploads/_result.html", message=message, ok=False), status
    return render_template("uploads/refused.html", message=message, back=back), status


@bp.post("/<uuid:conversation_id>/attachments")
@csrf.exempt
@require_verified
def attach(conversation_id: uuid.UUID):
    # Membership first: a non-participant learns nothing, not even whether the token was good.
    conversation, _me = access_conversation(current_user, conversation_id)
    try:
        read_upload_form()
        form = AttachmentForm()
        if not form.validate():
            errors = " ".join(e for errs in form.errors.values() for e in errs)
            raise UploadRefused(errors or "Check the form.", 422)
        message = attachments.send_attachment(
            conversation,
            current_user,
            form.file.data.stream,
            client_name=form.file.data.filename,
            caption=form.caption.data or "",
        )
    except UploadRefused as exc:
        db.session.rollback()
        return _refused(conversation_id, exc.message, exc.status)
    except attachments.NotSent as exc:
        db.session.rollback()
        upload_services.forget_upload(exc.file_id, exc.checksum)
        db.session.commit()
        return _refused(conversation_id, str(exc), 429 if exc.rate_limited else 422)
    db.session.commit()
    if is_htmx():
        return render_template(
            "chat/_attachment_sent.html", **message_context(message), mine=True
        ), 201
    return redirect_to(url_for("chat.show", conversation_id=conversation.id) + "#latest")
