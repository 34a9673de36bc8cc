"""The search driver's hold on its study: orphans, retries, the trial budget.

A driver recovers the trials a dead driver left RUNNING (its own host's dead processes at once,
other hosts' by a stale heartbeat), re-queues failed configurations, and takes a slot of the
study's trial budget in the database before each trial, so drivers sharing a study never
overshoot it.
"""

from __future__ import annotations

import contextlib
import socket
import time
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import optuna
import psutil
import sqlalchemy
from optuna.storages import RDBStorage
from optuna.trial import FrozenTrial, TrialState
from sqlalchemy.exc import InterfaceError, OperationalError

from actsearch.store.patience import Patient
from actsearch.store.studies import create_or_load_study

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
DRIVER_ATTR = "actsearch:driver"  # a trial's system attribute: the process that runs it


def driver_of(trial: FrozenTrial) -> Any:
    """Who runs a trial (older studies kept it as the user attribute ``driver``)."""
    return trial.system_attrs.get(DRIVER_ATTR, trial.user_attrs.get("driver"))


@contextlib.contextmanager
def trial_slot(storage: RDBStorage, study_id: int, target: int, ended_unwritten: int = 0,
               patient: Patient | None = None) -> Iterator[bool]:
    """Whether one more trial may start, decided in the database, and held until it exists.

    Counts the study's running and finished trials (every driver's), less
    ``ended_unwritten``: this driver's failed trials whose state is not written yet. On
    PostgreSQL an advisory lock per study is held until the block ends, so two drivers
    cannot both take the last slot; SQLite has one writer, so the count suffices. Taking the
    slot is retried through ``patient`` while the database is unreachable.
    """
    take = patient or (lambda call, *args: call(*args))
    conn, room = take(_take_slot, storage, study_id, target, ended_unwritten)
    try:
        yield room
    finally:
        _release_slot(conn, study_id)


_COUNT_TAKEN = sqlalchemy.text("SELECT count(*) FROM trials WHERE study_id = :study AND state IN "
                               "('RUNNING', 'COMPLETE', 'PRUNED')")


def _take_slot(storage: RDBStorage, study_id: int, target: int,
               ended_unwritten: int) -> tuple[sqlalchemy.Connection, bool]:
    conn = storage.engine.connect()
    try:
        if conn.dialect.name == "postgresql":
            conn.execute(sqlalchemy.text("SELECT pg_advisory_lock(:key)"), {"key": study_id})
        taken = int(conn.execute(_COUNT_TAKEN, {"study": study_id}).scalar_one())
    except BaseException:
        conn.invalidate()  # never pool a connection that may still hold the lock
        conn.close()
        raise
    return conn, taken - ended_unwritten < target


def _release_slot(conn: sqlalchemy.Connection, study_id: int) -> None:
    try:
        if conn.dialect.name == "postgresql":
            conn.execute(sqlalchemy.text("SELECT pg_advisory_unlock(:key)"), {"key": study_id})
        conn.commit()
    except (OperationalError, InterfaceError):
        conn.invalidate()  # the connection died, and the server released its lock with it
    finally:
        conn.close()



def driver_identity() -> dict[str, Any]:
    """Who runs trials: host, pid and process start time (pids get reused)."""
    proc = psutil.Process()
    return {"host": socket.gethostname(), "pid": proc.pid, "started": proc.create_time()}


def _driver_dead(identity: Any) -> bool:
    """True when ``identity`` names a process on this host that no longer runs."""
    if not isinstance(identity, dict) or identity.get("host") != socket.gethostname():
        return False
    try:
        started = float(identity["started"])
        return bool(abs(psutil.Process(int(identity["pid"])).create_time() - started) > 1)
    except (psutil.NoSuchProcess, KeyError, ValueError, TypeError):
        return True


def recover_orphans(storage: RDBStorage, study_name: str) -> int:
    """Fail trials left RUNNING by a dead driver, so their configurations get re-queued.

    A trial is orphaned when its driver ran on this host and is gone (found at once), or when
    its heartbeat is older than the grace period (a driver on another machine died).

    Returns:
        How many trials were failed.
    """
    study = optuna.load_study(study_name=study_name, storage=storage)
    running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    failed = 0
    for trial in running:
        if _driver_dead(driver_of(trial)):
            try:
                storage.set_trial_user_attr(trial._trial_id, "fail_reason",
                                            "its search driver died while it ran")
                storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
                failed += 1
            except optuna.exceptions.UpdateFinishedTrialError:
                continue  # another driver recovered it first
    before = len(study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)  # heartbeat-based: drivers on any host
    return failed + before - len(study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)))


