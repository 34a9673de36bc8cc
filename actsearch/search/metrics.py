"""Prometheus metrics of the search driver (the API has its own, in actsearch.api.metrics).

Exported on ``ACTSEARCH_METRICS_PORT`` (off by default) while a search runs; the Grafana
dashboards in ``dashboards/`` plot exactly these names.
"""

from __future__ import annotations

import threading

from prometheus_client import Counter, Gauge, Histogram, start_http_server

TRIALS_STARTED = Counter("actsearch_trials_started", "Trials launched on a worker.", ["study"])
TRIALS_FINISHED = Counter("actsearch_trials_finished", "Trials ended, by final state.",
                          ["study", "state"])
TRIAL_SECONDS = Histogram("actsearch_trial_duration_seconds",
                          "Training seconds of ended trials.", ["study"],
                          buckets=(0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 3600))
EPOCHS = Counter("actsearch_epochs", "Epochs trained.", ["study"])
BEST_VALUE = Gauge("actsearch_best_value", "Best validation score so far.", ["study"])
WORKERS = Gauge("actsearch_workers",
                "Trial workers of the search that are running (not waiting for room).",
                ["study"])
WORKERS_BUSY = Gauge("actsearch_workers_busy", "Workers training a trial right now.", ["study"])

_server_lock = threading.Lock()
_serving: set[int] = set()


def serve_metrics(port: int) -> None:
    """Expose this process's metrics on ``port`` (once per process; 0 does nothing)."""
    if port <= 0:
        return
    with _server_lock:
        if port not in _serving:
            start_http_server(port)
            _serving.add(port)
