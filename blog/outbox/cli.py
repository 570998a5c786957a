"""`flask outbox status` and `flask outbox retry ID|--parked`."""

from __future__ import annotations

import uuid

import click
from flask import Flask
from flask.cli import AppGroup

from blog.extensions import db
from blog.outbox.events import trigger_relay_on_commit
from blog.outbox.services import outbox_stats, unpark_events

outbox_cli = AppGroup("outbox", help="Inspect and retry the transactional outbox.")


@outbox_cli.command("status")
def status_command() -> None:
    """Print pending, parked, the oldest pending age and the last minute's publications."""
    stats = outbox_stats()
    age = stats["oldest_pending_age_seconds"]
    click.echo(f"pending:                {stats['pending']}")
    click.echo(f"parked:                 {stats['parked']}")
    click.echo(f"oldest pending age:     {'-' if age is None else f'{age} s'}")
    click.echo(f"published (last minute): {stats['published_last_minute']}")


@outbox_cli.command("retry")
@click.argument("event_id", required=False)
@click.option("--parked", "all_parked", is_flag=True, help="Retry every parked event.")
def retry_command(event_id: str | None, all_parked: bool) -> None:
    """Bring a parked event (or all of them) back to the relay."""
    if bool(event_id) == all_parked:
        raise click.UsageError("give one event id, or --parked for all parked events")
    target = None
    if event_id:
        try:
            target = uuid.UUID(event_id)
        except ValueError:
            raise click.BadParameter(f"{event_id!r} is not an event id") from None
    count = unpark_events(target)
    db.session.commit()
    if count:
        trigger_relay_on_commit()
    click.echo(f"{count} event(s) queued for the relay again.")
    if event_id and not count:
        raise click.ClickException(f"no parked event {event_id}")


def init_outbox_cli(app: Flask) -> None:
    app.cli.add_command(outbox_cli)
