from __future__ import annotations

from wtforms import HiddenField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length

from blog.chat.models import BODY_MAX, TITLE_MAX
from blog.core.forms import BaseForm


def _strip(value: object) -> object:
    return value.strip() if isinstance(value, str) else value


def split_names(raw: str | None) -> list[str]:
    """User names typed into one field, separated by commas or spaces (an @ is optional)."""
    parts = (raw or "").replace(",", " ").split()
    return list(dict.fromkeys(p.lstrip("@") for p in parts if p.lstrip("@")))


class StartForm(BaseForm):
    members = StringField(
        "With",
        filters=[_strip],
        validators=[
            DataRequired("Name at least one person."),
            Length(max=2000, message="That is too many names for one field."),
        ],
        description="User names, separated by commas. One person: a direct conversation.",
        render_kw={"autocomplete": "off", "placeholder": "alice, bob"},
    )
    title = StringField(
        "Group title (for a group)",
        filters=[_strip],
        validators=[Length(max=TITLE_MAX, message=f"At most {TITLE_MAX} characters.")],
        render_kw={"maxlength": TITLE_MAX},
    )


class MessageForm(BaseForm):
    body = TextAreaField(
        "Message",
        filters=[_strip],
        validators=[
            DataRequired("Write a message first."),
            Length(max=BODY_MAX, message=f"At most {BODY_MAX} characters."),
        ],
        render_kw={"rows": 2, "maxlength": BODY_MAX},
    )


class AddMembersForm(BaseForm):
    members = StringField(
        "Add people",
        filters=[_strip],
        validators=[
            DataRequired("Name at least one person."),
            Length(max=2000, message="That is too many names for one field."),
        ],
        description="User names, separated by commas.",
        render_kw={"autocomplete": "off"},
    )


class RenameForm(BaseForm):
    title = StringField(
        "Title",
        filters=[_strip],
        validators=[
            DataRequired("A group needs a title."),
            Length(max=TITLE_MAX, message=f"At most {TITLE_MAX} characters."),
        ],
        render_kw={"maxlength": TITLE_MAX},
    )


class RoleForm(BaseForm):
    role = SelectField(
        "Role",
        choices=[
            SelectChoice("member", "Member"),
            SelectChoice("admin", "Admin"),
            SelectChoice("owner", "Owner"),
        ],
    )


class ButtonForm(BaseForm):
    """A button that changes something: only its CSRF token."""

    confirm = HiddenField(default="1")
