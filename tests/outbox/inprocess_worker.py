"""`python -m tests.outbox.inprocess_worker QUEUES`: a worker that runs jobs without forking.

The fault test's helper for handler jobs. `flask worker` forks a horse per job, about 14 handler
jobs/s on the 2-core test machines; this one runs them in its own process (~95 jobs/s), so the
test's 2,000 handler jobs drain within its time budget. Same app factory, same job wrapper
(app context, fresh session), same patient Redis client; only the fork is missing.
"""

from __future__ import annotations

import sys

from blog import create_app
from blog.jobs.queues import get_queue
from blog.jobs.worker import make_worker, worker_redis


def main(queues: str) -> None:
    app = create_app()
    with app.app_context():
        redis = worker_redis(app)
        worker = make_worker(
            app,
            [get_queue(name.strip(), connection=redis) for name in queues.split(",")],
            in_process=True,
        )
    worker.work(with_scheduler=True, logging_level=app.config["LOG_LEVEL"])


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "default")
