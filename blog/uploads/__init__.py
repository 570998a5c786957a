"""Uploads and media: checked, deduplicated, re-encoded files served with access checks."""
