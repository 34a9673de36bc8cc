"""Request and response models of the HTTP API.

A recommendation is served as the library's own model (:class:`Recommendation`, with its
comparisons), so there is one schema for it, not a copy.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from actsearch.service import Recommendation


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    database: Literal["ok", "unavailable"]
    version: str


class Initialisation(BaseModel):
    """How the layer before the function is initialised (the catalogue's rule)."""

    scheme: str = Field(description="he, lecun, glorot, siren, variance or torch")
    description: str
    source: str
    dropout: str = Field(description="standard, or alpha (SELU's alpha-dropout)")


class Activation(BaseModel):
    name: str
    aliases: list[str]
    formula: str
    latex: str
    params: dict[str, Any]
    learnable: bool
    range: list[float | None] | None
    range_text: str
    monotonic: bool | None
    smooth: bool | None
    zero_centered: bool | None
    family: str
    elementwise: bool
    width_factor: int
    reference: str
    description: str
    init: Initialisation


class DatasetInfo(BaseModel):
    name: str
    description: str
    studied: bool


class StudySummary(BaseModel):
    name: str
    dataset: str | None
    space: str | None
    metric: str | None
    complete: int
    pruned: int
    failed: int
    running: int
    best_value: float | None


class TrialOut(BaseModel):
    number: int
    state: str
    value: float | None
    activations: list[str]
    params: dict[str, Any]
    epochs: int | None
    telemetry: list[dict[str, Any]] | None
    cost: dict[str, Any] | None = Field(
        default=None, description="What the trained network costs per example: params, "
                                  "flops, latency_ms (median), device. Complete trials only.")


class StudyDetail(StudySummary):
    meta: dict[str, Any]
    importance: dict[str, float] | None
    final: dict[str, Any] | None
    top_trials: list[TrialOut]


class MetaFeatures(BaseModel):
    samples: int = Field(ge=1, le=10**9)
    features: int = Field(ge=1, le=10**7)
    classes: int = Field(default=1, ge=1, le=10**6)
    class_balance: float = Field(default=1.0, ge=0.0, le=1.0)
    task: Literal["multiclass", "binary", "regression"] = "multiclass"


class SimilarQuery(BaseModel):
    meta: MetaFeatures
    k: int = Field(default=3, ge=1, le=20)


class SimilarDataset(BaseModel):
    dataset: str
    distance: float
    meta: dict[str, Any]
    recommendation: Recommendation


class SimilarOut(BaseModel):
    query: dict[str, Any]
    similar: list[SimilarDataset]
    evidence: str = Field(description="How per-layer search fared against tuned ReLU on these "
                                      "neighbours.")
    warm_start: str = Field(description="The command that warm-starts a search from these.")


class SearchRequest(BaseModel):
    dataset: str = Field(default="digits", max_length=64)
    space: str = Field(default="default", max_length=64, pattern=r"^[A-Za-z0-9_\-]+$")
    trials: int = Field(default=20, ge=1, le=10_000)
    workers: int = Field(default=2, ge=1, le=256)
    epochs: int | None = Field(default=None, ge=1, le=10_000)
    study: str | None = Field(default=None, max_length=128, pattern=r"^[A-Za-z0-9_.\-]+$")
    seed: int = Field(default=0, ge=0, le=2**31 - 1)
    cpus_per_trial: float = Field(default=1.0, gt=0, le=256)
    gpus_per_trial: float = Field(default=0.0, ge=0, le=64)
    trials_per_worker: int = Field(default=1, ge=1, le=64, description=(
        "Trials each worker trains at once, those of one shape as one batched network."))
    confirm: bool = False
    objectives: list[Literal["accuracy", "r2", "latency"]] | None = Field(
        default=None, min_length=1, max_length=2, description=(
            "The task metric, optionally followed by latency: a multi-objective search of "
            "the metric against inference latency. Default: the space's, else the metric."))


class SearchStarted(BaseModel):
    study: str
    status_url: str = Field(description="The study: its trial counts as the search goes on.")
    run_url: str = Field(description="This run: running, succeeded, or failed with a reason.")
    run_id: int


class SearchRunOut(BaseModel):
    run_id: int
    study: str
    state: Literal["running", "succeeded", "failed"]
    reason: str | None = Field(description="The failure's last line.")
    started_at: datetime
    ended_at: datetime | None
