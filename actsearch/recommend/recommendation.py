"""Recommendations: what to use for a dataset, judged against what a user would do instead.

A recommendation is precomputed when a search or a confirmation ends and stored per dataset
(``actsearch_recommendations``), so the CLI and the API serve it with one primary-key read;
both call :func:`recommend`, so they give the same answer. Serving never writes.

Without confirmation the answer is the best search trial (by validation score) and says it
is unconfirmed. After ``actsearch confirm`` every side has its top configurations retrained
over seeds: the per-layer search (``search``), and its baselines searched with the same
budget (``tuned_relu``, ``uniform``; see :mod:`actsearch.search.baselines`). The recommended
configuration is the best by mean *validation* score over seeds among all sides (the test
split chooses nothing); a side beats a simpler one only by more than the standard error of
the difference and the ROPE, so among practically equivalent sides the simpler one wins
(tuned ReLU, then uniform). The verdicts compare the per-layer search's confirmed best with
each baseline's on the test split (:mod:`actsearch.recommend.stats`): better, worse,
practically equivalent or undecided, with the probability behind the decision, and name the
baseline. The ROPE is the per-layer search's (``search --rope``), else one point.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from optuna.storages import RDBStorage
from optuna.trial import FrozenTrial, TrialState
from pydantic import BaseModel, ConfigDict, Field, computed_field
from sqlalchemy import delete as sa_delete
from sqlalchemy import select

from actsearch.errors import OverBudgetError, UsageError
from actsearch.recommend.stats import ROPE_DEFAULT, Comparison, compare
from actsearch.search.baselines import SIDES
from actsearch.search.pareto import pareto_front
from actsearch.search.strategy import hyperparameters
from actsearch.store.studies import (
    StoredStudy,
    all_studies,
    cost_of,
    find_study,
    latency_of,
    metric_value,
    require_study,
    studies_of_dataset,
    study_meta,
)
from actsearch.store.tables import (
    ConfirmationRun,
    RecommendationRow,
    ensure_tables,
    session_scope,
    tables_exist,
)


def unconfirmed_notice(study: str) -> str:
    return (f"unconfirmed: one run per configuration, no tuned baseline; run `actsearch "
            f"confirm {study}`")


class Confirmation(Comparison):
    """The per-layer search's confirmed best against tuned ReLU, and where it comes from."""

    validation_mean: float | None = Field(default=None, description="Its mean validation "
                                          "score over the same seeds.")
    seeds: list[int] = Field(default_factory=list)
    study: str | None = None
    trial: int | None = None


class BaselineBest(BaseModel):
    """A confirmed baseline's best configuration."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    study: str
    trial: int
    trials: int = Field(description="Finished trials of the baseline study.")
    activations: list[str]
    params: dict[str, Any]
    test_mean: float
    test_std: float
    n: int
    validation_mean: float


@dataclass(frozen=True)
class Budget:
    """What the deployed network may cost per example: a recommendation within it picks the
    best configuration whose recorded cost fits (``recommend --max-latency-ms``)."""

    max_latency_ms: float | None = None
    max_params: int | None = None

    @property
    def given(self) -> bool:
        return self.max_latency_ms is not None or self.max_params is not None

    def fits(self, trial: FrozenTrial) -> bool:
        """Whether the trial's trained network fits; one that recorded no cost does not."""
        cost = cost_of(trial)
        if cost is None:
            return False
        return ((self.max_latency_ms is None or cost["latency_ms"] <= self.max_latency_ms)
                and (self.max_params is None or cost["params"] <= self.max_params))

    def describe(self) -> str:
        parts = []
        if self.max_latency_ms is not None:
            parts.append(f"--max-latency-ms {self.max_latency_ms!r}")
        if self.max_params is not None:
            parts.append(f"--max-params {self.max_params}")
        return " and ".join(parts)


