"""gunicorn settings for the web process: pages, fragments and the /ws live channel together.

Why threads, and how many. /ws (flask-sock) runs inside gunicorn's threaded worker, and an open
socket holds one worker thread for as long as the tab stays open (field notes). With 32 threads a
worker that holds 32 sockets answers no page at all: benchmarks/chat_fanout.py with 200 clients
could not even open them all, and pages hung. So each worker gets far more threads than it will
hold sockets, and the sockets may never take the last LIVE_PAGE_RESERVE of them: past
`threads - reserve` sockets a worker refuses the websocket handshake with 503 (the tab retries
later, and every page works without the socket), so pages always find a free thread.

An idle socket costs a parked thread and its reader thread (~64 KiB of stack each, no CPU: the
receive loop wakes every 5 s, pings every 25 s), so 256 threads per worker is cheap; with the
default 2 workers that is room for about 450 sockets. Measured (README, chat benchmark): with
200 idle sockets open /chat's p50 stays where it is without them; its p99 ratio swung 0.5-1.6
with other load on a shared 2-core machine. More threads than database connections needs the
gate of blog/core/dbgate.py (requests wait for a slot, not in a pool deadlock).

Chosen over a separate websocket process pool: that needs a proxy routing /ws to other ports
(`make run` has none, and every deployment would need the rule), and splits a tab's socket from
the process that renders its pages, for no measured gain: the cost of an idle socket is memory,
not page latency. Raise BLOG_WEB_THREADS for more sockets per worker, or BLOG_WEB_WORKERS (one
per core) for more page throughput; a worker needs threads, not processes, for sockets.
"""

import os

bind = f"{os.environ.get('BLOG_BIND', '127.0.0.1')}:{os.environ.get('PORT', '5000')}"
workers = int(os.environ.get("BLOG_WEB_WORKERS", "2"))
worker_class = "gthread"
threads = int(os.environ.get("BLOG_WEB_THREADS", "256"))
# Threads kept for pages: a worker refuses a new websocket once it holds threads - this many
# (a quarter of the threads when there are fewer than 128).
LIVE_PAGE_RESERVE = 32
# Open connections per worker (sockets, requests, idle keep-alives): gthread stops accepting
# past this, and keeps `worker_connections - threads` keep-alive connections at most.
worker_connections = threads + 1000
timeout = 60
graceful_timeout = 10
keepalive = 5
# Build the app in each worker after fork: no database connection is ever shared.
preload_app = False
accesslog = "-"
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms rid=%({x-request-id}o)s'
errorlog = "-"

# Prometheus metrics from several workers (blog/ops/metrics.py): every worker writes its figures
# to files in one directory, and a scrape on any worker sums them. The directory is made here,
# in the master, before any worker (or the prometheus_client import in the app) starts.
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    import tempfile

    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="blog-metrics-")


def post_worker_init(worker):
    # The app learns how many sockets this worker may hold (blog/notifications/live.py refuses
    # the handshake past it). Another WSGI app (a benchmark's baseline) has no such setting.
    config = getattr(worker.wsgi, "config", None)
    if config is not None:
        reserve = min(LIVE_PAGE_RESERVE, worker.cfg.threads // 4)  # a quarter of a small pool
        config["LIVE_MAX_SOCKETS"] = max(1, worker.cfg.threads - reserve)
    # The app is loaded: its start-up objects leave the garbage collector's full passes, which
    # otherwise stop every thread (pages, socket sends) for ~90 ms (blog/core/heap.py). Any
    # WSGI app served with this file gets the same, the benchmarks' baselines included.
    from blog.core.heap import freeze_startup_heap

    freeze_startup_heap()


def child_exit(server, worker):
    # A dead worker's live gauges (pool use) must stop counting.
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    import shutil

    shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)
