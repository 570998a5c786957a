"""Forms of the notifications pages: each carries the CSRF token; preferences are checkboxes."""

from __future__ import annotations

from typing import Any

from wtforms import BooleanField

from blog.core.forms import BaseForm
from blog.notifications.services import DEFAULTS, KIND_LABELS, PAGE_CHANNELS, REQUIRED_EMAIL


class ActionForm(BaseForm):
    """A button that changes state (mark read, follow): only the CSRF token."""


def field_name(kind: str, channel: str) -> str:
    return f"{kind}__{channel}"


class PreferencesForm(BaseForm):
    """One checkbox per kind and channel (built below from the tables of kinds)."""

    def choices(self) -> dict[tuple[str, str], bool]:
        return {
            (kind, channel): bool(self[field_name(kind, channel)].data)
            for kind in KIND_LABELS
            for channel in PAGE_CHANNELS
            if (kind, channel) in DEFAULTS and not is_fixed(kind, channel)
        }


def is_fixed(kind: str, channel: str) -> bool:
    return channel == "email" and kind in REQUIRED_EMAIL


def _add_fields() -> None:
    for kind, label in KIND_LABELS.items():
        for channel in PAGE_CHANNELS:
            text = "In the app" if channel == "in_app" else "By email"
            field: Any = BooleanField(f"{label}: {text}")
            setattr(PreferencesForm, field_name(kind, channel), field)


_add_fields()
