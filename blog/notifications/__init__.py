"""Notifications: the inbox, email delivery, preferences, follows, and the live channel (/ws)."""
