from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _empty_storage(app) -> Iterator[None]:
    """Each test starts with an empty storage root (the database is emptied the same way)."""
    root = Path(app.config["UPLOADS_DIR"])
    shutil.rmtree(root, ignore_errors=True)
    yield
    shutil.rmtree(root, ignore_errors=True)
