"""The migration head(s) the code expects, read once from the migrations folder."""

from __future__ import annotations

from alembic.config import Config
from alembic.script import ScriptDirectory
from flask import Flask

_EXT_KEY = "blog_migration_heads"


def migration_heads(app: Flask) -> set[str]:
    heads = app.extensions.get(_EXT_KEY)
    if heads is None:
        directory = app.extensions["migrate"].directory
        config = Config()
        config.set_main_option("script_location", directory)
        heads = set(ScriptDirectory.from_config(config).get_heads())
        app.extensions[_EXT_KEY] = heads
    return set(heads)
