from __future__ import annotations

from wtforms import SelectField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length

from blog.core.forms import BaseForm

DURATIONS = [
    SelectChoice("1d", "1 day"),
    SelectChoice("3d", "3 days"),
    SelectChoice("7d", "1 week"),
    SelectChoice("30d", "30 days"),
    SelectChoice("365d", "1 year"),
    SelectChoice("indefinite", "Until further notice"),
]


class SuspendForm(BaseForm):
    reason = TextAreaField(
        "Reason (shown to the user)",
        filters=[lambda v: v.strip() if isinstance(v, str) else v],
        validators=[
            DataRequired("Give a reason: the user sees it when signing in."),
            Length(max=500, message="At most 500 characters."),
        ],
        render_kw={"rows": 2},
    )
    duration = SelectField("For", choices=DURATIONS, default="7d")


class RoleForm(BaseForm):
    role = SelectField(
        "Role",
        choices=[
            SelectChoice("user", "User"),
            SelectChoice("moderator", "Moderator"),
            SelectChoice("admin", "Administrator"),
        ],
    )
