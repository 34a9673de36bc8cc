"""``actsearch export``: the recommended network, trained and written as files to take away."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import optuna
from optuna.storages import RDBStorage

from actsearch.errors import UsageError
from actsearch.recommend.confirm import study_inputs
from actsearch.recommend.forest import save_forest
from actsearch.recommend.recommendation import Recommendation
from actsearch.recommend.similar import known_recommendation
from actsearch.search.report import best_trial
from actsearch.store.database import open_storage
from actsearch.store.studies import find_study, study_meta
from actsearch.train.export import Exported, export_network


def export(storage_url: str, name: str, directory: Path, *, seed: int = 0,
           data_dir: Path | None = None) -> Exported:
    """Train and write the network ``name`` stands for: a study's best trial, or a dataset's
    recommended configuration (its recommendation's study and trial). Where the dataset's
    verdicts are confirmed, ``verdict.png`` beside the network draws them (a forest plot).

    Raises:
        UsageError: No such study or studied dataset, a recommendation from the knowledge base
            only (no data here to train on), or a CNN (images have no raw-row model).
    """
    storage = open_storage(storage_url, create=False)
    study_id = find_study(storage, name)
    if study_id is not None:
        best = best_trial(storage.get_all_trials(study_id, deepcopy=False))
        if best is None:
            raise UsageError(f"study {name!r} has no completed trial to export yet")
        study, number = name, best.number
    else:
        rec = known_recommendation(storage, name)  # UsageError names both ways to ask
        if rec.source != "studies":
            raise UsageError(f"{name!r} is answered from the shipped knowledge base, not from "
                             f"a study here: search it first (`actsearch search --dataset "
                             f"{name}`), then export")
        study, number = rec.study, rec.trial
        study_id = find_study(storage, study)
        assert study_id is not None
    meta = study_meta(storage, study_id)
    verdicts = _confirmed_verdicts(storage, str(meta.get("dataset") or ""))
    inputs = study_inputs(study, meta, data_dir)
    trial = storage.get_trial(storage.get_trial_id_from_study_id_trial_number(study_id, number))
    config = inputs.space.suggest_config(optuna.trial.FixedTrial(trial.params), inputs.data,
                                         epochs=inputs.epochs, seed=seed)
    try:
        exported = export_network(config, inputs.data, directory,
                                  about={"study": study, "trial": number, "seed": seed})
    except ValueError as exc:
        raise UsageError(f"study {study!r} cannot be exported: {exc}") from None
    if verdicts is None:
        return exported
    png = save_forest(verdicts.comparisons, verdicts.metric, directory / "verdict.png")
    return replace(exported, files=(*exported.files, png))


def _confirmed_verdicts(storage: RDBStorage, dataset: str) -> Recommendation | None:
    """The dataset's recommendation when its verdicts have been confirmed (for verdict.png,
    the forest plot of the differences against the baselines)."""
    try:
        rec = known_recommendation(storage, dataset)
    except UsageError:
        return None
    return rec if rec.source == "studies" and rec.comparisons else None


def export_to(name: str, directory: Path, storage_url: str | None = None,
              seed: int = 0) -> Exported:
    """The Python API's ``actsearch.export`` (storage: the configured one by default)."""
    from actsearch.settings import get_settings

    return export(storage_url or get_settings().storage, name, directory, seed=seed)
