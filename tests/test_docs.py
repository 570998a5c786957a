"""The documents say what the code does: the README's commands, logins and links, every
variable and runtime setting in docs/configuration.md, and the commands of docs/operations.md,
run here as written (a backup restored into a scratch database must give the same rows)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, select, text
from sqlalchemy.engine import make_url

from blog.config import PROJECT_ROOT
from blog.extensions import db

README = PROJECT_ROOT / "README.md"
DOCS = PROJECT_ROOT / "docs"
OPERATIONS = DOCS / "operations.md"
CONFIGURATION = DOCS / "configuration.md"
DOCUMENTS = [README, PROJECT_ROOT / "CHANGELOG.md", *sorted(DOCS.glob("*.md"))]


def shell_lines(path: Path) -> list[str]:
    """The lines of a document's ```sh blocks."""
    blocks = re.findall(r"```sh\n(.*?)```", path.read_text(), re.DOTALL)
    return [line for block in blocks for line in block.splitlines() if line.strip()]


def command(path: Path, start: str) -> str:
    """The one shell line of `path` that starts with `start`, as written."""
    found = [line for line in shell_lines(path) if line.startswith(start)]
    assert len(found) == 1, (start, found)
    return found[0]


def bash(line: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", line],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, f"{line}\n{result.stdout}\n{result.stderr}"
    return result


# --------------------------------------------------------------------------- the README


def test_the_readme_is_short_and_gives_the_two_commands():
    lines = README.read_text().splitlines()
    assert len(lines) <= 250
    sh = shell_lines(README)
    # CI runs the README's test command: these two lines stay exactly so.
    assert any(re.fullmatch(r"make run\s+#.*", line) for line in sh)
    assert any(re.fullmatch(r"make test\s+#.*", line) for line in sh)


def test_the_readme_demo_logins_are_the_seeds():
    from blog.ops.demo import DEMO_ACCOUNTS

    rows = re.findall(r"^\| (\S+@example\.com) \| (\S+) \| (\w+) \|$", README.read_text(), re.M)
    assert rows == [(email, password, role) for email, _name, password, role in DEMO_ACCOUNTS]


def test_the_readme_shows_the_three_screenshots():
    section = README.read_text().split("## Screenshots", 1)[1].split("\n## ", 1)[0]
    images = re.findall(r"!\[[^\]]+\]\((docs/screenshots/[^)]+)\)", section)
    assert images == [
        "docs/screenshots/home-1280-light.png",
        "docs/screenshots/post-390-dark.png",
        "docs/screenshots/admin-1280-dark.png",
    ]


def test_every_make_target_the_readme_names_exists():
    targets = set(re.findall(r"^([a-z-]+):", (PROJECT_ROOT / "Makefile").read_text(), re.M))
    named = set(re.findall(r"`make ([a-z-]+)", README.read_text()))
    assert named <= targets, named - targets


def _slug(heading: str) -> str:
    """GitHub's anchor of a heading."""
    heading = re.sub(r"[`*_]", "", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", heading).replace(" ", "-")


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: str(p.relative_to(PROJECT_ROOT)))
def test_links_between_the_documents_resolve(document):
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", document.read_text()):
        if re.match(r"[a-z]+:|/", target):
            continue  # http(s), mailto and the site's own paths: not files of the repository
        path, _, anchor = target.partition("#")
        file = (document.parent / path).resolve() if path else document
        if "docs/screenshots/" in str(file):
            continue  # written by `make screenshots`
        if not file.exists():
            broken.append(target)
        elif anchor and file.suffix == ".md":
            headings = re.findall(r"^#+ (.+)$", file.read_text(), re.M)
            if anchor not in {_slug(h) for h in headings}:
                broken.append(target)
    assert not broken, broken


# --------------------------------------------------------------------------- configuration


def test_every_variable_the_code_reads_is_documented():
    sources = [*sorted((PROJECT_ROOT / "blog").rglob("*.py")), PROJECT_ROOT / "gunicorn.conf.py"]
    names = set()
    for source in sources:
        names |= set(
            re.findall(
                r"[\"'](BLOG_[A-Z0-9_]+|DATABASE_URL|REDIS_URL|PORT|PROMETHEUS_MULTIPROC_DIR)[\"']",
                source.read_text(),
            )
        )
    documented = set(re.findall(r"`([A-Z][A-Z0-9_]+)`", CONFIGURATION.read_text()))
    assert len(names) > 30  # the pattern finds them
    assert names <= documented, sorted(names - documented)


def test_every_runtime_setting_is_documented_with_its_default(app):
    from blog.core.settings import SETTINGS

    page = CONFIGURATION.read_text()
    for key, setting in SETTINGS.items():
        row = re.search(rf"^\| `{key}` \| `([^`]+)` \| `([^`]+)`[^|]*\|", page, re.M)
        assert row, f"runtime setting {key} is not in docs/configuration.md"
        assert json.loads(row[2]) == setting.default, key


# --------------------------------------------------------------------------- operations


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _pg_path() -> str:
    # pg_dump must be as new as the server: pgserver's 16 dumps the embedded 16 and the
    # machine's 15 alike.
    import pgserver

    return f"{Path(pgserver.__file__).parent / 'pginstall' / 'bin'}:{os.environ['PATH']}"


def _snapshot(url: str) -> dict[str, tuple[int, list[tuple[str, ...]]]]:
    """Every table's row count and its first rows by primary key, as text."""
    engine = create_engine(make_url(url).set(drivername="postgresql+psycopg2"))
    try:
        with engine.connect() as conn:
            tables = sorted(inspect(conn).get_table_names())
            found = {}
            for table in tables:
                # Table names come from the database's own catalogue.
                count = conn.scalar(text(f'SELECT count(*) FROM "{table}"'))  # noqa: S608
                sample = conn.execute(
                    text(f'SELECT t::text FROM "{table}" t ORDER BY 1 LIMIT 20')  # noqa: S608
                ).all()
                found[table] = (int(count), [tuple(r) for r in sample])
            return found
    finally:
        engine.dispose()


def test_backup_and_restore_round_trip_the_data(app, database_url, tmp_path):
    from blog.ops.demo import seed_demo_data
    from blog.ops.migrations import migration_heads

    with app.app_context():
        seed_demo_data()  # accounts, posts with tags, comments, chat, their outbox events
        db.session.remove()
    restore_db = f"blog_restore_{os.getpid()}"
    live = _libpq(database_url)
    restore = _libpq(str(make_url(live).set(database=restore_db)))
    env = {
        **os.environ,
        "PATH": _pg_path(),
        "DATABASE_URL": live,
        "RESTORE_URL": restore,
        "BACKUP_DIR": str(tmp_path),
    }
    lines = [
        command(OPERATIONS, "pg_dump "),
        command(OPERATIONS, 'psql "$DATABASE_URL" --quiet --command="CREATE DATABASE'),
        command(OPERATIONS, "pg_restore "),
        command(OPERATIONS, 'psql "$RESTORE_URL"'),
    ]
    try:
        for line in lines[:-1]:
            bash(line.replace("blog_restore", restore_db), env, tmp_path)
        version = bash(lines[-1], env, tmp_path).stdout.split()
        assert set(version) == migration_heads(app)
        before, after = _snapshot(live), _snapshot(restore)
        assert before == after
        # The comparison saw the data: demo rows in the tables that matter.
        for table in ("users", "posts", "comments", "messages", "domain_event_outbox"):
            assert before[table][0] > 0, table
    finally:
        engine = create_engine(
            make_url(live).set(drivername="postgresql+psycopg2"), isolation_level="AUTOCOMMIT"
        )
        with engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{restore_db}" WITH (FORCE)'))
        engine.dispose()


def test_the_uploads_backup_commands_round_trip(tmp_path):
    uploads, backup = tmp_path / "uploads", tmp_path / "backup"
    blob = uploads / "blobs" / "ab" / "cd" / ("abcd" + "0" * 60)
    blob.parent.mkdir(parents=True)
    blob.write_bytes(b"\x89PNG not really")
    env = {**os.environ, "BLOG_UPLOADS_DIR": str(uploads), "BACKUP_DIR": str(backup)}
    backup.mkdir()
    bash(command(OPERATIONS, 'rsync --archive "$BLOG_UPLOADS_DIR/"'), env, tmp_path)
    blob.unlink()
    restore = re.search(
        r"`(rsync --archive \"\$BACKUP_DIR/uploads/\" [^`]+)`", OPERATIONS.read_text()
    )
    assert restore, "the restore command"
    bash(restore[1], env, tmp_path)
    assert blob.read_bytes() == b"\x89PNG not really"


def _flask(app, line: str) -> str:
    """Run a documented `flask --app app ...` line through this app's CLI."""
    assert line.startswith("flask --app app ")
    result = app.test_cli_runner().invoke(args=line.split()[3:])
    assert result.exit_code == 0, result.output
    return result.output


def test_the_parked_events_runbook(app):
    from blog.outbox.events import emit
    from blog.outbox.models import OutboxEvent

    with app.app_context():
        emit("user.registered", aggregate_type="user", aggregate_id=uuid.uuid4(), data={})
        db.session.commit()
        db.session.execute(
            text("UPDATE domain_event_outbox SET parked_at = now(), retry_count = 10")
        )
        db.session.commit()
        status = command(OPERATIONS, "flask --app app outbox status")
        assert re.search(r"parked:\s+1\b", _flask(app, status))
        assert "1 event(s) queued" in _flask(
            app, command(OPERATIONS, "flask --app app outbox retry --parked")
        )
        assert re.search(r"parked:\s+0\b", _flask(app, status))
        assert db.session.scalar(select(OutboxEvent.parked_at)) is None
        # One event by its id.
        db.session.execute(text("UPDATE domain_event_outbox SET parked_at = now()"))
        db.session.commit()
        event_id = str(db.session.scalar(select(OutboxEvent.id)))
        one = command(OPERATIONS, "flask --app app outbox retry EVENT_ID")
        assert "1 event(s) queued" in _flask(app, one.replace("EVENT_ID", event_id))
        db.session.expire_all()
        assert db.session.scalar(select(OutboxEvent.parked_at)) is None
        db.session.remove()


def test_the_failed_mail_runbook(app, database_url):
    from blog.jobs.queues import get_queue
    from blog.notifications.jobs import sweep_pending_emails
    from blog.notifications.models import Notification
    from tests.factories import make_user

    with app.app_context():
        user = make_user(email="reader@example.com")
        db.session.add(
            Notification(
                user_id=user.id,
                type="email",
                kind="comment_on_post",
                title="A comment",
                message="Someone commented",
                status="failed",
                attempts=5,
                last_error="535 authentication failed",
            )
        )
        db.session.commit()
        db.session.execute(
            text("UPDATE notifications SET created_at = now() - interval '10 minutes'")
        )
        db.session.commit()
        env = {**os.environ, "PATH": _pg_path(), "DATABASE_URL": _libpq(database_url)}
        report = bash(
            command(OPERATIONS, 'psql "$DATABASE_URL" --command="SELECT last_error'),
            env,
            PROJECT_ROOT,
        )
        assert re.search(r"535 authentication failed\s*\|\s*1", report.stdout), report.stdout
        bash(
            command(OPERATIONS, 'psql "$DATABASE_URL" --command="UPDATE notifications'),
            env,
            PROJECT_ROOT,
        )
        db.session.expire_all()
        row = db.session.scalar(select(Notification))
        assert (row.status, row.attempts) == ("pending", 0)
        # What the runbook promises next: the mail sweep re-queues it.
        before = get_queue("mail").count
        assert sweep_pending_emails() == 1
        assert get_queue("mail").count == before + 1
        db.session.remove()
