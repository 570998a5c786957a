"""Access to a notification: only its owner's, else 404 (403 would say it exists)."""

from __future__ import annotations

import uuid

from flask import abort

from blog.auth.models import User
from blog.notifications.models import Notification
from blog.notifications.services import get_notification


def access_notification(user: User, notification_id: uuid.UUID) -> Notification:
    """The user's own in-app notification, or a 404."""
    notification = get_notification(user.id, notification_id)
    if notification is None:
        abort(404)
    return notification
