"""Studies as actsearch records them: created once, found by name, listed with counts.

actsearch keeps its own metadata as the study user attribute ``actsearch`` (dataset name,
fingerprint and meta-features, space name and digest, metric) and, per trial, user attributes
for telemetry, the driver that ran it, and retries. Studies are created once and then loaded,
never raced into existence (optuna#1092).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.storages import RDBStorage
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from actsearch.errors import UsageError
from actsearch.store.tables import tables_exist

META_KEY = "actsearch"


@dataclass(frozen=True)
class StoredStudy:
    """A study's name, id and user attributes, its trials not loaded."""

    study_id: int
    name: str
    attrs: dict[str, Any]

    @property
    def meta(self) -> dict[str, Any]:
        """What actsearch recorded about the study (empty for a study made elsewhere)."""
        meta = self.attrs.get(META_KEY) or {}
        return meta if isinstance(meta, dict) else {}

    @property
    def dataset(self) -> str | None:
        name = self.meta.get("dataset")
        return str(name) if name else None


@dataclass(frozen=True)
class StudyInfo:
    """A study as actsearch lists it."""

    name: str
    study_id: int
    dataset: str | None
    space: str | None
    metric: str | None
    n_complete: int
    n_pruned: int
    n_failed: int
    n_running: int
    best_value: float | None
    meta: dict[str, Any]


def study_meta(storage: RDBStorage, study_id: int) -> dict[str, Any]:
    attrs = storage.get_study_user_attrs(study_id)
    meta = attrs.get(META_KEY, {})
    return meta if isinstance(meta, dict) else {}


def all_studies(storage: RDBStorage) -> list[StoredStudy]:
    """Every study, in one query (trials not loaded); none in a database no search has
    written to yet."""
    if not tables_exist(storage.engine, "studies"):
        return []
    return [StoredStudy(s._study_id, s.study_name, s.user_attrs)
            for s in storage.get_all_studies()]


def studies_of_dataset(storage: RDBStorage, dataset: str) -> list[StoredStudy]:
    return [s for s in all_studies(storage) if s.dataset == dataset]


def find_study(storage: RDBStorage, name: str) -> int | None:
    if not tables_exist(storage.engine, "studies"):
        return None
    try:
        return storage.get_study_id_from_name(name)
    except KeyError:
        return None


def _name_metric(storage: RDBStorage, name: str, meta: dict[str, Any]) -> None:
    """Name the objective after the metric (``accuracy``, ``r2``): dashboards show it."""
    if meta.get("metric"):
        with warnings.catch_warnings():  # "experimental" in some Optuna releases
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            optuna.Study(study_name=name, storage=storage).set_metric_names([meta["metric"]])


def recorded_artifacts_dir(storage: RDBStorage) -> str | None:
    """Where the newest study that records one keeps its trial figures."""
    for study in sorted(all_studies(storage), key=lambda s: -s.study_id):
        if study.meta.get("artifacts_dir"):
            return str(study.meta["artifacts_dir"])
    return None


def require_study(storage: RDBStorage, name: str) -> int:
    """The id of study ``name``.

    Raises:
        UsageError: There is no such study.
    """
    study_id = find_study(storage, name)
    if study_id is None:
        raise UsageError(f"no study named {name!r}: see `actsearch studies list`")
    return study_id


def create_or_load_study(storage: RDBStorage, name: str, meta: dict[str, Any]) -> int:
    """The id of study ``name``, created with ``meta`` if new.

    Raises:
        UsageError: The study exists for another dataset or another search space (its
            parameter names and choice lists must stay the same), or holds trials that no
            actsearch search made.
    """
    study_id = find_study(storage, name)
    if study_id is None:
        try:
            study_id = storage.create_new_study([StudyDirection.MAXIMIZE], name)
        except optuna.exceptions.DuplicatedStudyError:  # another driver was first
            study_id = storage.get_study_id_from_name(name)
        else:
            storage.set_study_user_attr(study_id, META_KEY, meta)
            _name_metric(storage, name, meta)
            return study_id
    existing = study_meta(storage, study_id)
    if not existing.get("space_digest") and storage.get_n_trials(study_id) > 0:
        raise UsageError(
            f"study {name!r} was not made by an actsearch search (it records no search "
            "space), so its trials cannot be resumed: pass a new --study name")
    if not existing:  # an empty study made elsewhere (optuna create-study): adopt it
        storage.set_study_user_attr(study_id, META_KEY, meta)
        return study_id
    for key, label in (("fingerprint", "dataset"), ("space_digest", "search space")):
        if existing.get(key) and existing.get(key) != meta.get(key):
            raise UsageError(
                f"study {name!r} was made for another {label} ({existing.get(label.split()[-1])!r}"
                f"); its parameters cannot change: pass a new --study name"
            )
    if existing.get("epochs") and meta.get("epochs") and existing["epochs"] != meta["epochs"]:
        raise UsageError(
            f"study {name!r} trains {existing['epochs']} epochs per trial, not {meta['epochs']}: "
            "one pruner cannot compare both budgets; drop --epochs to resume, or pass a new "
            "--study name")
    return study_id



def count_states(trials: list[FrozenTrial]) -> dict[TrialState, int]:
    counts = dict.fromkeys(TrialState, 0)
    for t in trials:
        counts[t.state] += 1
    return counts


def study_info(storage: RDBStorage, study_id: int, name: str, attrs: dict[str, Any],
               trials: list[FrozenTrial] | None = None) -> StudyInfo:
    """One study with its trial counts (its trials only are loaded, unless given)."""
    if trials is None:
        trials = storage.get_all_trials(study_id, deepcopy=False)
    counts = count_states(trials)
    meta = attrs.get(META_KEY, {}) or {}
    complete = [t.value for t in trials if t.state == TrialState.COMPLETE and t.value is not None]
    return StudyInfo(
        name=name, study_id=study_id, dataset=meta.get("dataset"), space=meta.get("space"),
        metric=meta.get("metric"), n_complete=counts[TrialState.COMPLETE],
        n_pruned=counts[TrialState.PRUNED], n_failed=counts[TrialState.FAIL],
        n_running=counts[TrialState.RUNNING], best_value=max(complete) if complete else None,
        meta=meta,
    )


def list_studies(storage: RDBStorage) -> list[StudyInfo]:
    """Every study in the database with its trial counts, newest first."""
    infos = [study_info(storage, s.study_id, s.name, s.attrs) for s in all_studies(storage)]
    return sorted(infos, key=lambda i: -i.study_id)

