"""Admin and moderation pages. Nothing imports this package."""
