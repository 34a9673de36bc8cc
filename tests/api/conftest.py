"""A populated study database and an app on it, for SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from optuna.distributions import FloatDistribution

from actsearch.recommend.recommendation import refresh_recommendation
from actsearch.store.database import open_storage
from actsearch.store.studies import create_or_load_study
from actsearch.store.tables import ConfirmationRun, ensure_tables, session_scope
from tests.conftest import add_trial, make_client

CHOICES = ["relu", "tanh", "gelu"]
META = {"digits": {"samples": 1797, "features": 64, "classes": 10, "class_balance": 0.95,
                   "task": "multiclass"},
        "wine": {"samples": 178, "features": 13, "classes": 3, "class_balance": 0.68,
                 "task": "multiclass"},
        "diabetes": {"samples": 442, "features": 10, "classes": 1, "class_balance": 1.0,
                     "task": "regression"}}
LR = {"lr": FloatDistribution(1e-4, 1e-1, log=True)}
# digits' confirmation, seeds 0-3: the searched configuration's test scores and tuned ReLU's.
DIGITS_SEARCHED_TEST = [0.96 + 0.002 * seed for seed in range(4)]
DIGITS_TUNED_RELU_TEST = [0.94 + 0.003 * seed for seed in range(4)]


def populate(url: str) -> None:
    """Three datasets, one study each, a few trials; digits is confirmed."""
    storage = open_storage(url)
    for dataset, meta in META.items():
        study_id = create_or_load_study(storage, f"{dataset}-default", {
            "dataset": dataset, "meta": meta, "metric": "accuracy", "space": "default"})
        for i, (acts, value) in enumerate([(["relu", "tanh"], 0.91), (["gelu", "gelu"], 0.95),
                                           (["tanh", "relu"], 0.80)]):
            add_trial(storage, study_id,
                      {"act_0": acts[0], "act_1": acts[1], "lr": 0.01 * (i + 1)},
                      value + 0.001 * len(dataset), choices=CHOICES, distributions=LR,
                      user_attrs={"activations": acts, "epochs": 10})
    # digits has a tuned-ReLU baseline study, and both sides are confirmed over 4 seeds.
    baseline = create_or_load_study(storage, "digits-default--tuned-relu", {
        "dataset": "digits", "meta": META["digits"], "metric": "accuracy",
        "space": "default--tuned-relu", "baseline_of": "digits-default",
        "baseline_kind": "tuned_relu"})
    add_trial(storage, baseline, {"act": "relu", "lr": 0.02}, 0.93, distributions=LR,
              user_attrs={"activations": ["relu", "relu"], "epochs": 10})
    ensure_tables(storage.engine)
    with session_scope(storage.engine) as session:
        for seed in range(4):
            session.add(ConfirmationRun(study="digits-default", trial_number=1,
                                        variant="searched", seed=seed, val=0.95 + 0.001 * seed,
                                        test=DIGITS_SEARCHED_TEST[seed],
                                        activations=["gelu", "gelu"]))
            session.add(ConfirmationRun(study="digits-default", trial_number=1, variant="relu",
                                        seed=seed, val=0.94, test=0.95 + 0.001 * seed,
                                        activations=["relu", "relu"]))
            session.add(ConfirmationRun(study="digits-default--tuned-relu", trial_number=0,
                                        variant="searched", seed=seed, val=0.93 + 0.001 * seed,
                                        test=DIGITS_TUNED_RELU_TEST[seed],
                                        activations=["relu", "relu"]))
    for dataset in META:
        refresh_recommendation(storage, dataset)
    storage.engine.dispose()


@pytest.fixture
def populated(storage_url: str) -> str:
    populate(storage_url)
    return storage_url


@pytest.fixture
def client(populated: str) -> Iterator[TestClient]:
    with make_client(populated) as c:
        yield c
