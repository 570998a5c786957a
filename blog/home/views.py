from __future__ import annotations

from flask import Blueprint
from flask_login import current_user

from blog.core.htmx import render
from blog.home.ui import account_menu
from blog.posts import queries
from blog.posts.views import read_cursor, viewer_id

bp = Blueprint("home", __name__)
bp.add_app_template_global(account_menu)


@bp.get("/")
def index():
    """The home feed: the newest published posts, 20 a page (keyset: `?before=`)."""
    page = queries.home_feed(read_cursor(), viewer_id=viewer_id(current_user))
    return render("home/index.html", "page", page=page)


@bp.get("/menu")
def menu():
    """Every link of the header's two menus on one page: where the menu buttons lead
    without JavaScript (with it they open in place)."""
    return render("home/menu.html")
