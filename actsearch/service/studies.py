"""Studies as users see them: listed with counts, shown with their best trials, deleted."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from optuna.storages import RDBStorage
from optuna.trial import FrozenTrial

from actsearch.recommend.recommendation import delete_study as _delete_with_recommendation
from actsearch.search.strategy import hyperparameters
from actsearch.store.studies import (
    StudyInfo,
    finished_page,
    list_studies,
    metric_value,
    require_study,
    study_info,
)

__all__ = ["StudyDetail", "StudyInfo", "TrialRow", "delete_study", "list_studies",
           "show_study"]


@dataclass(frozen=True)
class TrialRow:
    """A finished trial as listings show it."""

    number: int
    state: str  # complete or pruned
    value: float
    activations: list[str]
    params: dict[str, Any]
    epochs: int | None
    telemetry: list[dict[str, Any]] | None
    dead_fraction_max: float | None
    saturation_mean: float | None
    grad_norm_min: float | None
    cost: dict[str, Any] | None  # params, flops, latency_ms, device (complete trials)

    @property
    def hyperparameters(self) -> dict[str, Any]:
        return hyperparameters(self.params)

    @classmethod
    def of(cls, trial: FrozenTrial) -> TrialRow:
        value = metric_value(trial)
        assert value is not None
        attrs = trial.user_attrs
        return cls(number=trial.number, state=trial.state.name.lower(), value=value,
                   activations=list(attrs.get("activations", [])), params=dict(trial.params),
                   epochs=attrs.get("epochs"), telemetry=attrs.get("telemetry"),
                   dead_fraction_max=attrs.get("dead_fraction_max"),
                   saturation_mean=attrs.get("saturation_mean"),
                   grad_norm_min=attrs.get("grad_norm_min"), cost=attrs.get("cost"))


@dataclass(frozen=True)
class StudyDetail:
    """One study: its counts, what it recorded, and a page of its finished trials."""

    info: StudyInfo
    importance: dict[str, float] | None
    final: dict[str, Any] | None
    finished: int  # finished trials with a value, of which ``trials`` is a page
    trials: list[TrialRow]


def show_study(storage: RDBStorage, name: str, top: int = 10, offset: int = 0) -> StudyDetail:
    """Study ``name`` with its finished trials, complete ones first, best first.

    Raises:
        UsageError: No such study.
    """
    study_id = require_study(storage, name)
    attrs = storage.get_study_user_attrs(study_id)
    finished, page = finished_page(storage, study_id, top, offset)
    return StudyDetail(info=study_info(storage, study_id, name, attrs),
                       importance=attrs.get("importance"), final=attrs.get("final"),
                       finished=finished, trials=[TrialRow.of(t) for t in page])


def delete_study(storage: RDBStorage, name: str) -> None:
    """Delete a study and its confirmation runs; its dataset's recommendation follows.

    Raises:
        UsageError: No such study.
    """
    _delete_with_recommendation(storage, name)
