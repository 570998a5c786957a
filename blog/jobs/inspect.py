"""What operators see of the queues and workers, and what they may do to failed jobs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from rq import Worker
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import Job

from blog.core.redis import get_redis
from blog.jobs.queues import QUEUE_NAMES, get_queue


@dataclass(frozen=True)
class QueueDepth:
    name: str
    queued: int
    started: int
    scheduled: int
    failed: int


@dataclass(frozen=True)
class WorkerInfo:
    name: str
    state: str
    queues: list[str]
    last_heartbeat: datetime | None
    current_job_id: str | None


@dataclass(frozen=True)
class FailedJob:
    id: str
    queue: str
    function: str
    ended_at: datetime | None
    error: str  # the last line of the traceback: what went wrong, not where


def queue_depths() -> list[QueueDepth]:
    depths = []
    for name in QUEUE_NAMES:
        queue = get_queue(name)
        depths.append(
            QueueDepth(
                name=name,
                queued=queue.count,
                started=queue.started_job_registry.count,
                scheduled=queue.scheduled_job_registry.count,
                failed=queue.failed_job_registry.count,
            )
        )
    return depths


def workers() -> list[WorkerInfo]:
    found = []
    for worker in Worker.all(connection=get_redis()):
        found.append(
            WorkerInfo(
                name=worker.name,
                state=str(worker.get_state()),
                queues=worker.queue_names(),
                last_heartbeat=worker.last_heartbeat,
                current_job_id=worker.get_current_job_id(),
            )
        )
    return sorted(found, key=lambda w: w.name)


def failed_jobs(limit: int = 50) -> list[FailedJob]:
    """The newest failed jobs of every queue, with their error."""
    connection = get_redis()
    jobs: list[FailedJob] = []
    for name in QUEUE_NAMES:
        registry = get_queue(name).failed_job_registry
        ids = registry.get_job_ids(0, limit - 1)
        for job in Job.fetch_many(ids, connection=connection):
            if job is None:
                continue
            result = job.latest_result()
            trace = (result.exc_string if result is not None else None) or job.exc_info or ""
            lines = [line for line in trace.strip().splitlines() if line.strip()]
            jobs.append(
                FailedJob(
                    id=job.id,
                    queue=name,
                    function=job.func_name or "?",
                    ended_at=job.ended_at,
                    error=lines[-1][:500] if lines else "(no error recorded)",
                )
            )
    jobs.sort(key=lambda j: j.ended_at.timestamp() if j.ended_at else 0.0, reverse=True)
    return jobs[:limit]


class UnknownJob(LookupError):
    """No failed job with that id in that queue."""


def requeue_failed(queue_name: str, job_id: str) -> None:
    """Put a failed job back on its queue. Raises UnknownJob."""
    if queue_name not in QUEUE_NAMES:
        raise UnknownJob(job_id)
    registry = get_queue(queue_name).failed_job_registry
    try:
        registry.requeue(job_id)
    except (NoSuchJobError, InvalidJobOperation):
        raise UnknownJob(job_id) from None


def delete_failed(queue_name: str, job_id: str) -> None:
    """Forget a failed job for good. Raises UnknownJob."""
    if queue_name not in QUEUE_NAMES:
        raise UnknownJob(job_id)
    registry = get_queue(queue_name).failed_job_registry
    if job_id not in registry.get_job_ids():
        raise UnknownJob(job_id)
    try:
        registry.remove(job_id, delete_job=True)
    except NoSuchJobError:
        raise UnknownJob(job_id) from None
