"""Prometheus metrics of the API: requests, latency, studies and trials by state."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterator

from optuna.storages import RDBStorage
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from starlette.requests import Request
from starlette.responses import Response


class StudyCollector(Collector):
    """Studies and trials by state, counted in SQL at scrape time (no trial is loaded)."""

    def __init__(self, storage: RDBStorage) -> None:
        self.storage = storage

    def collect(self) -> Iterator[Metric]:
        studies = GaugeMetricFamily("actsearch_studies", "Studies in the database.")
        trials = GaugeMetricFamily("actsearch_trials", "Trials in the database by state.",
                                   labels=["state"])
        try:
            with self.storage.engine.connect() as conn:
                studies.add_metric([], conn.execute(text("SELECT count(*) FROM studies"))
                                   .scalar_one())
                for state, count in conn.execute(
                        text("SELECT state, count(*) FROM trials GROUP BY state")):
                    trials.add_metric([str(state).lower()], count)
        except SQLAlchemyError:
            return  # the database is down: /healthz says so; scrapes still succeed
        yield studies
        yield trials


class ApiMetrics:
    """Per-app registry, so several apps (tests) never collide."""

    def __init__(self, storage: RDBStorage) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("actsearch_api_requests", "API requests.",
                                ["method", "route", "status"], registry=self.registry)
        self.latency = Histogram("actsearch_api_request_seconds", "API request latency.",
                                 ["method", "route"], registry=self.registry,
                                 buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                          0.5, 1.0, 2.5))
        self.registry.register(StudyCollector(storage))

    async def middleware(self, request: Request,
                         call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        start = time.perf_counter()
        response = await call_next(request)
        # The route template, not the raw path: /recommendations/{dataset}, bounded labels.
        route = getattr(request.scope.get("route"), "path", "unmatched")
        self.requests.labels(request.method, route, str(response.status_code)).inc()
        self.latency.labels(request.method, route).observe(time.perf_counter() - start)
        return response
