from __future__ import annotations

from wtforms import TextAreaField
from wtforms.validators import DataRequired, Length

from blog.core.forms import BaseForm


class FlagForm(BaseForm):
    reason = TextAreaField(
        "What is wrong with it?",
        filters=[lambda v: v.strip() if isinstance(v, str) else v],
        validators=[
            DataRequired("Say what is wrong, so moderators can judge."),
            Length(max=500, message="At most 500 characters."),
        ],
        render_kw={"rows": 2, "maxlength": 500},
    )
