"""Counts and the finished-trials page read by SQL agree with what Optuna's own API returns,
on SQLite and PostgreSQL: the study page no longer loads every trial."""

from __future__ import annotations

import random

import optuna
from optuna.trial import TrialState

from actsearch.store.database import open_storage
from actsearch.store.studies import count_states, finished_page, trial_counts
from tests.conftest import add_trial


def test_counts_and_pages_match_optuna(storage_url: str) -> None:
    storage = open_storage(storage_url)
    study_id = storage.create_new_study([optuna.study.StudyDirection.MAXIMIZE], "counted")
    other = storage.create_new_study([optuna.study.StudyDirection.MAXIMIZE], "other")
    add_trial(storage, other, value=0.99)  # another study's trials count for nothing here
    rng = random.Random(0)
    for _ in range(40):
        state = rng.choice([TrialState.COMPLETE, TrialState.COMPLETE, TrialState.PRUNED,
                            TrialState.FAIL])
        # Ties included: the page breaks them by trial number, as the listing always did.
        value = None if state == TrialState.FAIL else round(rng.random(), 1)
        add_trial(storage, study_id, value=value, state=state)
    add_trial(storage, study_id, value=None, state=TrialState.PRUNED)  # pruned at epoch 0
    storage.create_new_trial(study_id)  # RUNNING

    trials = storage.get_all_trials(study_id)
    counts, best = trial_counts(storage, study_id)
    assert counts == count_states(trials)
    assert counts[TrialState.RUNNING] == 1
    assert best == max(t.value for t in trials if t.state == TrialState.COMPLETE
                       and t.value is not None)

    finished = sorted((t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)
                       and t.value is not None),
                      key=lambda t: (t.state != TrialState.COMPLETE, -(t.value or 0.0),
                                     t.number))
    for offset, limit in [(0, 10), (10, 10), (35, 10), (0, 100)]:
        total, page = finished_page(storage, study_id, limit, offset)
        assert total == len(finished)
        assert [t.number for t in page] == [t.number for t in finished[offset:offset + limit]]
        assert all(t.user_attrs == f.user_attrs and t.params == f.params
                   for t, f in zip(page, finished[offset:], strict=False))
    assert trial_counts(storage, storage.create_new_study(
        [optuna.study.StudyDirection.MAXIMIZE], "empty")) == (dict.fromkeys(TrialState, 0),
                                                              None)
