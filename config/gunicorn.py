"""gunicorn settings for production (README, "Production"):
``gunicorn -c config/gunicorn.py config.wsgi -w 4``.

Each worker process keeps its own Prometheus counters, so a scrape would see
one worker's. With ``PROMETHEUS_MULTIPROC_DIR`` set they go to files there and
any worker answering ``/metrics`` sums them all (docs/operations.md)."""

import os
from pathlib import Path
from typing import Any

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def on_starting(server: Any) -> None:
    """An earlier run's files would be summed with this run's: wiped first."""
    directory = os.environ.get(MULTIPROC_ENV)
    if not directory:
        return
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    for stale in path.glob("*.db"):
        stale.unlink()


def child_exit(server: Any, worker: Any) -> None:
    """A dead worker's live gauges leave the sum; its counters stay in it."""
    from integrations.metrics import mark_process_dead

    mark_process_dead(worker.pid)
