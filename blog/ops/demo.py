"""`flask seed-demo`: the demo accounts `make run` creates on the first run (idempotent)."""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import with_appcontext

from blog.auth.services import get_user_by_email, register_user
from blog.core.db import utcnow
from blog.extensions import db

# Fixed, printed passwords: demo data is for trying the site locally, never for production.
DEMO_ACCOUNTS = (
    ("admin@example.com", "admin", "Admin-demo-2026", "admin"),
    ("moderator@example.com", "moderator", "Moderator-demo-2026", "moderator"),
    ("alice@example.com", "alice", "Alice-demo-2026", "user"),
    ("bob@example.com", "bob", "Bob-demo-2026", "user"),
)


def seed_demo_data() -> int:
    """Create the demo accounts that do not exist yet; returns how many were created."""
    created = 0
    for email, user_name, password, role in DEMO_ACCOUNTS:
        if get_user_by_email(email) is None:
            user = register_user(email=email, user_name=user_name, password=password, role=role)
            user.email_verified_at = utcnow()
            created += 1
    db.session.commit()
    from blog.posts.demo import seed_demo_posts

    seed_demo_posts()  # a few posts with tags, so the home page has something to show
    from blog.comments.demo import seed_demo_comments

    seed_demo_comments()  # a short discussion under the first post
    from blog.chat.demo import seed_demo_chat

    seed_demo_chat()  # Alice and Bob's conversation, and the staff's group
    return created


@click.command("seed-demo")
@click.option("--quiet", is_flag=True)
@with_appcontext
def seed_demo_command(quiet: bool) -> None:
    """Create the demo accounts (admin, moderator, two users) and print their logins."""
    from flask import current_app

    if current_app.config["ENV_NAME"] == "production":
        raise click.ClickException("refusing to create demo accounts in production")
    created = seed_demo_data()
    if not quiet:
        click.echo(
            f"Demo data: {created} account(s) created." if created else "Demo data: present."
        )
        click.echo("Demo logins (email / password / role):")
        for email, _name, password, role in DEMO_ACCOUNTS:
            click.echo(f"  {email:<24} {password:<22} {role}")


def init_demo(app: Flask) -> None:
    app.cli.add_command(seed_demo_command)
