"""The front page (the posts feature will fill it)."""
