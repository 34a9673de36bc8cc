"""Two Ray nodes on one machine (`ray start` on loopback), PostgreSQL storage: a search
submitted as a Ray job records the node each trial ran on, and both nodes ran trials; a
search that loses a node mid-way (and with it the room for a replacement worker) finishes on
the node that is left."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
from optuna.trial import TrialState

from actsearch.store.database import open_storage
from tests.conftest import free_port
from tests.support import assert_lost_trials_ran_again, trials_so_far, wait_for, write_space

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent
SPACE = """
model: {family: mlp, depth: 2, width: 32}
activations: {candidates: [relu, tanh, elu]}
hyperparameters: {lr: {low: 1.0e-3, high: 1.0e-2, log: true}, epochs: 4}
sampler: {name: random}
pruner: {name: none}
"""



def _env() -> dict[str, str]:
    # The job's entrypoint (`actsearch ...`) must be on the PATH the cluster sees.
    return {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"}


def _ray_start(args: list[str], groups: list[int]) -> None:
    """``ray start ARGS`` as the leader of a process group of its own. The Ray processes it
    leaves running stay in that group, so the fixture stops them and nothing else."""
    process = subprocess.Popen([str(BIN / "ray"), "start", *args], env=_env(), text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               start_new_session=True)
    groups.append(process.pid)
    out, err = process.communicate(timeout=180)
    assert process.returncode == 0, f"ray start {' '.join(args)} failed:\n{out}\n{err}"


def _alive(process: psutil.Process) -> bool:
    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _stop(groups: list[int]) -> None:
    """Stop the processes of these groups and their descendants (Ray moves its workers into
    groups of their own; a job's entrypoint gets a session of its own). Unlike ``ray stop``,
    which stops every Ray on the host, another user's or another test's Ray is left alone."""
    found: dict[int, psutil.Process] = {}
    for process in psutil.process_iter():
        with contextlib.suppress(OSError, psutil.Error):
            if os.getpgid(process.pid) in groups:
                found[process.pid] = process
    for process in list(found.values()):
        with contextlib.suppress(psutil.Error):
            found.update({c.pid: c for c in process.children(recursive=True)})
    for signal_ in (psutil.Process.terminate, psutil.Process.kill):
        for process in found.values():
            with contextlib.suppress(psutil.Error):
                signal_(process)
        deadline = time.monotonic() + 15
        while any(_alive(p) for p in found.values()) and time.monotonic() < deadline:
            time.sleep(0.2)


@dataclass
class Cluster:
    """A Ray head and a second node on loopback, one CPU each."""

    gcs: str  # host:port, for `actsearch search --address`
    jobs: str  # the head's dashboard: Ray's job API
    groups: list[int]  # the process group of each `ray start`, the head's first


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    head, dashboard = free_port(), free_port()
    # A short root of its own (Unix socket paths are limited to about 100 characters): the
    # nodes neither find nor overwrite the session files of another Ray on this host.
    temp_dir = tempfile.mkdtemp(prefix="ray-")
    common = ["--num-cpus", "1", "--node-ip-address", "127.0.0.1", "--disable-usage-stats",
              "--temp-dir", temp_dir]
    groups: list[int] = []
    try:
        _ray_start(["--head", "--port", str(head), "--include-dashboard", "true",
                    "--dashboard-host", "127.0.0.1", "--dashboard-port", str(dashboard),
                    "--ray-client-server-port", str(free_port()),
                    "--dashboard-agent-listen-port", str(free_port()), *common], groups)
        _ray_start(["--address", f"127.0.0.1:{head}",
                    "--dashboard-agent-listen-port", str(free_port()), *common], groups)
        yield Cluster(f"127.0.0.1:{head}", f"http://127.0.0.1:{dashboard}", groups)
    finally:
        _stop(groups)
        shutil.rmtree(temp_dir, ignore_errors=True)


def _cli(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "actsearch"), *args], env=_env(), text=True,
                          capture_output=True, timeout=timeout, check=False)


def test_search_submitted_as_a_job_runs_trials_on_both_nodes(
        cluster: Cluster, postgres_url: str, tmp_path: Path) -> None:
    cli = _cli
    submitted = cli("submit", "--job-address", cluster.jobs, "--storage", postgres_url, "--",
                    "--dataset", "digits", "--space", write_space(tmp_path, SPACE), "--trials", "6",
                    "--workers", "2", "--study", "multi", "--no-compare-relu", "--no-artifacts")
    assert submitted.returncode == 0, submitted.stderr
    job_id = submitted.stdout.strip().splitlines()[-1]
    followed = cli("status", job_id, "--job-address", cluster.jobs, "--follow")
    assert followed.returncode == 0, followed.stdout[-3000:] + followed.stderr
    assert f"job {job_id}: SUCCEEDED" in followed.stdout
    storage = open_storage(postgres_url, create=False)
    trials = storage.get_all_trials(storage.get_study_id_from_name("multi"))
    assert len(trials) == 6
    nodes = {t.user_attrs["node"]["node_id"] for t in trials}
    assert len(nodes) == 2, f"trials ran on {len(nodes)} node(s)"
    unknown = cli("status", "raysubmit_nope", "--job-address", cluster.jobs)
    assert unknown.returncode == 2 and "no job" in unknown.stderr


def test_a_search_that_loses_a_node_finishes_on_the_rest(
        cluster: Cluster, postgres_url: str, tmp_path: Path) -> None:
    """The second node dies while it trains a trial. Its worker's replacement finds no room
    (the head's one CPU holds the other worker): it waits unplaced, and the search finishes
    its trials on the head's worker instead of waiting for a node that never comes."""
    trials = 30
    search = subprocess.Popen(
        [str(BIN / "actsearch"), "search", "--address", cluster.gcs, "--storage", postgres_url,
         "--dataset", "digits", "--space", write_space(tmp_path, SPACE), "--trials",
         str(trials), "--workers", "2", "--epochs", "12", "--study", "lost", "--no-artifacts",
         "--no-compare-relu"], env=_env(), text=True, stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "search.err").open("w"))  # a file: a full pipe would block it
    try:
        def training_on_the_second_node() -> str | None:
            nodes = {n["node_id"]: n for n in _list_nodes(cluster.jobs)}
            return next((t.user_attrs["node"]["node_id"]
                         for t in trials_so_far(postgres_url, "lost")
                         if t.state == TrialState.RUNNING
                         and not nodes.get(t.user_attrs["node"]["node_id"], {}).get(
                             "is_head_node", True)), None)

        victim = wait_for(training_on_the_second_node, timeout=300, process=search,
                          what="a trial training on the second node")
        os.killpg(cluster.groups[1], signal.SIGKILL)  # its raylet: the node is lost
        search.wait(timeout=400)
    finally:
        if search.poll() is None:
            search.kill()
    assert search.returncode == 0, (tmp_path / "search.err").read_text()[-3000:]
    ended = trials_so_far(postgres_url, "lost")
    assert sum(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in ended) == trials
    assert all(t.user_attrs["node"]["node_id"] == victim
               for t in ended if t.state == TrialState.FAIL)
    assert_lost_trials_ran_again(ended, victim)


def _list_nodes(jobs: str) -> list[dict[str, Any]]:
    try:
        answer = httpx.get(f"{jobs}/api/v0/nodes?limit=100", timeout=10).json()
    except (httpx.TransportError, ValueError):
        return []
    return answer["data"]["result"]["result"]  # type: ignore[no-any-return]