class FrontMember(BaseModel):
    """A configuration on the Pareto front of the task metric against inference latency."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    study: str
    trial: int
    activations: list[str]
    params: dict[str, Any] = Field(description="The trial's hyperparameters (Optuna names).")
    value: float = Field(description="Validation score in the search (one run).")
    latency_ms: float = Field(description="Median inference milliseconds per example, "
                                          "batches of 256, on the device it trained on.")
    device: str = "cpu"
    parameters: int = Field(description="Trainable parameters.")
    flops: int = Field(description="FLOPs of one example's forward pass.")
    test_mean: float | None = Field(default=None, description="Mean test score over seeds, "
                                                              "once confirmed.")
    test_std: float | None = None
    n: int = Field(default=0, description="Seeds behind test_mean (0: not confirmed).")


class Recommendation(BaseModel):
    """What to use for a dataset, and where the answer comes from.

    Stored per dataset, shipped in the knowledge base and served by the API as it is.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    dataset: str = Field(description="The dataset asked about.")
    activations: list[str] = Field(description="One activation per hidden layer, input first.")
    params: dict[str, Any] = Field(description="The trial's hyperparameters (Optuna names).")
    value: float = Field(description="Validation score of the trial in the search (one run).")
    metric: str = Field(description="accuracy or r2.")
    study: str = Field(description="The study the trial belongs to.")
    trial: int = Field(description="The trial's number in that study.")
    n_trials: int = Field(description="Finished trials behind the answer (all studies of the "
                                      "dataset).")
    verdict: str = Field(description="The per-layer search against tuned ReLU, or the "
                                     "unconfirmed notice.")
    confirmation: Confirmation | None = Field(
        default=None, description="That comparison over seeds; None until confirmed.")
    importance: dict[str, float] | None = Field(
        default=None, description="Share of the search's outcome explained by each parameter "
                                  "(fANOVA).")
    final: dict[str, Any] | None = Field(
        default=None, description="The search's closing single-seed glance: its best and its "
                                  "untuned ReLU twin retrained once.")
    side: str = Field(default="search", description="Where the configuration comes from: "
                                                    "search, tuned_relu or uniform.")
    verdicts: dict[str, str] = Field(default_factory=dict,
                                     description="The per-layer search against each baseline.")
    comparisons: dict[str, Comparison] = Field(default_factory=dict,
                                               description="Those comparisons in full.")
    baselines: dict[str, BaselineBest] = Field(default_factory=dict,
                                               description="Each confirmed baseline's best.")
    ablation: Comparison | None = Field(
        default=None, description="The per-layer best against its untuned ReLU twin (same "
                                  "shape and hyperparameters): an ablation, never the verdict.")
    source: Literal["studies", "knowledge base"] = "studies"
    importance_about: str | None = Field(
        default=None, description="What `importance` measured: evaluator, trials, study "
                                  "(optuna-dashboard's importance panel recomputes its own).")
    front: list[FrontMember] = Field(
        default_factory=list, description="The per-layer search's Pareto front of the metric "
                                          "against inference latency, fastest first.")
    budget: str | None = Field(default=None, description="The cost budget this answer was "
                                                         "chosen within (None: no budget).")
    latency_ms: float | None = Field(default=None, description="The chosen network's median "
                                                               "inference ms per example.")
    parameters: int | None = Field(default=None, description="Its trainable parameters.")

    @computed_field(description="Whether every side was retrained over seeds.")
    @property
    def confirmed(self) -> bool:
        return self.confirmation is not None

    @property
    def hyperparameters(self) -> dict[str, Any]:
        """The parameters other than the activations."""
        return hyperparameters(self.params)

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def study_side(meta: dict[str, Any]) -> str:
    """``tuned_relu``, ``uniform`` or ``search``: what kind of search a study ran."""
    if meta.get("baseline_kind"):
        return str(meta["baseline_kind"])
    spec = meta.get("space_spec") or {}
    acts = spec.get("activations") or {}
    if meta.get("choices") == ["relu"]:
        return "tuned_relu"
    if acts.get("per_layer") is False:
        return "uniform"
    return "search"


