"""The append-only audit log of moderator, admin and configuration actions."""
