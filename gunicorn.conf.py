"""gunicorn settings. Threaded workers: each open websocket holds one thread (field notes),
so threads are sized for sockets plus page traffic; raise BLOG_WEB_THREADS for more sockets."""

import os

bind = f"{os.environ.get('BLOG_BIND', '127.0.0.1')}:{os.environ.get('PORT', '5000')}"
workers = int(os.environ.get("BLOG_WEB_WORKERS", "2"))
worker_class = "gthread"
threads = int(os.environ.get("BLOG_WEB_THREADS", "32"))
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


def child_exit(server, worker):
    # A dead worker's live gauges (pool use) must stop counting.
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    import shutil

    shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)