@dataclass(frozen=True)
class Confirmed:
    """One configuration retrained over seeds."""

    study: StoredStudy
    trial: FrozenTrial
    val: tuple[float, ...]
    test: tuple[float, ...]
    outcomes: tuple[tuple[float, ...], ...] | None
    seeds: tuple[int, ...]

    @property
    def val_mean(self) -> float:
        return float(np.mean(self.val))

    def compare_with(self, other: Confirmed, baseline: str,
                     rope: float = ROPE_DEFAULT) -> Comparison:
        return compare(self.test, other.test, baseline=baseline, outcomes=self.outcomes,
                       baseline_outcomes=other.outcomes, rope=rope)

    def compare_with_seeds_only(self, other: Confirmed) -> Comparison:
        """The same comparison ignoring test-example noise (for calibration reports)."""
        return compare(self.test, other.test)


def _confirmed(runs: list[ConfirmationRun], study: StoredStudy,
               trial: FrozenTrial) -> Confirmed | None:
    """The configuration's runs over seeds; None when it diverged on any seed (it is not a
    configuration to recommend) or has fewer than two (a t-test needs two)."""
    if any(not (math.isfinite(r.val) and math.isfinite(r.test)) for r in runs):
        return None
    usable = sorted(runs, key=lambda r: r.seed)
    if len(usable) < 2:
        return None
    outcomes = None
    if all(r.test_outcomes for r in usable):
        outcomes = tuple(tuple(r.test_outcomes or ()) for r in usable)
    return Confirmed(study, trial, tuple(r.val for r in usable), tuple(r.test for r in usable),
                     outcomes, tuple(r.seed for r in usable))


def _tie_margin(a: Confirmed, b: Confirmed) -> float:
    """The standard error of the difference of two mean validation scores."""
    return math.sqrt(float(np.var(a.val, ddof=1)) / len(a.val)
                     + float(np.var(b.val, ddof=1)) / len(b.val))


def choose(best: dict[str, Confirmed], rope: float = 0.0) -> Confirmed:
    """The best side by mean validation score; a side must beat every simpler one by more
    than the standard error of the difference and the ROPE, else the simpler one is kept:
    among practically equivalent sides the simpler wins (tuned ReLU, then uniform). The
    test split chooses nothing."""
    chosen: Confirmed | None = None
    for side in SIDES:
        candidate = best.get(side)
        if candidate is None:
            continue
        if chosen is None or candidate.val_mean - chosen.val_mean > max(
                _tie_margin(candidate, chosen), rope):
            chosen = candidate
    assert chosen is not None, "choose() needs at least one side"
    return chosen


def study_rope(studies: list[StoredStudy]) -> float:
    """The ROPE the per-layer search was started with (``search --rope``), else the default.
    """
    for study in studies:
        if study_side(study.meta) == "search" and study.meta.get("rope") is not None:
            return float(study.meta["rope"])
    return ROPE_DEFAULT


def studied_datasets(storage: RDBStorage) -> list[str]:
    return sorted({s.dataset for s in all_studies(storage) if s.dataset})


def _summary(c: Confirmed, n_trials: int) -> BaselineBest:
    return BaselineBest(study=c.study.name, trial=c.trial.number, trials=n_trials,
                        activations=list(c.trial.user_attrs.get("activations", [])),
                        params=dict(c.trial.params), test_mean=float(np.mean(c.test)),
                        test_std=float(np.std(c.test, ddof=1)), n=len(c.test),
                        validation_mean=c.val_mean)


