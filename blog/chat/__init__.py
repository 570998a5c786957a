"""Chat: direct and group conversations, live over the websocket (blog/core/live.py)."""
