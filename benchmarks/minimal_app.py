"""The baseline of benchmarks/home_page.py: a minimal Flask page doing one query and one
template render (the TechEmpower "fortunes" shape), on the same database as the real app.

    gunicorn benchmarks.minimal_app:app     (DATABASE_URL must be set)
"""

from __future__ import annotations

import os

from flask import Flask, render_template_string
from sqlalchemy import create_engine, text

app = Flask(__name__)
# The same driver as the app (SQLAlchemy 2.1 would pick psycopg 3 for a bare postgresql://).
engine = create_engine(
    os.environ["DATABASE_URL"].replace("postgresql://", "postgresql+psycopg2://", 1), pool_size=10
)

QUERY = text(
    "SELECT title, slug, published_at FROM posts WHERE status = 'published' "
    "ORDER BY published_at DESC, id DESC LIMIT 20"
)
TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Latest posts</title></head>
<body><main><h1>Latest posts</h1>
{% for title, slug, published_at in rows %}
<article><h2><a href="/posts/{{ slug }}">{{ title }}</a></h2>
<time datetime="{{ published_at.isoformat() }}">{{ published_at.strftime("%d %b %Y") }}</time>
</article>
{% endfor %}
</main></body></html>"""


@app.get("/")
def index() -> str:
    with engine.connect() as conn:
        rows = conn.execute(QUERY).all()
    return render_template_string(TEMPLATE, rows=rows)
