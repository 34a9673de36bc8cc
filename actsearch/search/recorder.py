"""Writes ended trials to the study database on a background thread, in order.

The search loop hands each ended trial over and goes on launching work at once. For each
trial the recorder writes its user attributes, registers its figure (drawn when first
opened, see :mod:`~actsearch.search.figures`; Optuna accepts artifacts only while a trial is
RUNNING, so this comes before the state), then the final state; when the trial improved on
the best, it calls the search's ``publish`` hook (the service refreshes the dataset's served
recommendation there). If the driver dies first, the trial stays RUNNING in the database and
the next run recovers it as an orphan. Every write waits out a database outage
(:class:`~actsearch.store.patience.Patient`).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from optuna.exceptions import UpdateFinishedTrialError
from optuna.storages import RDBStorage
from optuna.trial import TrialState

from actsearch.search.figures import register_trial_figure
from actsearch.store.patience import Patient

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EndedTrial:
    trial_id: int
    state: TrialState
    values: list[float] | None
    attrs: dict[str, Any]
    activations: list[str]
    improved: bool


class TrialRecorder:
    """One writer thread per driver: the driver stays the only writer of its trials."""

    def __init__(self, storage: RDBStorage, study_id: int, dataset: str, figures: bool,
                 patient: Patient,
                 publish: Callable[[RDBStorage, str], None] | None = None) -> None:
        self.storage, self.study_id, self.dataset = storage, study_id, dataset
        self.figures = figures
        self.publish = publish
        self.patient = patient
        self.queue: queue.Queue[EndedTrial | None] = queue.Queue()
        self.error: BaseException | None = None
        # Failed trials handed over but still RUNNING in the database: they do not hold a
        # slot of the study's trial budget (see search.session.trial_slot).
        self._unwritten_failures = 0
        self._lock = threading.Lock()
        self.thread = threading.Thread(target=self._work, name="trial-recorder", daemon=True)
        self.thread.start()

    def put(self, ended: EndedTrial) -> None:
        if self.error is not None:  # surface a database failure in the driver's thread
            raise self.error
        with self._lock:
            self._unwritten_failures += ended.state == TrialState.FAIL
        self.queue.put(ended)

    @property
    def unwritten_failures(self) -> int:
        with self._lock:
            return self._unwritten_failures

    def close(self) -> None:
        """Write everything handed over, then stop."""
        self.queue.put(None)
        self.thread.join()
        if self.error is not None:
            raise self.error

    def _work(self) -> None:
        while (ended := self.queue.get()) is not None:
            if self.error is not None:
                continue
            try:
                self._write(ended)
            except UpdateFinishedTrialError:
                # Another driver failed it while this one could not reach the database (a
                # stale heartbeat), and re-queued its configuration: nothing more to write.
                log.warning("trial id %d was ended elsewhere during a database outage",
                            ended.trial_id)
            except BaseException as exc:  # kept for the driver; later trials are skipped
                self.error = exc
            finally:
                if ended.state == TrialState.FAIL:
                    with self._lock:
                        self._unwritten_failures -= 1

    def _write(self, ended: EndedTrial) -> None:
        write = self.patient
        for key, value in ended.attrs.items():
            write(self.storage.set_trial_user_attr, ended.trial_id, key, value)
        if self.figures and ended.state != TrialState.FAIL:
            write(register_trial_figure, self.storage, self.study_id, ended.trial_id)
        write(self.storage.set_trial_state_values, ended.trial_id, ended.state, ended.values)
        if ended.improved and self.publish:  # a better trial: what is served follows at once
            write(self.publish, self.storage, self.dataset)
