"""Recommendations for studied datasets, and for unseen ones by similarity."""

from __future__ import annotations

import asyncio
import time
from typing import Annotated

from fastapi import (
    APIRouter,
    File,
    Form,
    HTTPException,
    Query,
    Request,
    Response,
    UploadFile,
    status,
)
from optuna.exceptions import StorageInternalError
from optuna.storages import RDBStorage
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from actsearch import service
from actsearch.api.deps import ReadAccess, StorageDep, is_plain_name
from actsearch.api.schemas import SimilarDataset, SimilarOut, SimilarQuery
from actsearch.errors import OverBudgetError, UsageError
from actsearch.service import Recommendation

router = APIRouter(prefix="/api/v1/recommendations", tags=["recommendations"],
                   dependencies=[ReadAccess])
MAX_UPLOAD_BYTES = 1 << 20  # 1 MiB: a sample is enough to compute meta-features


class RecentRecommendations:
    """Serialized recommendations, served stale-while-revalidate (one per app).

    Recommendations change only when a search or confirmation ends, so a body up to ``TTL``
    seconds old is served as is; an older one is still served while one background read
    refreshes it, so expiry never makes every waiting request hit the database at once.
    """

    TTL = 2.0
    MAX_ENTRIES = 10_000  # names come from clients: keep the map bounded

    def __init__(self) -> None:
        self.entries: dict[str, tuple[float, bytes]] = {}
        self.refreshing: set[str] = set()
        self.tasks: set[asyncio.Task[None]] = set()  # the loop holds tasks weakly

    def get(self, key: str) -> tuple[bytes, bool] | None:
        """The body and whether it is still fresh."""
        hit = self.entries.get(key)
        return None if hit is None else (hit[1], time.monotonic() - hit[0] < self.TTL)

    def put(self, key: str, body: bytes) -> None:
        if len(self.entries) > self.MAX_ENTRIES:
            self.entries.clear()
        self.entries[key] = (time.monotonic(), body)

    def refresh_later(self, key: str, storage: RDBStorage, dataset: str) -> None:
        if key in self.refreshing:
            return
        self.refreshing.add(key)
        task = asyncio.create_task(self._refresh(key, storage, dataset))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _refresh(self, key: str, storage: RDBStorage, dataset: str) -> None:
        try:
            self.put(key, await _fetch(storage, dataset))
        except (UsageError, SQLAlchemyError, StorageInternalError):
            self.entries.pop(key, None)  # gone or unreadable: the next request finds out
        finally:
            self.refreshing.discard(key)


async def _fetch(storage: RDBStorage, dataset: str) -> bytes:
    # Off the event loop; a dataset never studied here may be in the knowledge base.
    rec = await run_in_threadpool(service.recommendation, storage, dataset)
    return rec.model_dump_json().encode()


@router.get("/{dataset}", response_model=Recommendation,
            responses={404: {"description": "Dataset never searched"},
                       422: {"description": "Nothing searched fits the cost budget"}})
async def get_recommendation(
    dataset: str, storage: StorageDep, request: Request,
    max_latency_ms: Annotated[float | None, Query(
        gt=0, description="Only networks at most this many inference milliseconds per "
                          "example (as measured where they trained).")] = None,
    max_params: Annotated[int | None, Query(
        ge=1, description="Only networks with at most this many parameters.")] = None,
) -> Response:
    """Per-layer activations, hyperparameters, scores, confirmation and verdict, importance,
    and the Pareto front of the metric against inference cost; within a cost budget, the best
    configuration that fits, judged against the baselines' best within it."""
    budget = service.Budget(max_latency_ms=max_latency_ms, max_params=max_params)
    if budget.given:
        if not is_plain_name(dataset):
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no such dataset")
        try:
            rec = await run_in_threadpool(service.recommendation, storage, dataset, budget)
        except OverBudgetError as exc:
            raise HTTPException(422, str(exc)) from None
        except UsageError as exc:
            raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
        return Response(rec.model_dump_json().encode(), media_type="application/json")
    recent: RecentRecommendations = request.app.state.recent
    key = f"{id(storage)}:{dataset}"
    hit = recent.get(key)
    if hit is not None:
        body, fresh = hit
        if not fresh:
            recent.refresh_later(key, storage, dataset)
        return Response(body, media_type="application/json")
    if not is_plain_name(dataset):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such dataset")
    try:
        body = await _fetch(storage, dataset)
    except UsageError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    recent.put(key, body)
    return Response(body, media_type="application/json")


def _similar(storage: StorageDep, meta: dict[str, object], k: int) -> SimilarOut:
    found = service.similar(storage, meta, k=k)
    return SimilarOut(query=meta, similar=[
        SimilarDataset(dataset=s.dataset, distance=s.distance, meta=s.meta,
                       recommendation=s.recommendation) for s in found],
        evidence=service.evidence(found).sentence(),
        warm_start="actsearch search --data YOUR.csv --target COLUMN --warm-start")


@router.post("/similar", response_model=SimilarOut)
def post_similar(query: SimilarQuery, storage: StorageDep) -> SimilarOut:
    """Nearest studied datasets to the given meta-features, with their recommendations."""
    return _similar(storage, query.meta.model_dump(), query.k)


@router.post("/similar/upload", response_model=SimilarOut,
             responses={413: {"description": "Upload over 1 MiB"},
                        400: {"description": "Unreadable CSV"}})
async def post_similar_upload(
    storage: StorageDep,
    file: Annotated[UploadFile, File(description="CSV sample, at most 1 MiB")],
    target: Annotated[str | None, Form(max_length=256)] = None,
    k: Annotated[int, Form(ge=1, le=20)] = 3,
) -> SimilarOut:
    """Like /similar, with meta-features computed from a CSV sample (at most 1 MiB)."""
    content = await file.read(MAX_UPLOAD_BYTES + 1)
    if len(content) > MAX_UPLOAD_BYTES:
        raise HTTPException(413,
                            "the CSV sample is over 1 MiB: send fewer rows")
    try:
        meta = service.meta_from_csv(content, target)
    except UsageError as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from None
    return _similar(storage, meta, k)