def build_recommendation(storage: RDBStorage, dataset: str,
                         budget: Budget | None = None) -> Recommendation:
    """Compute the recommendation of ``dataset`` from its studies and confirmations; within
    ``budget``, only configurations whose recorded cost fits compete (baselines too).

    Raises:
        UsageError: No study of the dataset, no completed trial, or none within the budget.
    """
    studies = studies_of_dataset(storage, dataset)
    if not studies:
        known = ", ".join(studied_datasets(storage)) or "none yet"
        raise UsageError(f"no study of dataset {dataset!r} in this storage (studied: {known}); "
                         f"run `actsearch search --dataset {dataset}` first")
    complete: dict[tuple[str, int], tuple[StoredStudy, FrozenTrial]] = {}
    finished_per_study: dict[str, int] = {}
    for study in studies:
        finished = storage.get_all_trials(study.study_id, deepcopy=False,
                                          states=(TrialState.COMPLETE, TrialState.PRUNED))
        finished_per_study[study.name] = len(finished)
        complete.update({(study.name, t.number): (study, t) for t in finished
                         if t.state == TrialState.COMPLETE and metric_value(t) is not None})
    if not complete:
        raise UsageError(f"the studies of {dataset!r} have no completed trial yet: let a search "
                         "run longer, or with a gentler pruner")
    searched, twins = _runs(storage, [s.name for s in studies])
    front = _front(complete, searched)
    if budget is not None and budget.given:
        complete = _within(complete, budget, dataset)
    best: dict[str, Confirmed] = {}
    for key, runs in searched.items():
        if key not in complete:
            continue
        confirmed = _confirmed(runs, *complete[key])
        side = study_side(complete[key][0].meta)
        if side not in SIDES:  # e.g. the corpus's A/A calibration studies
            continue
        if confirmed is not None and (side not in best
                                      or confirmed.val_mean > best[side].val_mean):
            best[side] = confirmed
    n_trials = sum(finished_per_study.values())
    if not best:
        # Ties on the score go to the cheaper network, then to the earlier trial.
        study, trial = max(complete.values(), key=lambda st: (
            metric_value(st[1]) or 0.0, -(latency_of(st[1]) or math.inf), -st[1].number))
        parent = _search_study(studies, study)
        verdict = unconfirmed_notice(parent.name)
        if budget is not None and budget.given and searched:
            verdict = (f"unconfirmed within {budget.describe()}: none of the configurations "
                       f"retrained over seeds fits it; `actsearch confirm {parent.name} "
                       "--top-k N` retrains more of each side's best")
        return _recommendation(dataset, study, trial, n_trials, explained=parent,
                               verdict=verdict, front=front, budget=budget)
    rope = study_rope(studies)
    chosen = choose(best, rope)
    challenger = best.get("search") or best.get("uniform")
    comparisons: dict[str, Comparison] = {}
    if challenger is not None:
        for baseline in ("tuned_relu", "uniform"):
            if baseline in best and baseline != study_side(challenger.study.meta):
                comparisons[baseline] = challenger.compare_with(best[baseline], baseline,
                                                                rope)
    confirmation: Confirmation | None = None
    verdict = (f"confirmed over seeds, but without a tuned ReLU baseline: run `actsearch "
               f"confirm {_search_study(studies, chosen.study).name}`")
    if "tuned_relu" in comparisons and challenger is not None:
        confirmation = Confirmation(
            **comparisons["tuned_relu"].model_dump(), validation_mean=challenger.val_mean,
            seeds=list(challenger.seeds), study=challenger.study.name,
            trial=challenger.trial.number)
        verdict = comparisons["tuned_relu"].verdict
    elif study_side(chosen.study.meta) == "tuned_relu" and len(best) == 1:
        verdict = "ReLU only: the searched space holds no other activation"
    ablation: Comparison | None = None
    search_best = best.get("search")
    if search_best is not None:
        key = (search_best.study.name, search_best.trial.number)
        twin = _confirmed(twins.get(key, []), search_best.study, search_best.trial)
        if twin is not None:
            ablation = search_best.compare_with(twin, "relu_twin", rope)
    return _recommendation(
        dataset, chosen.study, chosen.trial, n_trials, verdict=verdict,
        explained=_search_study(studies, chosen.study),
        confirmation=confirmation, side=study_side(chosen.study.meta),
        verdicts={k: c.verdict for k, c in comparisons.items()},
        comparisons=comparisons,
        baselines={side: _summary(c, finished_per_study[c.study.name])
                   for side, c in best.items() if side != "search"},
        ablation=ablation, front=front, budget=budget)


