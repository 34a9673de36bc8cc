"""Response and request models of the HTTP API (separate from the storage models)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    database: Literal["ok", "unavailable"]
    version: str


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


class StudyDetail(StudySummary):
    meta: dict[str, Any]
    importance: dict[str, float] | None
    final: dict[str, Any] | None
    top_trials: list[TrialOut]


class Comparison(BaseModel):
    """A configuration's test scores over seeds against a baseline's (see actsearch.stats)."""

    baseline: str = Field(description="tuned_relu, uniform or relu_twin (the ablation).")
    mean: float
    std: float
    n: int
    baseline_mean: float
    baseline_std: float
    baseline_n: int
    relu_mean: float | None = Field(default=None, description="= baseline_mean for a ReLU "
                                                              "baseline (earlier key).")
    relu_std: float | None = None
    relu_n: int | None = None
    difference: float
    ci_low: float
    ci_high: float
    p_value: float
    alpha: float
    method: str = Field(description="'seeds and test examples' or 'seeds'.")
    verdict: str


class Confirmation(Comparison):
    """The per-layer search's confirmed best against tuned ReLU."""

    validation_mean: float | None = None
    seeds: list[int] = Field(default_factory=list)
    study: str | None = None
    trial: int | None = None


class Baseline(BaseModel):
    """A baseline's confirmed best configuration."""

    study: str
    trial: int
    trials: int = Field(description="Finished trials of the baseline study.")
    activations: list[str]
    params: dict[str, Any]
    test_mean: float
    test_std: float
    n: int
    validation_mean: float


class RecommendationOut(BaseModel):
    dataset: str
    activations: list[str] = Field(description="One activation per hidden layer, input first.")
    params: dict[str, Any]
    value: float = Field(description="Validation score of the trial in the search.")
    metric: str
    study: str
    trial: int
    n_trials: int
    verdict: str
    confirmed: bool
    confirmation: Confirmation | None
    importance: dict[str, float] | None
    final: dict[str, Any] | None
    side: str = Field(description="Where the configuration comes from: search, tuned_relu "
                                  "or uniform.")
    verdicts: dict[str, str] = Field(description="The per-layer search against each baseline.")
    comparisons: dict[str, Comparison]
    baselines: dict[str, Baseline]
    ablation: Comparison | None = Field(description="The per-layer best against its untuned "
                                                    "ReLU twin: an ablation, not a verdict.")
    source: Literal["studies", "knowledge base"]
    importance_about: str | None = Field(default=None, description="What `importance` "
                                         "measured: evaluator, trials, study.")


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
    recommendation: RecommendationOut


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
    confirm: bool = False


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
