"""Two Ray nodes on one machine (`ray start` on loopback), a search submitted as a Ray job,
PostgreSQL storage: trials record the node they ran on, and both nodes ran trials."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from actsearch.store.database import open_storage
from tests.conftest import free_port
from tests.support import write_space

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


@pytest.fixture
def cluster() -> Iterator[str]:
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
        yield f"http://127.0.0.1:{dashboard}"
    finally:
        _stop(groups)
        shutil.rmtree(temp_dir, ignore_errors=True)


def test_search_submitted_as_a_job_runs_trials_on_both_nodes(
        cluster: str, postgres_url: str, tmp_path: Path) -> None:
    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(BIN / "actsearch"), *args], env=_env(), text=True,
                              capture_output=True, timeout=600, check=False)

    submitted = cli("submit", "--job-address", cluster, "--storage", postgres_url, "--",
                    "--dataset", "digits", "--space", write_space(tmp_path, SPACE), "--trials", "6",
                    "--workers", "2", "--study", "multi", "--no-compare-relu", "--no-artifacts")
    assert submitted.returncode == 0, submitted.stderr
    job_id = submitted.stdout.strip().splitlines()[-1]
    followed = cli("status", job_id, "--job-address", cluster, "--follow")
    assert followed.returncode == 0, followed.stdout[-3000:] + followed.stderr
    assert f"job {job_id}: SUCCEEDED" in followed.stdout
    storage = open_storage(postgres_url, create=False)
    trials = storage.get_all_trials(storage.get_study_id_from_name("multi"))
    assert len(trials) == 6
    nodes = {t.user_attrs["node"]["node_id"] for t in trials}
    assert len(nodes) == 2, f"trials ran on {len(nodes)} node(s)"
    unknown = cli("status", "raysubmit_nope", "--job-address", cluster)
    assert unknown.returncode == 2 and "no job" in unknown.stderr