Complete = dict[tuple[str, int], tuple[StoredStudy, FrozenTrial]]


def _front(complete: Complete, searched: RunsByTrial) -> list[FrontMember]:
    """The per-layer search's completed trials that no other beats on both the metric and
    latency (those that recorded their cost), with their test scores once confirmed."""
    costed = [(study, trial) for study, trial in complete.values()
              if study_side(study.meta) == "search" and latency_of(trial) is not None]
    members = []
    for study, trial in pareto_front(costed, value=lambda st: metric_value(st[1]) or 0.0,
                                     latency=lambda st: latency_of(st[1]) or 0.0):
        cost = cost_of(trial)
        assert cost is not None  # costed above
        confirmed = _confirmed(searched.get((study.name, trial.number), []), study, trial)
        members.append(FrontMember(
            study=study.name, trial=trial.number,
            activations=list(trial.user_attrs.get("activations", [])),
            params=dict(trial.params), value=metric_value(trial) or 0.0,
            latency_ms=cost["latency_ms"], device=cost.get("device", "cpu"),
            parameters=cost["params"], flops=cost["flops"],
            test_mean=float(np.mean(confirmed.test)) if confirmed else None,
            test_std=float(np.std(confirmed.test, ddof=1)) if confirmed else None,
            n=len(confirmed.test) if confirmed else 0))
    return members


def _within(complete: Complete, budget: Budget, dataset: str) -> Complete:
    """The completed trials whose cost fits ``budget``.

    Raises:
        UsageError: None fits; the message names the cheapest recorded configuration.
    """
    fitting = {key: st for key, st in complete.items() if budget.fits(st[1])}
    if fitting:
        return fitting
    costed = [(study, trial, cost) for study, trial in complete.values()
              if (cost := cost_of(trial)) is not None]
    if not costed:
        raise UsageError(f"no trial of {dataset!r} recorded what its network costs (studies "
                         f"searched before actsearch measured it): run a search to answer "
                         f"{budget.describe()}")
    study, trial, cost = min(costed, key=lambda stc: (stc[2]["latency_ms"], stc[2]["params"]))
    raise OverBudgetError(f"no configuration of {dataset!r} fits {budget.describe()}: the cheapest "
                     f"searched takes {cost['latency_ms']:.4g} ms per example with "
                     f"{cost['params']} parameters (trial #{trial.number} of study "
                     f"{study.name}); raise the budget")


def _search_study(studies: list[StoredStudy], study: StoredStudy) -> StoredStudy:
    """The study whose baselines ``study`` belongs to (itself when it is not a baseline)."""
    parent = study.meta.get("baseline_of")
    return next((s for s in studies if s.name == parent), study)


def _recommendation(dataset: str, study: StoredStudy, trial: FrozenTrial, n_trials: int, *,
                    verdict: str, explained: StoredStudy, **extra: Any) -> Recommendation:
    value = metric_value(trial)
    assert value is not None
    budget: Budget | None = extra.pop("budget", None)
    cost = cost_of(trial)
    importance = explained.attrs.get("importance")
    about = None
    if importance:
        count = explained.attrs.get("importance_trials")
        about = (f"fANOVA (seed 0) over {count or 'the'} completed trials of study "
                 f"{explained.name}")
    return Recommendation(
        dataset=dataset, activations=list(trial.user_attrs.get("activations", [])),
        params=dict(trial.params), value=float(value),
        budget=budget.describe() if budget is not None and budget.given else None,
        latency_ms=cost["latency_ms"] if cost else None,
        parameters=cost["params"] if cost else None,
        metric=study.meta.get("metric", "accuracy"), study=study.name, trial=trial.number,
        n_trials=n_trials, verdict=verdict, confirmation=extra.pop("confirmation", None),
        importance=importance, importance_about=about, final=study.attrs.get("final"),
        **extra)


