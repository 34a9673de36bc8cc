"""Recommendations for studied datasets, and for unseen ones by similarity."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, HTTPException, UploadFile, status

from actsearch.api.deps import ReadAccess, StorageDep, is_plain_name
from actsearch.api.schemas import RecommendationOut, SimilarDataset, SimilarOut, SimilarQuery
from actsearch.errors import UsageError
from actsearch.recommend import Recommendation, recommend
from actsearch.similar import meta_from_csv, similar_datasets

router = APIRouter(prefix="/api/v1/recommendations", tags=["recommendations"],
                   dependencies=[ReadAccess])
MAX_UPLOAD_BYTES = 1 << 20  # 1 MiB: a sample is enough to compute meta-features


def _out(rec: Recommendation) -> RecommendationOut:
    return RecommendationOut(**rec.to_dict(), confirmed=rec.confirmed)


@router.get("/{dataset}", response_model=RecommendationOut,
            responses={404: {"description": "Dataset never searched"}})
def get_recommendation(dataset: str, storage: StorageDep) -> RecommendationOut:
    if not is_plain_name(dataset):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such dataset")
    try:
        return _out(recommend(storage, dataset))
    except UsageError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None


def _similar(storage: StorageDep, meta: dict[str, object], k: int) -> SimilarOut:
    found = similar_datasets(storage, meta, k=k)
    return SimilarOut(query=meta, similar=[
        SimilarDataset(dataset=s.dataset, distance=s.distance, meta=s.meta,
                       recommendation=_out(s.recommendation)) for s in found],
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
        meta = meta_from_csv(content, target)
    except UsageError as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from None
    return _similar(storage, meta, k)
