"""Prometheus metrics the processes record (README "Monitoring"); GET /metrics (servers/metrics_view.py)
adds what the database knows at scrape time.

Every process (web, worker and its children, beat, monitor) writes its values to its own files in
PROMETHEUS_MULTIPROC_DIR (config/product_settings.py sets the variable before anything imports
prometheus_client; `python -m config.metrics_dir --wipe` empties it when the panel starts), and the
web process sums them on a scrape. Files are named by host and pid, so containers that share the
directory through a volume (docker-compose.yml, each its own pid 1) never write to one file.

Recording costs one locked write to a memory-mapped file; a failure to record is never raised.
"""

import atexit
import logging
import os
import socket
import time

from config.metrics_dir import prepare

# Before prometheus_client is imported: it picks its value class from the environment then. The settings
# do this too, but config/__init__.py imports Celery's app (and so this module) before the settings.
prepare()

from prometheus_client import Counter, Gauge, Histogram, multiprocess, values  # noqa: E402

logger = logging.getLogger(__name__)


_HOST = socket.gethostname().replace("_", "-")  # read once: prometheus_client asks at every increment


def process_identifier() -> str:
    """Unique among the processes writing to the directory: the host (a container's id) and the pid.
    No underscore: prometheus_client splits file names on it."""
    return f"{_HOST}-{os.getpid()}"


MULTIPROCESS = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
if MULTIPROCESS:
    values.ValueClass = values.MultiProcessValue(process_identifier)
    # A restarted container has the same host and pid: its live gauges start from zero, not from the
    # connections its previous life had open. A process that ends takes its live gauges with it (a
    # replaced container's host is never seen again); its counters keep counting in the sums.
    multiprocess.mark_process_dead(process_identifier())
    atexit.register(lambda: multiprocess.mark_process_dead(process_identifier()))

# Seconds: API requests are mostly milliseconds, tasks up to an install's half hour.
REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
TASK_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 1800.0)

API_REQUEST_DURATION = Histogram(
    "hearth_api_request_duration_seconds",
    "Time to answer an HTTP request, by route pattern (never the raw path), method and status.",
    ["route", "method", "status"],
    buckets=REQUEST_BUCKETS,
)
CELERY_TASKS = Counter(
    "hearth_celery_tasks",
    "Celery tasks by name and outcome (started, succeeded, failed, retried).",
    ["task", "state"],
)
CELERY_TASK_DURATION = Histogram(
    "hearth_celery_task_duration_seconds",
    "Time a Celery task ran, by task name.",
    ["task"],
    buckets=TASK_BUCKETS,
)
WEBSOCKET_CONNECTIONS = Gauge(
    "hearth_websocket_connections",
    "Open WebSocket connections (the live console), summed over the live web processes.",
    multiprocess_mode="livesum",
)
CONSOLE_LINES = Counter(
    "hearth_console_lines",
    "Console lines the monitor took from game servers, by node id (rate() gives lines per second).",
    ["node"],
)


def _safely(record):
    def wrapper(*args, **kwargs):
        try:
            record(*args, **kwargs)
        except Exception:  # a metric is never worth failing the work it measures
            logger.debug("Could not record a metric", exc_info=True)

    return wrapper


@_safely
def observe_request(route: str, method: str, status: int, seconds: float) -> None:
    API_REQUEST_DURATION.labels(route, method, str(status)).observe(seconds)


@_safely
def websocket_opened() -> None:
    WEBSOCKET_CONNECTIONS.inc()


@_safely
def websocket_closed() -> None:
    WEBSOCKET_CONNECTIONS.dec()


@_safely
def console_lines(node_id, count: int) -> None:
    if count:
        CONSOLE_LINES.labels(str(node_id)).inc(count)


# Celery: connected once per process (config/celery.py). Start times are kept by task id.
_started: dict[str, float] = {}


@_safely
def _task_prerun(task_id=None, task=None, **kwargs):
    _started[task_id] = time.monotonic()
    CELERY_TASKS.labels(task.name, "started").inc()


def _finished(task_id, task, state: str) -> None:
    began = _started.pop(task_id, None)
    CELERY_TASKS.labels(task.name, state).inc()
    if began is not None:
        CELERY_TASK_DURATION.labels(task.name).observe(time.monotonic() - began)


@_safely
def _task_postrun(task_id=None, task=None, state=None, **kwargs):
    # failure and retry were counted by their own signals; postrun still ends the timing
    if state in ("FAILURE", "RETRY"):
        began = _started.pop(task_id, None)
        if began is not None:
            CELERY_TASK_DURATION.labels(task.name).observe(time.monotonic() - began)
        return
    _finished(task_id, task, "succeeded")


@_safely
def _task_failure(task_id=None, sender=None, **kwargs):
    CELERY_TASKS.labels(sender.name, "failed").inc()


@_safely
def _task_retry(request=None, sender=None, **kwargs):
    CELERY_TASKS.labels(sender.name, "retried").inc()


@_safely
def _worker_process_shutdown(**kwargs):
    if MULTIPROCESS:
        multiprocess.mark_process_dead(process_identifier())


def connect_celery_signals() -> None:
    from celery import signals

    signals.task_prerun.connect(_task_prerun, weak=False, dispatch_uid="hearth-metrics-prerun")
    signals.task_postrun.connect(_task_postrun, weak=False, dispatch_uid="hearth-metrics-postrun")
    signals.task_failure.connect(_task_failure, weak=False, dispatch_uid="hearth-metrics-failure")
    signals.task_retry.connect(_task_retry, weak=False, dispatch_uid="hearth-metrics-retry")
    signals.worker_process_shutdown.connect(
        _worker_process_shutdown, weak=False, dispatch_uid="hearth-metrics-shutdown"
    )
