"""Prometheus metrics of the API: requests, latency, studies and trials by state."""

from __future__ import annotations

import time
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class StudyCollector(Collector):
    """Studies and trials by state, counted in SQL at scrape time (no trial is loaded)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[Metric]:
        studies = GaugeMetricFamily("actsearch_studies", "Studies in the database.")
        trials = GaugeMetricFamily("actsearch_trials", "Trials in the database by state.",
                                   labels=["state"])
        try:
            with self.engine.connect() as conn:
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

    def __init__(self, engine: Engine) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("actsearch_api_requests", "API requests.",
                                ["method", "route", "status"], registry=self.registry)
        self.latency = Histogram("actsearch_api_request_seconds", "API request latency.",
                                 ["method", "route"], registry=self.registry,
                                 buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                          0.5, 1.0, 2.5))
        self.registry.register(StudyCollector(engine))

    def middleware(self, app: ASGIApp) -> ASGIApp:
        """A pure ASGI middleware (no per-request Request/Response objects on the hot path)."""

        async def measured(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http":
                await app(scope, receive, send)
                return
            start = time.perf_counter()
            status = 500

            async def send_status(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                await send(message)

            try:
                await app(scope, receive, send_status)
            finally:
                # The route template, not the raw path: bounded label values.
                route = getattr(scope.get("route"), "path", "unmatched")
                self.requests.labels(scope["method"], route, str(status)).inc()
                self.latency.labels(scope["method"], route).observe(time.perf_counter() - start)

        return measured
