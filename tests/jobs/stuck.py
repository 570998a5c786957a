"""Jobs that overrun their timeout, for the in-process worker's tests (importable by RQ)."""

from __future__ import annotations

import time
from pathlib import Path

from sqlalchemy import text

from blog.extensions import db


def sleep_in_python(seconds: float) -> None:
    """Stuck in Python code: SIGALRM's exception interrupts it."""
    time.sleep(seconds)


def sleep_in_postgres(seconds: float) -> None:
    """Stuck inside libpq (C): no Python signal handler runs until the statement returns."""
    db.session.execute(text("SET LOCAL statement_timeout = 0"))
    db.session.execute(text("SELECT pg_sleep(:s)"), {"s": seconds})


def sleep_the_first_time(marker: str, seconds: float) -> str:
    """Sleeps on its first run (long enough to be killed in), returns at once on the next."""
    path = Path(marker)
    if path.exists():
        return "second run"
    path.touch()
    time.sleep(seconds)
    return "first run"
