from __future__ import annotations

from wtforms import BooleanField, SelectField, TextAreaField
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


class SettingForm(BaseForm):
    value = TextAreaField(
        "Value (JSON)",
        validators=[
            DataRequired("Enter a JSON value."),
            Length(max=20_000, message="At most 20,000 characters."),
        ],
        render_kw={"rows": 6, "spellcheck": "false", "class": "mono"},
    )


class MaintenanceForm(BaseForm):
    enabled = BooleanField("Maintenance mode on (everyone but administrators sees a 503 page)")
    message = TextAreaField(
        "Message shown to visitors",
        filters=[lambda v: v.strip() if isinstance(v, str) else v],
        validators=[Length(max=500, message="At most 500 characters.")],
        render_kw={"rows": 2},
    )
