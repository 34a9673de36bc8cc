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
from sqlalchemy import text

from actsearch.errors import UsageError
from actsearch.store.tables import tables_exist

META_KEY = "actsearch"
LATENCY = "latency"  # the second objective of a cost-aware study (minimised)


def objectives_of(meta: dict[str, Any]) -> list[str]:
    """A study's objectives: its task metric, then ``latency`` for a cost-aware study."""
    return list(meta.get("objectives") or [meta.get("metric", "accuracy")])


def metric_value(trial: FrozenTrial) -> float | None:
    """The trial's task metric: its value, or its first value in a cost-aware study (where
    ``FrozenTrial.value`` raises)."""
    return trial.values[0] if trial.values else None


def cost_of(trial: FrozenTrial) -> dict[str, Any] | None:
    """What the trial's trained network costs (``params``, ``flops``, ``latency_ms``,
    ``device``): complete trials record it; None for others and for older studies."""
    cost = trial.user_attrs.get("cost")
    return cost if isinstance(cost, dict) else None


def latency_of(trial: FrozenTrial) -> float | None:
    """Milliseconds per example of the trained network (complete trials record it)."""
    cost = cost_of(trial)
    return float(cost["latency_ms"]) if cost is not None else None


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
    """Name the objectives after the metric (``accuracy``, ``r2``) and ``latency_ms``:
    dashboards show them."""
    if meta.get("metric"):
        names = [meta["metric"]] + ["latency_ms"] * (LATENCY in objectives_of(meta))
        with warnings.catch_warnings():  # "experimental" in some Optuna releases
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            optuna.Study(study_name=name, storage=storage).set_metric_names(names)


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
    directions = [StudyDirection.MAXIMIZE] + [StudyDirection.MINIMIZE] * (
        LATENCY in objectives_of(meta))
    if study_id is None:
        try:
            study_id = storage.create_new_study(directions, name)
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
    _check_same(name, existing, meta, "fingerprint", "dataset")
    if "space_spec" in existing:  # another init is said before the digest that follows it
        _check_init(name, existing, meta)
    _check_same(name, existing, meta, "space_digest", "search space")
    if existing.get("epochs") and meta.get("epochs") and existing["epochs"] != meta["epochs"]:
        raise UsageError(
            f"study {name!r} trains {existing['epochs']} epochs per trial, not {meta['epochs']}: "
            "one pruner cannot compare both budgets; drop --epochs to resume, or pass a new "
            "--study name")
    if existing and objectives_of(existing) != objectives_of(meta):
        raise UsageError(
            f"study {name!r} optimises {', '.join(objectives_of(existing))}, not "
            f"{', '.join(objectives_of(meta))}: pass the same --objectives to resume, or a new "
            "--study name")
    return study_id



def _check_same(name: str, existing: dict[str, Any], meta: dict[str, Any], key: str,
                label: str) -> None:
    if existing.get(key) and existing.get(key) != meta.get(key):
        raise UsageError(
            f"study {name!r} was made for another {label} ({existing.get(label.split()[-1])!r}"
            f"); its parameters cannot change: pass a new --study name")


def _check_init(name: str, existing: dict[str, Any], meta: dict[str, Any]) -> None:
    """Refuse, naming the fix, a resumed search whose space initialises otherwise than the
    study did (its digest differs for that reason alone or among others)."""
    recorded = _init_of(existing)
    if existing.get("space_digest") != meta.get("space_digest") and recorded != _init_of(meta):
        raise UsageError(
            f"study {name!r} initialised its networks with init: {recorded}, not "
            f"{_init_of(meta)}; its trials would not compare: resume it with a space that says "
            f"init: {recorded}, or pass a new --study name")


def _init_of(meta: dict[str, Any]) -> str:
    """How a study's networks were initialised; studies recorded before spaces named it
    trained with PyTorch's defaults."""
    return str((meta.get("space_spec") or {}).get("init", "torch"))


def count_states(trials: list[FrozenTrial]) -> dict[TrialState, int]:
    counts = dict.fromkeys(TrialState, 0)
    for t in trials:
        counts[t.state] += 1
    return counts


# Optuna's own schema (``trials``, ``trial_values``; states stored by name), read directly
# where loading every trial through the storage would cost O(trials): a 10,000-trial study
# took 6 s a page that way. Optuna versions its schema; tests run these on SQLite and
# PostgreSQL against what Optuna's API returns.
_STATE_COUNTS = text("SELECT state, COUNT(*) FROM trials WHERE study_id = :study GROUP BY state")
_BEST_COMPLETE = text(
    "SELECT MAX(v.value) FROM trial_values v JOIN trials t ON t.trial_id = v.trial_id "
    "WHERE t.study_id = :study AND t.state = 'COMPLETE' AND v.objective = 0")
_FINISHED = ("FROM trials t JOIN trial_values v ON v.trial_id = t.trial_id AND v.objective = 0 "
             "WHERE t.study_id = :study AND t.state IN ('COMPLETE', 'PRUNED') "
             "AND v.value IS NOT NULL")
_FINISHED_COUNT = text(f"SELECT COUNT(*) {_FINISHED}")
_FINISHED_PAGE = text(
    f"SELECT t.trial_id {_FINISHED} "
    "ORDER BY CASE WHEN t.state = 'COMPLETE' THEN 0 ELSE 1 END, v.value DESC, t.number "
    "LIMIT :limit OFFSET :offset")


def trial_counts(storage: RDBStorage, study_id: int) -> tuple[dict[TrialState, int],
                                                              float | None]:
    """Trials per state and the best complete value, counted by the database."""
    counts = dict.fromkeys(TrialState, 0)
    with storage.engine.connect() as conn:
        for state, n in conn.execute(_STATE_COUNTS, {"study": study_id}):
            counts[TrialState[state]] = int(n)
        best = conn.execute(_BEST_COMPLETE, {"study": study_id}).scalar()
    return counts, None if best is None else float(best)


def finished_page(storage: RDBStorage, study_id: int, limit: int,
                  offset: int = 0) -> tuple[int, list[FrozenTrial]]:
    """Finished trials with a finite value (complete first, best first): how many there are,
    and the page ``offset .. offset + limit``, only those loaded."""
    params = {"study": study_id, "limit": limit, "offset": offset}
    with storage.engine.connect() as conn:
        total = int(conn.execute(_FINISHED_COUNT, params).scalar() or 0)
        ids = [row[0] for row in conn.execute(_FINISHED_PAGE, params)]
    return total, [storage.get_trial(trial_id) for trial_id in ids]


def study_info(storage: RDBStorage, study_id: int, name: str,
               attrs: dict[str, Any]) -> StudyInfo:
    """One study with its trial counts (none of its trials loaded)."""
    counts, best = trial_counts(storage, study_id)
    meta = attrs.get(META_KEY, {}) or {}
    return StudyInfo(
        name=name, study_id=study_id, dataset=meta.get("dataset"), space=meta.get("space"),
        metric=meta.get("metric"), n_complete=counts[TrialState.COMPLETE],
        n_pruned=counts[TrialState.PRUNED], n_failed=counts[TrialState.FAIL],
        n_running=counts[TrialState.RUNNING], best_value=best, meta=meta,
    )


def list_studies(storage: RDBStorage) -> list[StudyInfo]:
    """Every study in the database with its trial counts, newest first."""
    infos = [study_info(storage, s.study_id, s.name, s.attrs) for s in all_studies(storage)]
    return sorted(infos, key=lambda i: -i.study_id)

