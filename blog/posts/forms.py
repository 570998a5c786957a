from __future__ import annotations

import unicodedata
from datetime import UTC, datetime, timedelta
from typing import Any

from wtforms import DateTimeLocalField, IntegerField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional, ValidationError
from wtforms.widgets import HiddenInput

from blog.core.db import utcnow
from blog.core.forms import BaseForm
from blog.posts.models import CONTENT_MAX, CONTENT_MIN, TAGS_PER_POST_MAX, TITLE_MAX, TITLE_MIN
from blog.posts.services import TagsInvalid, parse_tag_names

ACTIONS = ("save", "publish", "schedule", "preview")
SCHEDULE_MAX_AHEAD = timedelta(days=366)


def _nfc_strip(value: Any) -> Any:
    return unicodedata.normalize("NFC", value).strip() if isinstance(value, str) else value


def _nfc(value: Any) -> Any:
    # Content keeps its leading spaces (an indented code block) and newlines as typed.
    if not isinstance(value, str):
        return value
    return unicodedata.normalize("NFC", value.replace("\r\n", "\n")).rstrip()


class PostForm(BaseForm):
    title = StringField(
        "Title",
        filters=[_nfc_strip],
        validators=[
            DataRequired("Give the post a title."),
            Length(
                min=TITLE_MIN,
                max=TITLE_MAX,
                message=f"A title has {TITLE_MIN} to {TITLE_MAX} characters.",
            ),
        ],
        render_kw={"autocomplete": "off"},
    )
    content = TextAreaField(
        "Text",
        filters=[_nfc],
        validators=[
            DataRequired("Write the post."),
            Length(
                min=CONTENT_MIN,
                max=CONTENT_MAX,
                message=f"The text has {CONTENT_MIN:,} to {CONTENT_MAX:,} characters.",
            ),
        ],
        description="Markdown: **bold**, _italic_, [links](https://…), `code`, lists, tables.",
        render_kw={"rows": 16},
    )
    tags = StringField(
        "Tags",
        filters=[_nfc_strip],
        validators=[Optional(), Length(max=300, message="That is too many tags.")],
        description=f"Up to {TAGS_PER_POST_MAX}, separated by commas. New tags are created.",
        render_kw={"autocomplete": "off", "list": "tag-options"},
    )
    scheduled_at = DateTimeLocalField(
        "Publish at (UTC)",
        format=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"],
        validators=[Optional()],
        description="For “Schedule”: the post is published within a minute of this time.",
    )
    # The version of the post this editor started from (blog.posts.services.VersionConflict);
    # the autosave script moves it on after each of its saves. Empty for a new post.
    version = IntegerField(widget=HiddenInput(), validators=[Optional()])

    def __init__(self, *args: Any, intent: str = "save", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The button pressed (read_action): publishing, scheduling, a preview or a save.
        self.intent = intent
        self.tag_names: list[str] = []

    def validate_tags(self, field: StringField) -> None:
        try:
            self.tag_names = parse_tag_names(field.data or "")
        except TagsInvalid as exc:
            raise ValidationError(str(exc)) from None

    def validate(self, extra_validators: Any = None) -> bool:
        valid = super().validate(extra_validators=extra_validators)
        # Optional() ends the field's checks when it is empty, so "Schedule" without a time is
        # caught here.
        field = self.scheduled_at
        if self.intent == "schedule" and field.data is None and not field.errors:
            field.errors = [*field.errors, "Choose when to publish."]
            return False
        return valid

    def validate_scheduled_at(self, field: DateTimeLocalField) -> None:
        if self.intent != "schedule" or field.data is None:
            return
        at = field.data.replace(tzinfo=UTC)
        now = utcnow()
        if at <= now:
            raise ValidationError("Choose a time in the future.")
        if at > now + SCHEDULE_MAX_AHEAD:
            raise ValidationError("Schedule at most a year ahead.")

    @property
    def scheduled_at_utc(self) -> datetime | None:
        data = self.scheduled_at.data
        return data.replace(tzinfo=UTC) if data is not None else None


def read_action(raw: str | None) -> str:
    """The button pressed; anything unknown is a plain save."""
    return raw if raw in ACTIONS else "save"
