"""Recommendations: what to use for a dataset, how sure we are, and what mattered.

A recommendation is precomputed when a search or a confirmation ends and stored per dataset
(``actsearch_recommendations``), so the CLI and the API serve it with one primary-key read;
both call :func:`recommend`, so they give the same answer.

Without confirmation the answer is the best search trial (by validation score) and says it
is unconfirmed. With confirmation the confirmed configuration with the best mean
*validation* score over seeds is recommended (the test split chooses nothing), and its mean
test score is compared with its all-ReLU twin by Welch's t-test.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from optuna.storages import RDBStorage
from optuna.trial import TrialState
from sqlalchemy import delete as sa_delete
from sqlalchemy import select

from actsearch.errors import UsageError
from actsearch.stats import compare
from actsearch.storage import META_KEY, find_study, study_meta
from actsearch.tables import ConfirmationRun, RecommendationRow, ensure_tables, session_scope

UNCONFIRMED = "unconfirmed: one run per configuration; run `actsearch confirm STUDY`"


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
        verdict: ``better than ReLU``, ``no significant difference``, ``worse than ReLU``,
            or the unconfirmed notice.
        confirmation: Test scores over seeds vs the all-ReLU twin (mean, std, difference,
            confidence interval, p-value), when confirmed.
        importance: Share of the search's outcome explained by each parameter (fANOVA).
        final: The search's closing single-seed comparison, when it reached it.
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

    @property
    def confirmed(self) -> bool:
        return self.confirmation is not None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _dataset_studies(storage: RDBStorage, dataset: str) -> list[tuple[int, str, dict[str, Any]]]:
    found = []
    for study in storage.get_all_studies():  # one query; trials are not loaded
        meta = study.user_attrs.get(META_KEY) or {}
        if meta.get("dataset") == dataset:
            found.append((study._study_id, study.study_name, study.user_attrs))
    return found


def studied_datasets(storage: RDBStorage) -> list[str]:
    return sorted({(s.user_attrs.get(META_KEY) or {}).get("dataset") or "?"
                   for s in storage.get_all_studies()} - {"?"})


def build_recommendation(storage: RDBStorage, dataset: str) -> Recommendation:
    """Compute the recommendation of ``dataset`` from its studies and confirmations."""
    studies = _dataset_studies(storage, dataset)
    if not studies:
        known = ", ".join(studied_datasets(storage)) or "none yet"
        raise UsageError(f"no study of dataset {dataset!r} in this storage (studied: {known}); "
                         f"run `actsearch search --dataset {dataset}` first")
    candidates = []
    n_trials = 0
    for study_id, name, attrs in studies:
        finished = storage.get_all_trials(study_id, deepcopy=False,
                                          states=(TrialState.COMPLETE, TrialState.PRUNED))
        n_trials += len(finished)
        complete = [t for t in finished if t.state == TrialState.COMPLETE and t.value is not None]
        candidates += [(name, attrs, t) for t in complete]
    if not candidates:
        raise UsageError(f"the studies of {dataset!r} have no completed trial yet: let a search "
                         "run longer, or with a gentler pruner")
    by_key = {(name, t.number): (name, attrs, t) for name, attrs, t in candidates}
    confirmed = _confirmed(storage, [name for _, name, _ in studies], by_key)
    if confirmed is not None:
        (name, attrs, trial), comparison = confirmed
    else:
        name, attrs, trial = max(candidates, key=lambda c: (c[2].value, -c[2].number))
        comparison = None
    meta = attrs.get(META_KEY) or {}
    return Recommendation(
        dataset=dataset, activations=list(trial.user_attrs.get("activations", [])),
        params=dict(trial.params), value=float(trial.value), metric=meta.get("metric", "accuracy"),
        study=name, trial=trial.number, n_trials=n_trials,
        verdict=comparison["verdict"] if comparison else UNCONFIRMED,
        confirmation=comparison, importance=attrs.get("importance"),
        final=attrs.get("final"),
    )


def _confirmed(storage: RDBStorage, studies: list[str],
               by_key: dict[tuple[str, int], Any]) -> tuple[Any, dict[str, Any]] | None:
    """The confirmed trial with the best mean validation score, and its comparison."""
    ensure_tables(storage.engine)
    runs: dict[tuple[str, int], dict[str, list[ConfirmationRun]]] = defaultdict(
        lambda: defaultdict(list))
    with session_scope(storage.engine) as session:
        for run in session.scalars(select(ConfirmationRun).where(
                ConfirmationRun.study.in_(studies))):
            runs[(run.study, run.trial_number)][run.variant].append(run)
    best = None
    for key, variants in runs.items():
        searched, relu = variants.get("searched", []), variants.get("relu", [])
        if key not in by_key or len(searched) < 2 or len(relu) < 2:
            continue
        val_mean = float(np.mean([r.val for r in searched]))
        if best is None or val_mean > best[0]:
            result = compare([r.test for r in searched], [r.test for r in relu]).to_dict()
            result["validation_mean"] = val_mean
            result["seeds"] = sorted(r.seed for r in searched)
            best = (val_mean, by_key[key], result)
    return None if best is None else (best[1], best[2])


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
    """The stored recommendation of ``dataset`` (computed and stored on first request)."""
    ensure_tables(storage.engine)
    with session_scope(storage.engine) as session:
        row = session.get(RecommendationRow, dataset)
        payload = dict(row.payload) if row is not None else None
    if payload is None:
        return refresh_recommendation(storage, dataset)
    return Recommendation(**payload)
