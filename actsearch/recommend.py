"""Recommendations: what to use for a dataset, judged against what a user would do instead.

A recommendation is precomputed when a search or a confirmation ends and stored per dataset
(``actsearch_recommendations``), so the CLI and the API serve it with one primary-key read;
both call :func:`recommend`, so they give the same answer. Serving never writes.

Without confirmation the answer is the best search trial (by validation score) and says it
is unconfirmed. After ``actsearch confirm`` every side has its top configurations retrained
over seeds: the per-layer search (``search``), and its baselines searched with the same
budget (``tuned_relu``, ``uniform``; see :mod:`actsearch.baselines`). The recommended
configuration is the best by mean *validation* score over seeds among all sides (the test
split chooses nothing); a side beats a simpler one only by more than the standard error of
the difference, so ties go to the simpler side (tuned ReLU, then uniform). The verdicts
compare the per-layer search's confirmed best with each baseline's on the test split
(:mod:`actsearch.stats`), and name the baseline.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from optuna.storages import RDBStorage
from optuna.trial import FrozenTrial, TrialState
from sqlalchemy import delete as sa_delete
from sqlalchemy import select

from actsearch.baselines import SIDES
from actsearch.errors import UsageError
from actsearch.stats import Comparison, compare
from actsearch.storage import META_KEY, all_studies, find_study, study_meta
from actsearch.tables import (
    ConfirmationRun,
    RecommendationRow,
    ensure_tables,
    session_scope,
    tables_exist,
)


def unconfirmed_notice(study: str) -> str:
    return (f"unconfirmed: one run per configuration, no tuned baseline; run `actsearch "
            f"confirm {study}`")


@dataclass(frozen=True)
class Recommendation:
    """What to use for a dataset, and where the answer comes from.

    Attributes:
        dataset: The dataset asked about.
        activations: One activation per hidden layer, input side first.
        params: The trial's hyperparameters (Optuna parameter names).
        value: Validation score of that trial in the search.
        metric: ``accuracy`` or ``r2``.
        study: The study the trial belongs to.
        trial: The trial's number in that study.
        n_trials: Finished trials behind the answer (all studies of the dataset).
        verdict: The per-layer search against tuned ReLU (``better than tuned ReLU``, ``no
            significant difference from tuned ReLU``, ``worse than tuned ReLU``), or the
            unconfirmed notice.
        confirmation: That comparison over seeds (``mean``/``std``/``n`` of the per-layer
            search's confirmed best, ``baseline`` and ``baseline_mean``/``_std``/``_n``, the
            difference, its confidence interval, p-value, ``validation_mean``, ``seeds``).
        importance: Share of the search's outcome explained by each parameter (fANOVA).
        final: The search's closing single-seed glance (best and its untuned ReLU twin).
        side: Where the recommended configuration comes from: ``search``, ``tuned_relu`` or
            ``uniform``.
        verdicts: The per-layer search against each confirmed baseline, by baseline.
        comparisons: Those comparisons in full, by baseline.
        baselines: Each confirmed baseline's best configuration (``study``, ``trials``,
            ``activations``, ``params``, ``test_mean``, ``test_std``, ``n``,
            ``validation_mean``).
        ablation: The per-layer best against its untuned all-ReLU twin (same shape and
            hyperparameters): how much the activations alone change; never the verdict.
        source: ``studies`` (this storage's studies) or ``knowledge base`` (the shipped one).
        importance_about: What ``importance`` measured: the evaluator, its trials and study.
            It is the per-layer search's (where activations vary), whichever side is
            recommended; optuna-dashboard's importance panel recomputes with its own
            evaluator and trials, so its numbers may differ.
    """

    dataset: str
    activations: list[str]
    params: dict[str, Any]
    value: float
    metric: str
    study: str
    trial: int
    n_trials: int
    verdict: str
    confirmation: dict[str, Any] | None
    importance: dict[str, float] | None
    final: dict[str, Any] | None
    side: str = "search"
    verdicts: dict[str, str] = field(default_factory=dict)
    comparisons: dict[str, dict[str, Any]] = field(default_factory=dict)
    baselines: dict[str, dict[str, Any]] = field(default_factory=dict)
    ablation: dict[str, Any] | None = None
    source: str = "studies"
    importance_about: str | None = None

    @property
    def confirmed(self) -> bool:
        return self.confirmation is not None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class _Study:
    study_id: int
    name: str
    attrs: dict[str, Any]

    @property
    def meta(self) -> dict[str, Any]:
        meta = self.attrs.get(META_KEY) or {}
        return meta if isinstance(meta, dict) else {}

    @property
    def side(self) -> str:
        return study_side(self.meta)


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

    study: _Study
    trial: FrozenTrial
    val: tuple[float, ...]
    test: tuple[float, ...]
    outcomes: tuple[tuple[float, ...], ...] | None
    seeds: tuple[int, ...]

    @property
    def val_mean(self) -> float:
        return float(np.mean(self.val))

    def compare_with(self, other: Confirmed, baseline: str) -> Comparison:
        return compare(self.test, other.test, baseline=baseline, outcomes=self.outcomes,
                       baseline_outcomes=other.outcomes)

    def compare_with_seeds_only(self, other: Confirmed) -> Comparison:
        """The same comparison ignoring test-example noise (for calibration reports)."""
        return compare(self.test, other.test)


def _confirmed(runs: list[ConfirmationRun], study: _Study,
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


def choose(best: dict[str, Confirmed]) -> Confirmed:
    """The best side by mean validation score; a side must beat every simpler one by more
    than the standard error of the difference, else the simpler one is kept."""
    chosen: Confirmed | None = None
    for side in SIDES:
        candidate = best.get(side)
        if candidate is None:
            continue
        if chosen is None or candidate.val_mean - chosen.val_mean > _tie_margin(candidate,
                                                                                chosen):
            chosen = candidate
    assert chosen is not None, "choose() needs at least one side"
    return chosen


def _dataset_studies(storage: RDBStorage, dataset: str) -> list[_Study]:
    return [_Study(s._study_id, s.study_name, s.user_attrs)
            for s in all_studies(storage)  # one query; trials are not loaded
            if (s.user_attrs.get(META_KEY) or {}).get("dataset") == dataset]


def studied_datasets(storage: RDBStorage) -> list[str]:
    return sorted({(s.user_attrs.get(META_KEY) or {}).get("dataset") or "?"
                   for s in all_studies(storage)} - {"?"})


def _summary(c: Confirmed, n_trials: int) -> dict[str, Any]:
    return {"study": c.study.name, "trial": c.trial.number, "trials": n_trials,
            "activations": list(c.trial.user_attrs.get("activations", [])),
            "params": dict(c.trial.params), "test_mean": float(np.mean(c.test)),
            "test_std": float(np.std(c.test, ddof=1)), "n": len(c.test),
            "validation_mean": c.val_mean}


def build_recommendation(storage: RDBStorage, dataset: str) -> Recommendation:
    """Compute the recommendation of ``dataset`` from its studies and confirmations."""
    studies = _dataset_studies(storage, dataset)
    if not studies:
        known = ", ".join(studied_datasets(storage)) or "none yet"
        raise UsageError(f"no study of dataset {dataset!r} in this storage (studied: {known}); "
                         f"run `actsearch search --dataset {dataset}` first")
    complete: dict[tuple[str, int], tuple[_Study, FrozenTrial]] = {}
    finished_per_study: dict[str, int] = {}
    for study in studies:
        finished = storage.get_all_trials(study.study_id, deepcopy=False,
                                          states=(TrialState.COMPLETE, TrialState.PRUNED))
        finished_per_study[study.name] = len(finished)
        complete.update({(study.name, t.number): (study, t) for t in finished
                         if t.state == TrialState.COMPLETE and t.value is not None})
    if not complete:
        raise UsageError(f"the studies of {dataset!r} have no completed trial yet: let a search "
                         "run longer, or with a gentler pruner")
    searched, twins = _runs(storage, [s.name for s in studies])
    best: dict[str, Confirmed] = {}
    for key, runs in searched.items():
        if key not in complete:
            continue
        confirmed = _confirmed(runs, *complete[key])
        side = complete[key][0].side
        if side not in SIDES:  # e.g. the corpus's A/A calibration studies
            continue
        if confirmed is not None and (side not in best
                                      or confirmed.val_mean > best[side].val_mean):
            best[side] = confirmed
    n_trials = sum(finished_per_study.values())
    if not best:
        study, trial = max(complete.values(), key=lambda st: (st[1].value, -st[1].number))
        parent = _search_study(studies, study)
        return _recommendation(dataset, study, trial, n_trials, explained=parent,
                               verdict=unconfirmed_notice(parent.name))
    chosen = choose(best)
    challenger = best.get("search") or best.get("uniform")
    comparisons: dict[str, Comparison] = {}
    if challenger is not None:
        for baseline in ("tuned_relu", "uniform"):
            if baseline in best and baseline != challenger.study.side:
                comparisons[baseline] = challenger.compare_with(best[baseline], baseline)
    confirmation = None
    verdict = (f"confirmed over seeds, but without a tuned ReLU baseline: run `actsearch "
               f"confirm {_search_study(studies, chosen.study).name}`")
    if "tuned_relu" in comparisons and challenger is not None:
        confirmation = {**comparisons["tuned_relu"].to_dict(),
                        "validation_mean": challenger.val_mean,
                        "seeds": list(challenger.seeds), "study": challenger.study.name,
                        "trial": challenger.trial.number}
        verdict = comparisons["tuned_relu"].verdict
    elif chosen.study.side == "tuned_relu" and len(best) == 1:
        verdict = "ReLU only: the searched space holds no other activation"
    ablation = None
    search_best = best.get("search")
    if search_best is not None:
        key = (search_best.study.name, search_best.trial.number)
        twin = _confirmed(twins.get(key, []), search_best.study, search_best.trial)
        if twin is not None:
            ablation = search_best.compare_with(twin, "relu_twin").to_dict()
    return _recommendation(
        dataset, chosen.study, chosen.trial, n_trials, verdict=verdict,
        explained=_search_study(studies, chosen.study),
        confirmation=confirmation, side=chosen.study.side,
        verdicts={k: c.verdict for k, c in comparisons.items()},
        comparisons={k: c.to_dict() for k, c in comparisons.items()},
        baselines={side: _summary(c, finished_per_study[c.study.name])
                   for side, c in best.items() if side != "search"},
        ablation=ablation)


def _search_study(studies: list[_Study], study: _Study) -> _Study:
    """The study whose baselines ``study`` belongs to (itself when it is not a baseline)."""
    parent = study.meta.get("baseline_of")
    return next((s for s in studies if s.name == parent), study)


def _recommendation(dataset: str, study: _Study, trial: FrozenTrial, n_trials: int, *,
                    verdict: str, explained: _Study, **extra: Any) -> Recommendation:
    assert trial.value is not None
    importance = explained.attrs.get("importance")
    about = None
    if importance:
        count = explained.attrs.get("importance_trials")
        about = (f"fANOVA (seed 0) over {count or 'the'} completed trials of study "
                 f"{explained.name}")
    return Recommendation(
        dataset=dataset, activations=list(trial.user_attrs.get("activations", [])),
        params=dict(trial.params), value=float(trial.value),
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
    entry = _Study(study_id, study, storage.get_study_user_attrs(study_id))
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
    study_id = find_study(storage, name)
    if study_id is None:
        raise UsageError(f"no study named {name!r}: see `actsearch studies list`")
    dataset = (study_meta(storage, study_id)).get("dataset")
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


def recommend(storage: RDBStorage, dataset: str) -> Recommendation:
    """The recommendation of ``dataset``: the stored one, else computed (and not stored).

    Serving writes nothing, so a reader never creates tables: recommendations are stored by
    the writers (a search or a confirmation ending). A stored answer whose study has since
    been deleted by another tool (optuna-dashboard deletes studies) is never served: it is
    computed afresh from what is left.
    """
    payload = None
    if tables_exist(storage.engine, RecommendationRow.__tablename__):
        with session_scope(storage.engine) as session:
            row = session.get(RecommendationRow, dataset)
            payload = dict(row.payload) if row is not None else None
    if payload is None or find_study(storage, str(payload.get("study"))) is None:
        return build_recommendation(storage, dataset)
    return Recommendation(**payload)
