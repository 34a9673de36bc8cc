"""Recommendations: the best per-layer activations and hyperparameters found for a dataset.

The CLI's ``recommend`` and the HTTP API call the same function, so they give the same answer.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from optuna.storages import RDBStorage
from optuna.trial import FrozenTrial, TrialState

from actsearch.errors import UsageError
from actsearch.storage import StudyInfo, list_studies


@dataclass(frozen=True)
class Recommendation:
    """What to use for a dataset, and where the answer comes from.

    Attributes:
        dataset: The dataset asked about.
        activations: One activation per hidden layer, input side first.
        params: The trial's hyperparameters (Optuna parameter names).
        value: Validation score of that trial.
        metric: ``accuracy`` or ``r2``.
        study: The study the trial belongs to.
        trial: The trial's number in that study.
        n_trials: Finished trials behind the answer (all studies of the dataset).
        final: The search's closing comparison (validation and test scores of this
            configuration and of its all-ReLU twin), when the search reached it.
    """

    dataset: str
    activations: list[str]
    params: dict[str, Any]
    value: float
    metric: str
    study: str
    trial: int
    n_trials: int
    final: dict[str, Any] | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def studied_datasets(storage: RDBStorage) -> list[str]:
    return sorted({s.dataset for s in list_studies(storage) if s.dataset})


def recommend(storage: RDBStorage, dataset: str) -> Recommendation:
    """The best completed trial over every study of ``dataset``.

    Raises:
        UsageError: No study of that dataset, or none with a completed trial yet.
    """
    studies = [s for s in list_studies(storage) if s.dataset == dataset]
    if not studies:
        known = ", ".join(studied_datasets(storage)) or "none yet"
        raise UsageError(f"no study of dataset {dataset!r} in this storage (studied: {known}); "
                         f"run `actsearch search --dataset {dataset}` first")
    best: tuple[StudyInfo, FrozenTrial, float] | None = None
    n_trials = 0
    for info in studies:
        trials = storage.get_all_trials(info.study_id, deepcopy=False,
                                        states=(TrialState.COMPLETE, TrialState.PRUNED))
        n_trials += len(trials)
        for t in trials:
            if t.state == TrialState.COMPLETE and t.value is not None and (
                    best is None or t.value > best[2]):
                best = (info, t, t.value)
    if best is None:
        raise UsageError(f"the studies of {dataset!r} have no completed trial yet: let a search "
                         "run longer, or with a gentler pruner")
    info, trial, value = best
    final = storage.get_study_user_attrs(info.study_id).get("final")
    return Recommendation(
        dataset=dataset, activations=list(trial.user_attrs.get("activations", [])),
        params=dict(trial.params), value=value,
        metric=info.metric or "accuracy", study=info.name, trial=trial.number,
        n_trials=n_trials, final=final if isinstance(final, dict) else None,
    )
