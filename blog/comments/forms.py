from __future__ import annotations

from wtforms import TextAreaField
from wtforms.validators import DataRequired, Length

from blog.comments.models import MAX_LENGTH
from blog.core.forms import BaseForm


def _strip(value: object) -> object:
    return value.strip() if isinstance(value, str) else value


class CommentForm(BaseForm):
    content = TextAreaField(
        "Your comment",
        filters=[_strip],
        validators=[
            DataRequired("Write something first."),
            Length(max=MAX_LENGTH, message=f"At most {MAX_LENGTH} characters."),
        ],
        description="Markdown works: *emphasis*, `code`, [links](https://example.org). "
        "Mention someone with @user_name.",
        render_kw={"rows": 4, "maxlength": MAX_LENGTH},
    )


class RemoveForm(BaseForm):
    reason = TextAreaField(
        "Reason for removal (shown in its place)",
        filters=[_strip],
        validators=[
            DataRequired("Give a reason: it is shown in place of the comment."),
            Length(max=500, message="At most 500 characters."),
        ],
        render_kw={"rows": 2},
    )
