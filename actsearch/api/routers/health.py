"""Liveness with a database check, and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from actsearch import __version__
from actsearch.api.deps import ReadAccess
from actsearch.api.schemas import Health

router = APIRouter(tags=["operations"])


@router.get("/healthz", response_model=Health, responses={503: {"model": Health}})
def healthz(request: Request) -> JSONResponse:
    try:
        with request.app.state.database.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        body = Health(status="ok", database="ok", version=__version__)
        return JSONResponse(body.model_dump(), status_code=200)
    except SQLAlchemyError:
        body = Health(status="degraded", database="unavailable", version=__version__)
        return JSONResponse(body.model_dump(), status_code=503)


@router.get("/metrics", response_class=Response, include_in_schema=False,
            dependencies=[ReadAccess])
def metrics(request: Request) -> Response:
    """Prometheus metrics; behind the read token when one is set (study names are data)."""
    return Response(generate_latest(request.app.state.metrics.registry),
                    media_type=CONTENT_TYPE_LATEST)
