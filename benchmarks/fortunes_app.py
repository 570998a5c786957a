"""The TechEmpower "fortunes" page, the baseline of benchmarks/home_page.py (issue 18 item 5).

    gunicorn benchmarks.fortunes_app:app     (DATABASE_URL must be set; the benchmark creates
                                               and fills the `bench_fortunes` table)

As the TechEmpower rules have it: one query reads every row of a 12-row table, one fortune is
added at request time, the list is sorted by message, and a Jinja loop renders it with
autoescaping (one row is a <script> that must come out escaped). The same Flask, SQLAlchemy
Core, psycopg2 and connection pool as the real app, under the same gunicorn settings.
"""

from __future__ import annotations

import os
from functools import cache

from flask import Flask, render_template_string
from sqlalchemy import Engine, create_engine, text

app = Flask(__name__)


@cache
def engine() -> Engine:
    url = os.environ["DATABASE_URL"]
    return create_engine(url.replace("postgresql://", "postgresql+psycopg2://", 1), pool_size=10)


QUERY = text("SELECT id, message FROM bench_fortunes")
EXTRA = (0, "Additional fortune added at request time.")
TEMPLATE = """<!DOCTYPE html>
<html><head><title>Fortunes</title></head><body><table>
<tr><th>id</th><th>message</th></tr>
{% for id, message in fortunes %}<tr><td>{{ id }}</td><td>{{ message }}</td></tr>
{% endfor %}</table></body></html>"""

# The TechEmpower data set (the 12 rows of its Fortune table).
FORTUNES = [
    "fortune: No such file or directory",
    "A computer scientist is someone who fixes things that aren't broken.",
    "After enough decimal places, nobody gives a damn.",
    "A bad random number generator: 1, 1, 1, 1, 1, 4.33e+67, 1, 1, 1",
    "A computer program does what you tell it to do, not what you want it to do.",
    "Emacs is a nice operating system, but I prefer UNIX. — Tom Christaensen",
    "Any program that runs right is obsolete.",
    "A list is only as strong as its weakest link. — Donald Knuth",
    "Feature: A bug with seniority.",
    "Computers make very fast, very accurate mistakes.",
    '<script>alert("This should not be displayed in a browser alert box.");</script>',
    "フレームワークのベンチマーク",
]


def create_table(url: str) -> None:
    """Make and fill the table (the benchmark calls this before starting the server)."""
    setup = create_engine(url.replace("postgresql://", "postgresql+psycopg2://", 1))
    with setup.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS bench_fortunes"))
        conn.execute(text("CREATE TABLE bench_fortunes (id integer PRIMARY KEY, message text)"))
        conn.execute(
            text("INSERT INTO bench_fortunes (id, message) VALUES (:id, :message)"),
            [{"id": n, "message": m} for n, m in enumerate(FORTUNES, start=1)],
        )
    setup.dispose()


@app.get("/")
def fortunes() -> str:
    with engine().connect() as conn:
        rows = [tuple(row) for row in conn.execute(QUERY)]
    rows.append(EXTRA)
    rows.sort(key=lambda row: row[1])
    return render_template_string(TEMPLATE, fortunes=rows)
