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

from actsearch.search import local_ray
from tests.conftest import free_port
from tests.support import study_trials, wait_for, write_space

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent
SPACE = """
model: {family: mlp, depth: 1, width: 8}
activations: {candidates: [relu, tanh]}
hyperparameters: {lr: 0.01, epochs: 2}
sampler: {name: random}
pruner: {name: none}
"""


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
        local_ray.stop_group(head.pid)

    # The head is gone but its address file stays: the search starts a Ray of its own.
    assert (Path(ray_tmpdir["RAY_TMPDIR"]) / "ray" / "ray_current_cluster").exists()
    after = _search(ray_tmpdir, url, "after", tmp_path)
    assert after.returncode == 0, after.stderr
    assert _node_ids(url, "after").isdisjoint({head_node})


def _ray_processes(root: str, address: str) -> list[psutil.Process]:
    """The processes of the Ray whose temporary directory is ``root`` (its servers name it on
    their command lines), and the keeper of the Ray at ``address``."""
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if root in cmdline or ("actsearch.search.ray_keeper" in cmdline
                               and address in cmdline):
            found.append(proc)
    return found


def test_a_started_local_ray_is_kept_for_the_next_search_then_stopped(
        ray_tmpdir: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The first search starts a local Ray and leaves it up; the next joins it (same node);
    once no search has used it for ACTSEARCH_RAY_KEEP_SECONDS, nothing of it is left."""
    env = {**ray_tmpdir, "ACTSEARCH_RAY_KEEP_SECONDS": "8"}
    root = env["RAY_TMPDIR"]
    monkeypatch.setenv("RAY_TMPDIR", root)
    url = f"sqlite:///{tmp_path / 'kept.db'}"
    first = _search(env, url, "first", tmp_path)
    assert first.returncode == 0, first.stderr
    assert "started a local Ray, kept up 8 s" in " ".join(first.stdout.split())
    address = (Path(root) / "ray" / "ray_current_cluster").read_text().strip()
    # The test's own lease, as a search holds one: the Ray stays up while the test looks.
    lease = local_ray.Lease(address)
    host, _, port = address.rpartition(":")
    with socket.create_connection((host, int(port)), timeout=5):
        pass  # still up after the search ended
    # Like a Ray that ray.init() starts, it refuses a client without its token.
    tokenless = subprocess.run(
        [sys.executable, "-c", "import ray; ray.init(address='auto')"],
        env={**env, "HOME": str(tmp_path)}, capture_output=True, text=True, timeout=180,
        check=False)
    # Refused for its token: by the server (InvalidAuthToken), or by Ray's client once it
    # learns the cluster needs one (its message links Ray's token-auth page).
    assert tokenless.returncode != 0
    assert "InvalidAuthToken" in tokenless.stderr or "token-auth" in tokenless.stderr
    keepers = [p for p in _ray_processes(root, address)
               if "actsearch.search.ray_keeper" in " ".join(p.cmdline())]
    assert len(keepers) == 1

    second = _search(env, url, "second", tmp_path)
    assert second.returncode == 0, second.stderr
    assert f"joined the local Ray at {address}" in " ".join(second.stdout.split())
    assert _node_ids(url, "second") == _node_ids(url, "first")
    lease.release()

    # Idle: the keeper stops the Ray (its servers and workers) and then itself.
    wait_for(lambda: not _ray_processes(root, address), timeout=90)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((host, int(port)), timeout=2).close()
    assert not (Path(root) / "ray" / "ray_current_cluster").exists()


def test_a_lease_counts_only_while_its_search_lives(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A search killed while holding a lease does not keep a Ray up for ever."""
    monkeypatch.setenv("RAY_TMPDIR", str(tmp_path))
    address = "127.0.0.1:1234"
    lease = local_ray.Lease(address)
    assert local_ray.held_leases(address) == [os.getpid()]
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    (lease.path.parent / str(gone.pid)).touch()  # the lease of a search that was killed
    assert local_ray.held_leases(address) == [os.getpid()]
    lease.release()
    assert local_ray.held_leases(address) == []