def pending_retries(trials: list[FrozenTrial], max_retries: int) -> list[FrozenTrial]:
    """Failed trials whose configuration has not been retried yet (and may be)."""
    retried = {t.user_attrs.get("retry_of") for t in trials}
    return [t for t in trials if t.state == TrialState.FAIL and t.number not in retried
            and int(t.user_attrs.get("attempt", 1)) <= max_retries]


@dataclass(frozen=True)
class Retry:
    """A failed trial's configuration, to run again."""

    params: dict[str, Any]
    number: int
    attempt: int


class StudySession:
    """One driver's study: the database rows it writes, and the in-memory mirror it decides on.

    The driver samples and prunes on the mirror (Optuna's decisions then cost microseconds
    instead of a database round trip each); every write goes through ``patient``, so a
    database restart pauses the search instead of ending it.
    """

    def __init__(self, storage: RDBStorage, name: str, meta: dict[str, Any],
                 mirror: optuna.Study, patient: Patient, max_retries: int,
                 on_mirror: Callable[[FrozenTrial], None] | None = None) -> None:
        self.storage, self.name, self.mirror, self.patient = storage, name, mirror, patient
        self.on_mirror = on_mirror  # told of each finished trial copied into the mirror
        self.study_id = create_or_load_study(storage, name, meta)
        recover_orphans(storage, name)
        self.identity = driver_identity()
        self.own_ids: set[int] = set()  # every trial this driver created (other drivers': not)
        self.mirrored: set[int] = set()
        self.others_running = 0  # other drivers' running trials, as of the last refresh
        self.last_refresh = 0.0
        trials = self.refresh()  # read once: at 10,000 trials a read takes seconds
        self.is_new = not trials
        self.retries = [Retry(dict(t.params), t.number, int(t.user_attrs.get("attempt", 1)))
                        for t in pending_retries(trials, max_retries)]

    def all_trials(self) -> list[FrozenTrial]:
        return self.patient(self.storage.get_all_trials, self.study_id, deepcopy=False)

    def refresh(self) -> list[FrozenTrial]:
        """Copy finished trials of the database (earlier runs, other drivers) into the mirror;
        returns every trial read."""
        trials = self.all_trials()
        self.others_running = sum(1 for t in trials if t.state == TrialState.RUNNING
                                  and t._trial_id not in self.own_ids)
        for t in trials:
            if t.state in FINISHED and t._trial_id not in self.mirrored:
                self.mirror.add_trial(t)
                self.mirrored.add(t._trial_id)
                if self.on_mirror is not None:
                    self.on_mirror(t)
        self.last_refresh = time.monotonic()
        return trials

    def finished(self) -> int:
        """Finished (complete or pruned) trials, every driver's, as the mirror knows them."""
        return sum(1 for t in self.mirror.get_trials(deepcopy=False) if t.state in FINISHED)

    def create_trial(self, trial: optuna.Trial, attrs: dict[str, Any]) -> tuple[int, int]:
        """Write ``trial`` (sampled on the mirror) as RUNNING: its database id and number."""
        frozen = optuna.trial.create_trial(
            state=TrialState.RUNNING, params=trial.params,
            distributions=dict(trial.distributions),
            user_attrs={**trial.user_attrs, **attrs},
            # Internals live in system attributes: the dashboard's trial table stays for people.
            system_attrs={DRIVER_ATTR: self.identity})
        trial_id = self.patient(self.storage.create_new_trial, self.study_id,
                                template_trial=frozen)
        number = self.patient(self.storage.get_trial_number_from_id, trial_id)
        self.mirrored.add(trial_id)
        self.own_ids.add(trial_id)
        return trial_id, number

    def report(self, trial_id: int, epoch: int, value: float) -> None:
        """Write an epoch's score.

        Raises:
            optuna.exceptions.UpdateFinishedTrialError: Another driver ended the trial (its
                heartbeat went stale during a database outage).
        """
        self.patient(self.storage.set_trial_intermediate_value, trial_id, epoch, value)

    def heartbeat(self, trial_ids: Iterable[int]) -> None:
        for trial_id in trial_ids:
            self.patient(self.storage.record_heartbeat, trial_id)

    def slot(self, target: int, ended_unwritten: int) -> contextlib.AbstractContextManager[bool]:
        """Whether one more trial may start, held until it exists (see :func:`trial_slot`)."""
        return trial_slot(self.storage, self.study_id, target, ended_unwritten, self.patient)

    def set_attr(self, key: str, value: Any) -> None:
        self.patient(self.storage.set_study_user_attr, self.study_id, key, value)