RunsByTrial = dict[tuple[str, int], list[ConfirmationRun]]


def _runs(storage: RDBStorage, studies: list[str]) -> tuple[RunsByTrial, RunsByTrial]:
    """Confirmation runs of these studies by (study, trial): retrainings and ReLU twins."""
    searched: RunsByTrial = defaultdict(list)
    twins: RunsByTrial = defaultdict(list)
    if not tables_exist(storage.engine, ConfirmationRun.__tablename__):  # never confirmed
        return searched, twins
    with session_scope(storage.engine) as session:
        for run in session.scalars(select(ConfirmationRun).where(
                ConfirmationRun.study.in_(studies))):
            target = searched if run.variant == "searched" else twins
            target[(run.study, run.trial_number)].append(run)
    return searched, twins


def confirmed_best(storage: RDBStorage, study: str) -> Confirmed | None:
    """The configuration of ``study`` with the best mean validation score over seeds."""
    study_id = find_study(storage, study)
    if study_id is None:
        return None
    entry = StoredStudy(study_id, study, storage.get_study_user_attrs(study_id))
    searched, _ = _runs(storage, [study])
    found = []
    for (_, number), runs in searched.items():
        trial = storage.get_trial(storage.get_trial_id_from_study_id_trial_number(study_id,
                                                                                  number))
        confirmed = _confirmed(runs, entry, trial)
        if confirmed is not None:
            found.append(confirmed)
    return max(found, key=lambda c: c.val_mean) if found else None


def refresh_recommendation(storage: RDBStorage, dataset: str) -> Recommendation:
    """Recompute and store the recommendation of ``dataset``."""
    rec = build_recommendation(storage, dataset)
    ensure_tables(storage.engine)
    with session_scope(storage.engine) as session:
        session.merge(RecommendationRow(dataset=dataset, payload=rec.to_dict()))
    return rec


def delete_study(storage: RDBStorage, name: str) -> None:
    """Delete a study, and refresh (or drop) its dataset's recommendation with it."""
    study_id = require_study(storage, name)
    dataset = study_meta(storage, study_id).get("dataset")
    storage.delete_study(study_id)
    ensure_tables(storage.engine)
    with session_scope(storage.engine) as session:
        session.execute(sa_delete(ConfirmationRun).where(ConfirmationRun.study == name))
    if dataset:
        try:
            refresh_recommendation(storage, dataset)
        except UsageError:  # nothing left to recommend for it
            with session_scope(storage.engine) as session:
                session.execute(sa_delete(RecommendationRow).where(
                    RecommendationRow.dataset == dataset))


def recommend(storage: RDBStorage, dataset: str,
              budget: Budget | None = None) -> Recommendation:
    """The recommendation of ``dataset``: the stored one, else computed (and not stored).

    Within a ``budget`` it is always computed (and never stored): the stored answer is the
    one without.

    Serving writes nothing, so a reader never creates tables: recommendations are stored by
    the writers (a search or a confirmation ending). A stored answer whose study has since
    been deleted by another tool (optuna-dashboard deletes studies) is never served: it is
    computed afresh from what is left.
    """
    if budget is not None and budget.given:
        return build_recommendation(storage, dataset, budget)
    payload = None
    if tables_exist(storage.engine, RecommendationRow.__tablename__):
        with session_scope(storage.engine) as session:
            row = session.get(RecommendationRow, dataset)
            payload = dict(row.payload) if row is not None else None
    if payload is None or find_study(storage, str(payload.get("study"))) is None:
        return build_recommendation(storage, dataset)
    return Recommendation.model_validate(payload)
