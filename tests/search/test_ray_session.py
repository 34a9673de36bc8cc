"""A search joins a local Ray that is already up (``ray start --head``) instead of starting
its own, leaves it running, and starts its own when that Ray is gone or when told to."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from tests.conftest import free_port
from tests.support import study_trials, write_space

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent
SPACE = """
model: {family: mlp, depth: 1, width: 8}
activations: {candidates: [relu, tanh]}
hyperparameters: {lr: 0.01, epochs: 2}
sampler: {name: random}
pruner: {name: none}
"""


def _kill_group(leader: int) -> None:
    """Stop the processes of this group and their descendants, and nothing else (``ray stop``
    would stop every Ray on the host)."""
    found: dict[int, psutil.Process] = {}
    for proc in psutil.process_iter():
        try:
            if os.getpgid(proc.pid) == leader:
                found[proc.pid] = proc
                found.update({c.pid: c for c in proc.children(recursive=True)})
        except (OSError, psutil.Error):
            continue
    for proc in found.values():
        try:
            proc.kill()
        except psutil.Error:
            continue
    psutil.wait_procs(list(found.values()), timeout=15)


@pytest.fixture
def ray_tmpdir() -> Iterator[dict[str, str]]:
    """Ray's temporary directory of this test's own (short: Unix socket paths are limited),
    so neither this test's Ray nor its address file meet another Ray on the host."""
    root = tempfile.mkdtemp(prefix="rt-")
    yield {**os.environ, "RAY_TMPDIR": root, "RAY_USAGE_STATS_ENABLED": "0"}
    shutil.rmtree(root, ignore_errors=True)


def _search(env: dict[str, str], url: str, study: str, tmp_path: Path,
            *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "actsearch"), "search", "--dataset", "iris", "--space",
         write_space(tmp_path, SPACE), "--trials", "2", "--workers", "1", "--storage", url,
         "--study", study, "--no-compare-relu", "--no-artifacts", *extra],
        env=env, capture_output=True, text=True, timeout=300, check=False)


def _node_ids(url: str, study: str) -> set[str]:
    return {t.user_attrs["node"]["node_id"] for t in study_trials(url, study)}


def test_a_search_joins_a_running_local_ray_and_leaves_it_up(
        ray_tmpdir: dict[str, str], tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'join.db'}"
    port = free_port()
    head = subprocess.Popen(
        [str(BIN / "ray"), "start", "--head", f"--port={port}", "--num-cpus=1",
         "--node-ip-address=127.0.0.1", "--include-dashboard=false"],
        env=ray_tmpdir, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True)
    try:
        out, err = head.communicate(timeout=180)
        assert head.returncode == 0, out + err
        head_node = subprocess.run(
            [sys.executable, "-c", "import ray; ray.init(address='auto'); "
             "print(ray.get_runtime_context().get_node_id())"],
            env=ray_tmpdir, capture_output=True, text=True, timeout=120, check=True,
        ).stdout.strip().splitlines()[-1]

        joined = _search(ray_tmpdir, url, "joined", tmp_path)
        assert joined.returncode == 0, joined.stderr
        assert _node_ids(url, "joined") == {head_node}
        # The search left the Ray it joined running.
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass

        # --address local: a Ray of the search's own, though one is up.
        own = _search(ray_tmpdir, url, "own", tmp_path, "--address", "local")
        assert own.returncode == 0, own.stderr
        assert _node_ids(url, "own").isdisjoint({head_node})
    finally:
        _kill_group(head.pid)

    # The head is gone but its address file stays: the search starts a Ray of its own.
    assert (Path(ray_tmpdir["RAY_TMPDIR"]) / "ray" / "ray_current_cluster").exists()
    after = _search(ray_tmpdir, url, "after", tmp_path)
    assert after.returncode == 0, after.stderr
    assert _node_ids(url, "after").isdisjoint({head_node})
