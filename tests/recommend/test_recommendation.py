"""The recommendation from stored studies and confirmation runs (SQLite and PostgreSQL)."""

from __future__ import annotations

import math

import pytest

from actsearch.recommend.recommendation import build_recommendation
from actsearch.store.database import open_storage
from actsearch.store.studies import create_or_load_study
from actsearch.store.tables import ConfirmationRun, ensure_tables, session_scope
from tests.conftest import add_trial

META = {"samples": 150, "features": 4, "classes": 3, "class_balance": 1.0, "task": "multiclass"}


def _study(storage, name, kind=None):  # type: ignore[no-untyped-def]
    meta = {"dataset": "iris", "meta": META, "metric": "accuracy",
            "baseline_of": "s" if kind else None, "baseline_kind": kind}
    return create_or_load_study(storage, name, meta)


def _trial(storage, study_id, value, params, acts):  # type: ignore[no-untyped-def]
    add_trial(storage, study_id, params, value, choices=["relu", "tanh", "elu"],
              user_attrs={"activations": acts})


def test_a_configuration_that_diverged_on_a_seed_is_never_recommended(storage_url: str) -> None:
    storage = open_storage(storage_url)
    search, relu = _study(storage, "s"), _study(storage, "s--tuned-relu", "tuned_relu")
    _trial(storage, search, 0.99, {"act_0": "tanh", "lr": 0.1}, ["tanh"])  # diverges once
    _trial(storage, search, 0.90, {"act_0": "elu", "lr": 0.01}, ["elu"])
    _trial(storage, relu, 0.85, {"act": "relu", "lr": 0.01}, ["relu"])
    ensure_tables(storage.engine)
    rows = [("s", 0, [0.99, -math.inf]), ("s", 1, [0.91, 0.92]),
            ("s--tuned-relu", 0, [0.86, 0.87])]
    with session_scope(storage.engine) as session:
        for study, number, vals in rows:
            for seed, val in enumerate(vals):
                session.add(ConfirmationRun(study=study, trial_number=number, variant="searched",
                                            seed=seed, val=val, test=val, activations=[]))
    with session_scope(storage.engine) as session:  # -inf survives the round trip
        stored = {r.val for r in session.query(ConfirmationRun)}
    assert -math.inf in stored
    rec = build_recommendation(storage, "iris")
    assert (rec.study, rec.trial, rec.activations) == ("s", 1, ["elu"])
    assert rec.side == "search" and rec.confirmation is not None
    assert rec.confirmation.validation_mean == 0.915


def test_a_recommendation_whose_study_was_deleted_elsewhere_is_not_served(
        storage_url: str) -> None:
    from actsearch.errors import UsageError
    from actsearch.recommend.recommendation import recommend

    storage = open_storage(storage_url)
    first, second = _study(storage, "s"), _study(storage, "other")
    _trial(storage, first, 0.95, {"act_0": "tanh", "lr": 0.1}, ["tanh"])
    _trial(storage, second, 0.90, {"act_0": "elu", "lr": 0.01}, ["elu"])
    assert recommend(storage, "iris").study == "s"  # computed and stored
    storage.delete_study(first)  # as optuna-dashboard's DELETE does, behind our back
    assert recommend(storage, "iris").study == "other"
    storage.delete_study(second)
    with pytest.raises(UsageError, match="no study of dataset 'iris'"):
        recommend(storage, "iris")
