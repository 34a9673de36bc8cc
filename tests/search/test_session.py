"""The driver's study session, without Ray: what it counts, what it retries, when it has room.

These are the scheduling decisions of a search; end-to-end runs reach them only by luck of
timing, so each is set up here directly, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import subprocess
import sys
import threading

import optuna
import pytest
from optuna.exceptions import UpdateFinishedTrialError
from optuna.storages import RDBStorage
from optuna.trial import TrialState

from actsearch.search.session import (
    DRIVER_ATTR,
    StudySession,
    driver_identity,
    driver_of,
    pending_retries,
    recover_orphans,
)
from actsearch.store.database import open_storage
from actsearch.store.patience import Patient
from actsearch.store.studies import create_or_load_study
from tests.conftest import add_trial

META = {"dataset": "iris", "fingerprint": "f1", "space": "s", "space_digest": "d1",
        "metric": "accuracy"}


def _session(url: str, max_retries: int = 2) -> StudySession:
    storage = open_storage(url)
    mirror = optuna.create_study(direction="maximize",
                                 sampler=optuna.samplers.RandomSampler(seed=0))
    patient = Patient(url, 5.0, on_wait=lambda _: None, give_up=threading.Event())
    return StudySession(storage, "s", META, mirror, patient, max_retries)


def _ask(session: StudySession) -> optuna.Trial:
    trial = session.mirror.ask()
    trial.suggest_categorical("act_0", ["relu", "tanh"])
    return trial


def test_a_new_study_has_nothing_to_resume(storage_url: str) -> None:
    session = _session(storage_url)
    assert session.is_new and session.retries == [] and session.finished() == 0
    assert session.others_running == 0


def test_finished_trials_of_earlier_runs_are_mirrored_once(storage_url: str) -> None:
    storage = open_storage(storage_url)
    study_id = create_or_load_study(storage, "s", META)
    add_trial(storage, study_id, {"act_0": "relu"}, 0.8, choices=["relu", "tanh"])
    add_trial(storage, study_id, {"act_0": "tanh"}, 0.7, state=TrialState.PRUNED,
              choices=["relu", "tanh"])
    session = _session(storage_url)
    assert not session.is_new and session.finished() == 2
    session.refresh()  # a second refresh adds nothing twice
    assert len(session.mirror.get_trials(deepcopy=False)) == 2
    best = session.mirror.best_trial
    assert best.value == 0.8 and best.params == {"act_0": "relu"}


def test_failed_configurations_are_queued_for_retry_up_to_the_limit(storage_url: str) -> None:
    storage = open_storage(storage_url)
    study_id = create_or_load_study(storage, "s", META)
    add_trial(storage, study_id, {"act_0": "tanh"}, None, state=TrialState.FAIL,
              choices=["relu", "tanh"], user_attrs={"attempt": 1})
    add_trial(storage, study_id, {"act_0": "relu"}, None, state=TrialState.FAIL,
              choices=["relu", "tanh"], user_attrs={"attempt": 3})  # retried twice already
    retries = _session(storage_url, max_retries=2).retries
    assert [(r.params, r.number, r.attempt) for r in retries] == [({"act_0": "tanh"}, 0, 1)]
    assert _session(storage_url, max_retries=0).retries == []


def test_other_drivers_running_trials_count_but_its_own_do_not(storage_url: str) -> None:
    session = _session(storage_url)
    # Another driver's trial, running in the same study.
    add_trial(session.storage, session.study_id, {"act_0": "relu"}, None,
              state=TrialState.RUNNING, choices=["relu", "tanh"])
    trial_id, number = session.create_trial(_ask(session), {"attempt": 1})
    assert number == 1
    session.refresh()
    # Its own running trial is in flight in the driver, not another driver's: counting it
    # here too once stopped a search one trial short.
    assert session.others_running == 1
    stored = session.storage.get_trial(trial_id)
    assert stored.state == TrialState.RUNNING
    assert driver_of(stored) == session.identity and stored.user_attrs["attempt"] == 1
    assert "driver" not in stored.user_attrs  # an internal: not in the dashboard's table


def test_the_trial_budget_is_decided_in_the_database(storage_url: str) -> None:
    session = _session(storage_url)
    add_trial(session.storage, session.study_id, {"act_0": "relu"}, 0.5,
              choices=["relu", "tanh"])
    failing_id, _ = session.create_trial(_ask(session), {})
    with session.slot(target=2, ended_unwritten=0) as room:
        assert not room  # one finished, one running: the budget of two is taken
    with session.slot(target=2, ended_unwritten=1) as room:
        assert room  # the running one has failed, its state not written yet: a slot is free
    with session.slot(target=3, ended_unwritten=0) as room:
        assert room
    assert session.storage.get_trial(failing_id).state == TrialState.RUNNING


def test_a_trial_ended_by_another_driver_refuses_further_scores(storage_url: str) -> None:
    session = _session(storage_url)
    trial_id, _ = session.create_trial(_ask(session), {})
    session.report(trial_id, 1, 0.5)
    # Another driver found its heartbeat stale during an outage and failed it.
    session.storage.set_trial_state_values(trial_id, TrialState.FAIL)
    with pytest.raises(UpdateFinishedTrialError):
        session.report(trial_id, 2, 0.6)
    assert session.storage.get_trial(trial_id).intermediate_values == {1: 0.5}


def _running(storage: RDBStorage, study_id: int, driver: dict[str, object],
             older_study: bool = False) -> int:
    """A running trial of ``driver``, recorded as a search does (a system attribute) or as
    searches before it did (a user attribute)."""
    if older_study:
        return add_trial(storage, study_id, {"act_0": "relu"}, None, state=TrialState.RUNNING,
                         choices=["relu", "tanh"], user_attrs={"driver": driver})
    trial_id = add_trial(storage, study_id, {"act_0": "relu"}, None, state=TrialState.RUNNING,
                         choices=["relu", "tanh"])
    storage.set_trial_system_attr(trial_id, DRIVER_ATTR, driver)
    return trial_id


def test_orphans_of_a_dead_driver_are_failed_and_queued_for_retry(storage_url: str) -> None:
    storage = open_storage(storage_url)
    study_id = create_or_load_study(storage, "s", META)
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    dead = {**driver_identity(), "pid": int(gone.stdout), "started": 1.0}
    orphan = _running(storage, study_id, dead)
    older = _running(storage, study_id, dead, older_study=True)
    alive = _running(storage, study_id, driver_identity())
    assert recover_orphans(storage, "s") == 2
    for failed in (orphan, older):
        assert storage.get_trial(failed).state == TrialState.FAIL
        assert "driver died" in storage.get_trial(failed).user_attrs["fail_reason"]
    assert storage.get_trial(alive).state == TrialState.RUNNING
    trials = storage.get_all_trials(study_id)
    assert [t._trial_id for t in pending_retries(trials, max_retries=2)] == [orphan, older]
    # Once a retry names it, it is no longer pending; nor past the retry limit.
    add_trial(storage, study_id, {"act_0": "relu"}, 0.5, choices=["relu", "tanh"],
              user_attrs={"retry_of": 0})
    add_trial(storage, study_id, {"act_0": "relu"}, 0.5, choices=["relu", "tanh"],
              user_attrs={"retry_of": 1})
    assert pending_retries(storage.get_all_trials(study_id), max_retries=2) == []
    assert pending_retries(trials, max_retries=0) == []
