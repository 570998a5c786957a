"""/metrics: Prometheus text that parses, counters that move, figures of the deployment, access
only from allowed addresses or with the token, and sums that hold across gunicorn workers."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from blog.config import PROJECT_ROOT
from tests.conftest import new_client


def _families(body: str) -> dict[str, object]:
    return {family.name: family for family in text_string_to_metric_families(body)}


def _sample(body: str, name: str, **labels: str) -> float:
    total = 0.0
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total


def test_metrics_parse_and_count_requests_by_endpoint(app, client):
    before = client.get("/metrics").get_data(as_text=True)

    client.get("/login")
    client.get("/login")
    client.get("/no/such/page")
    after = client.get("/metrics")

    body = after.get_data(as_text=True)
    assert after.status_code == 200
    assert after.mimetype == "text/plain"
    families = _families(body)
    for name in (
        "blog_http_request_duration_seconds",
        "blog_http_requests",
        "blog_db_pool_checked_out",
        "blog_queue_jobs",
        "blog_outbox_pending_events",
        "blog_outbox_lag_seconds",
        "blog_db_cache_hit_ratio",
    ):
        assert name in families, name
    logins = {"endpoint": "auth.login", "method": "GET", "status": "200"}
    assert (
        _sample(body, "blog_http_requests_total", **logins)
        - _sample(before, "blog_http_requests_total", **logins)
        == 2
    )
    assert _sample(body, "blog_http_requests_total", endpoint="unmatched", status="404") >= 1
    assert 0 <= _sample(body, "blog_db_cache_hit_ratio") <= 1


def test_queue_depths_and_outbox_lag_are_read_at_scrape_time(app, client):
    from blog.jobs.queues import get_queue
    from blog.outbox.events import emit

    with app.app_context():
        from blog.extensions import db

        get_queue("mail").enqueue("blog.auth.jobs.purge_expired_tokens")
        emit("test.waiting", aggregate_type="test", aggregate_id="x")
        db.session.commit()
    time.sleep(1.1)

    body = client.get("/metrics").get_data(as_text=True)

    assert _sample(body, "blog_queue_jobs", queue="mail", state="queued") == 1
    assert _sample(body, "blog_outbox_pending_events") >= 1
    assert _sample(body, "blog_outbox_lag_seconds") >= 1


def test_other_addresses_get_a_404(app):
    outsider = new_client(app)
    outsider.environ_base["REMOTE_ADDR"] = "203.0.113.9"

    assert outsider.get("/metrics").status_code == 404


def test_a_token_opens_metrics_from_anywhere(make_app):
    token = "t" * 32
    guarded = make_app(BLOG_METRICS_TOKEN=token, BLOG_METRICS_ALLOW="10.0.0.0/8")
    outsider = new_client(guarded)
    outsider.environ_base["REMOTE_ADDR"] = "203.0.113.9"

    assert outsider.get("/metrics", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert outsider.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 404
    assert outsider.get("/metrics").status_code == 404


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"BLOG_METRICS_ALLOW": "not-an-ip"}, "BLOG_METRICS_ALLOW entry 'not-an-ip'"),
        ({"BLOG_METRICS_TOKEN": "short"}, "BLOG_METRICS_TOKEN is too short"),
    ],
)
def test_bad_metrics_settings_stop_start_up(env, message):
    from blog.config import ConfigError, load_settings

    base = {"BLOG_ENV": "testing", "DATABASE_URL": "postgresql://u@h/db", "REDIS_URL": "redis://h"}
    with pytest.raises(ConfigError, match=message):
        load_settings({**base, **env})


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_counts_are_summed_over_several_gunicorn_workers(app, tmp_path):
    """Real gunicorn, two workers, one metrics directory: whichever worker answers a scrape,
    it reports every request of both."""
    port = _free_port()
    env = {
        **os.environ,
        "BLOG_ENV": "testing",
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "REDIS_URL": app.config["REDIS_URL"],
        "PORT": str(port),
        "BLOG_WEB_WORKERS": "2",
        "BLOG_WEB_THREADS": "4",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "app:app"],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.get(f"{base}/healthz", timeout=5)
                break
            except requests.RequestException:
                if time.monotonic() > deadline:
                    pytest.fail("gunicorn did not start")
                time.sleep(0.2)
        for _ in range(40):
            # A new connection each time, so the kernel spreads them over the workers.
            requests.get(f"{base}/login", timeout=5, headers={"Connection": "close"})
        totals = {
            _sample(
                requests.get(f"{base}/metrics", timeout=5, headers={"Connection": "close"}).text,
                "blog_http_requests_total",
                endpoint="auth.login",
            )
            for _ in range(6)
        }
        assert totals == {40.0}
        # One file per worker that counted something: seen as 2 in every run here (which
        # worker accepts a connection is the kernel's choice, so this is not asserted).
        assert {p.name for p in tmp_path.glob("counter_*.db")}
    finally:
        server.terminate()
        server.wait(timeout=15)
