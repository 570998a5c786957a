"""Upload forms. The file field is read only after the view has raised the request's size
limit (`read_upload_form`); the text fields are small."""

from __future__ import annotations

from flask import request
from flask_wtf.file import FileField, FileRequired
from werkzeug.exceptions import RequestEntityTooLarge
from wtforms import SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Length, Optional

from blog.core.forms import BaseForm
from blog.extensions import csrf, db
from blog.uploads import services
from blog.uploads.inspect import UploadRefused

ALT_MAX = 200


def read_upload_form() -> None:
    """Let this request's body be as large as the upload setting allows, then check CSRF
    (which parses the body). Raises UploadRefused(413) for a body that is too large.

    For a view that takes an upload: it must be `@csrf.exempt` (the global hook would parse
    the body under the app's 1 MiB default) and call this before it reads any field."""
    max_bytes, _quota = services.upload_limits()
    request.max_content_length = max_bytes + services.FORM_OVERHEAD_BYTES
    try:
        csrf.protect()
    except RequestEntityTooLarge:
        db.session.rollback()
        declared = request.content_length or 0
        if declared and declared <= request.max_content_length:
            raise UploadRefused("The form has too many parts.", 413) from None
        raise UploadRefused(
            f"The file is too large: the limit is {services.human_size(max_bytes)}.", 413
        ) from None


IMAGE_ACCEPT = "image/png,image/jpeg,image/gif,image/webp"
ANY_ACCEPT = IMAGE_ACCEPT + ",application/pdf,application/zip,text/plain"


def _one_line(value: object) -> object:
    # Alt text lands inside Markdown's ![...]: no line breaks, no brackets that would end it.
    if isinstance(value, str):
        return " ".join(value.replace("[", "(").replace("]", ")").split())
    return value


class AvatarForm(BaseForm):
    file = FileField(
        "Picture",
        validators=[FileRequired("Choose a picture to upload.")],
        render_kw={"accept": IMAGE_ACCEPT},
    )


class UploadForm(BaseForm):
    file = FileField(
        "File",
        validators=[FileRequired("Choose a file to upload.")],
        render_kw={"accept": ANY_ACCEPT},
    )
    purpose = SelectField(
        "Use",
        choices=[
            SelectChoice("post_image", "An image for a post"),
            SelectChoice("attachment", "A document or file"),
        ],
        default="attachment",
        description="An image for a post must be a PNG, JPEG, GIF or WebP file.",
    )
    alt = StringField(
        "Image description",
        filters=[_one_line],
        validators=[Optional(), Length(max=ALT_MAX, message=f"At most {ALT_MAX} characters.")],
        description="For people who cannot see it. Used when the image goes into a post.",
    )
