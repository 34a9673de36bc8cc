"""The FastAPI application: routers assembled, errors kept free of internals."""

from __future__ import annotations

import logging
import os

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi_offline import FastAPIOffline
from optuna.exceptions import StorageInternalError
from sqlalchemy.exc import SQLAlchemyError
from starlette.types import ASGIApp, Receive, Scope, Send

from actsearch import __version__
from actsearch.api.metrics import ApiMetrics
from actsearch.api.routers import catalogue, health, recommendations, studies
from actsearch.api.routers.recommendations import RecentRecommendations
from actsearch.errors import UsageError
from actsearch.service import BackgroundSearches, ReaderStorage
from actsearch.settings import Settings, get_settings

log = logging.getLogger("actsearch.api")


class _Measured:
    """Starlette middleware factory around :meth:`ApiMetrics.middleware`."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app = metrics.middleware(app)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


class _BodyLimit:
    """Refuses a request body over ``max_bytes`` before any of it is read: 413 from its
    Content-Length, and 411 for a body sent without one (chunked), which could be unbounded.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = dict(scope["headers"])
            length = headers.get(b"content-length")
            if length is None and headers.get(b"transfer-encoding", b"").lower() == b"chunked":
                return await self._refuse(scope, receive, send, 411,
                                          "send the body with a Content-Length")
            if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
                return await self._refuse(scope, receive, send, 413,
                                          f"the request body is over {self.max_bytes} bytes")
        await self.app(scope, receive, send)

    @staticmethod
    async def _refuse(scope: Scope, receive: Receive, send: Send, status: int,
                      detail: str) -> None:
        await JSONResponse({"detail": detail}, status_code=status)(scope, receive, send)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app on ``settings`` (default: the environment's)."""
    settings = settings or get_settings()
    # /docs and /redoc from files shipped in a package: they work offline (no CDN).
    app = FastAPIOffline(title="actsearch", version=__version__,
                         description="Per-layer activation function recommendations.")
    app.state.settings = settings
    # The API reads; the searches it starts create the tables they write.
    app.state.database = ReaderStorage(settings.storage)
    app.state.metrics = ApiMetrics(app.state.database.engine)
    # The storage URL travels in the environment, not on a command line others can read.
    env = {**os.environ, "ACTSEARCH_STORAGE": settings.storage}
    if settings.ray_address:
        env["RAY_ADDRESS"] = settings.ray_address
    app.state.searches = BackgroundSearches(app.state.database.engine,
                                            settings.api_max_searches, env)
    app.state.recent = RecentRecommendations()
    app.add_middleware(_Measured, metrics=app.state.metrics)
    app.add_middleware(_BodyLimit, max_bytes=settings.api_max_body_bytes)
    for router in (health.router, catalogue.router, studies.router, recommendations.router):
        app.include_router(router)

    # Errors never carry the storage URL, credentials or a stack trace.
    @app.exception_handler(UsageError)
    async def usage_error(_: Request, exc: UsageError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=400)

    @app.exception_handler(SQLAlchemyError)
    @app.exception_handler(StorageInternalError)
    async def database_error(_: Request, exc: Exception) -> JSONResponse:
        log.error("database error: %s", type(exc).__name__)
        return JSONResponse({"detail": "the database is unavailable; retry later"},
                            status_code=503)

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error")
        return JSONResponse({"detail": "internal error"}, status_code=500)

    return app
