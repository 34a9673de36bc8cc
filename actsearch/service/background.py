"""Searches started for a server (the API), run as separate driver processes, at most N at once.

Each run is a row of ``actsearch_search_runs`` (running, succeeded or failed, with the
failure's last line), so a search that fails at once still has a status to read. Finished
processes are reaped as soon as they are noticed, so none lingers as a zombie; runs a
restarted server no longer watches read as failed when their process is gone (reading them
writes nothing).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import psutil
from sqlalchemy import select
from sqlalchemy.engine import Engine

from actsearch.errors import ActsearchError, UsageError
from actsearch.search.options import SearchOptions
from actsearch.search.spaces import available_spaces
from actsearch.store.tables import SearchRun, ensure_tables, session_scope, tables_exist
from actsearch.train.data import dataset_names


class TooManySearchesError(ActsearchError):
    """As many searches are running as the server allows."""


def search_command(options: SearchOptions) -> tuple[str, list[str]]:
    """The study name and the ``actsearch search`` arguments that run ``options``.

    Raises:
        UsageError: The dataset or the space is not a built-in one (a server starts only
            those: a path would read the server's files).
    """
    if options.dataset not in dataset_names():
        raise UsageError(f"unknown dataset {options.dataset!r}; GET /api/v1/datasets lists them")
    spaces = available_spaces()
    if not isinstance(options.space, str) or options.space not in spaces:
        raise UsageError(f"unknown search space {str(options.space)!r}; use one of "
                         f"{', '.join(spaces)}")
    study = options.study or f"{options.dataset}-{options.space}"
    args = ["--dataset", options.dataset, "--space", options.space,
            "--trials", str(options.trials), "--workers", str(options.workers),
            "--study", study, "--seed", str(options.seed),
            "--cpus-per-trial", str(options.cpus_per_trial),
            "--gpus-per-trial", str(options.gpus_per_trial),
            "--trials-per-worker", str(options.trials_per_worker)]
    if options.epochs:
        args += ["--epochs", str(options.epochs)]
    if options.confirm:
        args.append("--confirm")
    if options.objectives:
        args += ["--objectives", ",".join(options.objectives)]
    return study, args


@dataclass(frozen=True)
class RunStatus:
    """What a client polls: where the run is, and why it failed if it did."""

    run_id: int
    study: str
    state: str  # running, succeeded or failed
    reason: str | None
    started_at: datetime
    ended_at: datetime | None


@dataclass
class _Process:
    run_id: int
    popen: subprocess.Popen[bytes]
    log: Path


class BackgroundSearches:
    """Starts ``actsearch search`` processes and keeps their status in the database."""

    def __init__(self, engine: Engine, limit: int, env: dict[str, str]) -> None:
        self.engine, self.limit, self.env = engine, limit, env
        self.processes: dict[int, _Process] = {}
        self.lock = threading.Lock()
        self.logs = Path(tempfile.mkdtemp(prefix="actsearch-runs-"))

    def start(self, options: SearchOptions) -> RunStatus:
        """Start ``actsearch search`` with ``options`` (a built-in dataset and space, and a
        study name) in a driver process of its own.

        Raises:
            UsageError: The dataset or the space is not a built-in one.
            TooManySearchesError: ``limit`` searches are running already.
        """
        study, search_args = search_command(options)
        ensure_tables(self.engine)
        with self.lock:
            self.reap()
            if len(self.processes) >= self.limit:
                raise TooManySearchesError(
                    f"{len(self.processes)} searches are running, the most this server runs "
                    "at once (ACTSEARCH_API_MAX_SEARCHES): retry when one has finished")
            with session_scope(self.engine) as session:
                run = SearchRun(study=study, state="running", started_at=datetime.now(UTC))
                session.add(run)
                session.flush()
                run_id = run.id
            log = self.logs / f"{run_id}.log"
            with log.open("wb") as stderr:
                popen = subprocess.Popen(
                    [sys.executable, "-m", "actsearch", "search", *search_args],
                    env=self.env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                    stderr=stderr, start_new_session=True)
            self.processes[run_id] = _Process(run_id, popen, log)
            with session_scope(self.engine) as session:
                row = session.get(SearchRun, run_id)
                assert row is not None
                row.pid, row.host = popen.pid, os.uname().nodename
            return self.status(run_id)

    def reap(self) -> None:
        """Record and collect every process that has exited (no zombies stay behind)."""
        for run_id, process in list(self.processes.items()):
            code = process.popen.poll()
            if code is None:
                continue
            del self.processes[run_id]
            reason = None if code == 0 else _last_line(process.log) or f"exit code {code}"
            self._finish(run_id, "succeeded" if code == 0 else "failed", reason)
            process.log.unlink(missing_ok=True)

    def _finish(self, run_id: int, state: str, reason: str | None) -> None:
        with session_scope(self.engine) as session:
            row = session.get(SearchRun, run_id)
            if row is not None:
                row.state, row.reason, row.ended_at = state, reason, datetime.now(UTC)

    def status(self, run_id: int) -> RunStatus:
        with session_scope(self.engine) as session:
            row = session.get(SearchRun, run_id)
            assert row is not None
            return _status(row)

    def runs_of(self, study: str) -> list[RunStatus]:
        """The study's runs, newest first; a run whose process vanished reads as failed."""
        if not tables_exist(self.engine, SearchRun.__tablename__):  # this database never ran one
            return []
        with self.lock:
            self.reap()
        with session_scope(self.engine) as session:
            rows = list(session.scalars(select(SearchRun).where(SearchRun.study == study)
                                        .order_by(SearchRun.id.desc())))
        return [_vanished(r) if r.state == "running" and r.id not in self.processes
                and _gone(r) else _status(r) for r in rows]

    def close(self) -> None:
        """Stop watching; running searches go on (they resume if re-run)."""
        with self.lock:
            self.reap()


def _status(row: SearchRun) -> RunStatus:
    return RunStatus(run_id=row.id, study=row.study, state=row.state, reason=row.reason,
                     started_at=row.started_at, ended_at=row.ended_at)


def _vanished(row: SearchRun) -> RunStatus:
    return RunStatus(run_id=row.id, study=row.study, state="failed",
                     reason="its driver process is gone (the server restarted?)",
                     started_at=row.started_at, ended_at=None)


def _gone(row: SearchRun) -> bool:
    if row.host != os.uname().nodename or row.pid is None:
        return False  # another server's run: it watches it
    try:
        return bool(psutil.Process(row.pid).status() == psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return True


def _last_line(path: Path) -> str | None:
    try:
        lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return None
    return lines[-1][:500] if lines else None
