"""One Redis client per process, from REDIS_URL."""

from __future__ import annotations

from flask import current_app
from redis import Redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

_EXT_KEY = "blog_redis"


def init_redis(app) -> None:
    # Short timeouts: a Redis outage must answer quickly (503, a notice), not hang a request.
    app.extensions[_EXT_KEY] = Redis.from_url(
        app.config["REDIS_URL"],
        socket_connect_timeout=2,
        socket_timeout=5,
        health_check_interval=30,
        # Two quick retries ride over a reconnect; redis-py's default backoff would hold a
        # request for seconds while Redis is down.
        retry=Retry(ExponentialBackoff(cap=0.2, base=0.02), 2),
    )


def get_redis() -> Redis:
    client: Redis = current_app.extensions[_EXT_KEY]
    return client
