"""Forms of the notifications pages: each carries the CSRF token; preferences are checkboxes."""

from __future__ import annotations

from typing import Any

from wtforms import BooleanField

from blog.core.forms import BaseForm
from blog.notifications.models import DIGEST_KIND
from blog.notifications.services import (
    DEFAULTS,
    DIGEST_LABEL,
    KIND_LABELS,
    PAGE_CHANNELS,
    REQUIRED_EMAIL,
)

CHANNEL_LABELS = {"in_app": "In the app", "email": "By email", "push": "By push"}


class ActionForm(BaseForm):
    """A button that changes state (mark read, follow): only the CSRF token."""


def field_name(kind: str, channel: str) -> str:
    return f"{kind}__{channel}"


class PreferencesForm(BaseForm):
    """One checkbox per kind and channel (built below from the tables of kinds), and the
    daily digest."""

    daily_digest = BooleanField(DIGEST_LABEL)

    def choices(self) -> dict[tuple[str, str], bool]:
        chosen = {
            (kind, channel): bool(self[field_name(kind, channel)].data)
            for kind in KIND_LABELS
            for channel in PAGE_CHANNELS
            if (kind, channel) in DEFAULTS and not is_fixed(kind, channel)
        }
        chosen[(DIGEST_KIND, "email")] = bool(self.daily_digest.data)
        return chosen


def is_fixed(kind: str, channel: str) -> bool:
    return channel == "email" and kind in REQUIRED_EMAIL


def _add_fields() -> None:
    for kind, label in KIND_LABELS.items():
        for channel in PAGE_CHANNELS:
            text = CHANNEL_LABELS[channel]
            field: Any = BooleanField(f"{label}: {text}")
            setattr(PreferencesForm, field_name(kind, channel), field)


_add_fields()
