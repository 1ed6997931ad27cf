"""gunicorn settings for `make run` (and a starting point for production).

Override with environment variables: PROMO_BIND (default 127.0.0.1:8000),
PROMO_WORKERS (default 2), PROMO_THREADS (default 1) and PROMO_PRELOAD (default 1).
"""
import gc
import importlib
import os
import tempfile

from promo import metrics_files

wsgi_app = "promo.wsgi:app"
bind = os.environ.get("PROMO_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("PROMO_WORKERS", "2"))
threads = int(os.environ.get("PROMO_THREADS", "1"))
timeout = 60
graceful_timeout = 20
# Our own JSON request log (with request ids) replaces gunicorn's access log, and
# gunicorn's own messages are JSON lines too.
accesslog = None
errorlog = "-"
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "promo.json_logs.JsonFormatter"}},
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}},
    "root": {"handlers": ["stderr"], "level": "INFO"},
    "loggers": {"gunicorn.error": {"handlers": [], "propagate": True, "level": "INFO"},
                # Routine (a migration context per /readyz, plugins per worker start).
                "alembic": {"level": "WARNING"}},
}

# Prometheus counts per worker; this directory lets /metrics add them up. It must be set
# before any worker imports prometheus_client, so it is set here, in the master: one
# directory per master under a shared base, so that a second server started with the same
# bind does not delete the running one's counts (promo/metrics_files.py).
_metrics_dir = metrics_files.prepare(metrics_files.base_directory(bind, tempfile.gettempdir()))
# gunicorn's control socket, one per master (its default, one per user, is taken over by
# whichever of several instances on a host started last).
control_socket = str(_metrics_dir / "gunicorn.ctl")


# The libraries every worker imports are imported once, here in the master, before it
# forks, so that the workers share those pages instead of each holding its own copy
# (about 100 MB a worker: bench/worker_memory.py, figures in docs/benchmarks.md). Only
# code that opens nothing and counts nothing: the app itself (database connections,
# background threads, the stock view, the models, Prometheus metrics) is built in each
# worker. Frozen, the workers' collectors leave these objects alone. PROMO_PRELOAD=0
# turns it off (to measure the difference).
PRELOADED = ("numpy", "pandas", "scipy.sparse", "scipy.linalg", "scipy.special", "sklearn.base",
             "sklearn.linear_model", "flask", "flask_smorest", "marshmallow", "sqlalchemy.orm", "psycopg",
             "promo.adapters.orm", "promo.ml.recommender", "promo.ml.response")
if os.environ.get("PROMO_PRELOAD", "1") != "0":
    for _module in PRELOADED:
        importlib.import_module(_module)
    gc.freeze()


def child_exit(server, worker):  # noqa: ANN001 - gunicorn's hook signature
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):  # noqa: ANN001 - gunicorn's hook signature
    metrics_files.remove(_metrics_dir)


def post_worker_init(worker):  # noqa: ANN001 - gunicorn's hook signature
    """Garbage collector settings for a long-lived worker with a big, stable heap.

    Everything built so far (the app, its indexes, the stock view) lives as long as the
    worker: frozen, the collector no longer scans it at every full collection. Young
    collections run every 50,000 allocations instead of 700: a batch of 1,000 stock
    events allocates tens of thousands of short-lived objects, and with the default the
    collector took about 13% of ingest time (bench/stock.py, measured 2026-11-26).
    """
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)


def worker_exit(server, worker):  # noqa: ANN001 - gunicorn's hook signature
    """A worker that leaves gracefully closes its runtime: the exposures it buffered are
    written and its background threads stop (a SIGTERM to the master loses no exposure)."""
    from promo.api.context import EXTENSION

    app = getattr(worker, "wsgi", None)
    runtime = app.extensions.get(EXTENSION) if app is not None else None
    if runtime is not None:
        runtime.close()
