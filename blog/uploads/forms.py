"""Upload forms. The file field is read only after the view has raised the request's size
limit (blog/uploads/views.py); the text fields are small."""

from __future__ import annotations

from flask_wtf.file import FileField, FileRequired
from wtforms import SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Length, Optional

from blog.core.forms import BaseForm

ALT_MAX = 200
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
