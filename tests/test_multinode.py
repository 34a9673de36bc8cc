"""Two Ray nodes on one machine (`ray start` on loopback), a search submitted as a Ray job,
PostgreSQL storage: trials record the node they ran on, and both nodes ran trials."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from actsearch.storage import open_storage
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


@pytest.fixture
def cluster() -> Iterator[str]:
    head, dashboard = free_port(), free_port()
    ray = str(BIN / "ray")
    common = ["--num-cpus", "1", "--node-ip-address", "127.0.0.1", "--disable-usage-stats"]
    try:
        subprocess.run([ray, "start", "--head", "--port", str(head), "--include-dashboard",
                        "true", "--dashboard-host", "127.0.0.1", "--dashboard-port",
                        str(dashboard), *common], env=_env(), check=True, capture_output=True,
                       timeout=180)
        subprocess.run([ray, "start", "--address", f"127.0.0.1:{head}", *common], env=_env(),
                       check=True, capture_output=True, timeout=180)
        yield f"http://127.0.0.1:{dashboard}"
    finally:
        subprocess.run([ray, "stop", "--force"], env=_env(), capture_output=True, timeout=120,
                       check=False)


def test_search_submitted_as_a_job_runs_trials_on_both_nodes(
        cluster: str, postgres_url: str, tmp_path: Path) -> None:
    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(BIN / "actsearch"), *args], env=_env(), text=True,
                              capture_output=True, timeout=600, check=False)

    submitted = cli("submit", "--address", cluster, "--storage", postgres_url, "--",
                    "--dataset", "digits", "--space", write_space(tmp_path, SPACE), "--trials", "6",
                    "--workers", "2", "--study", "multi", "--no-compare-relu", "--no-artifacts")
    assert submitted.returncode == 0, submitted.stderr
    job_id = submitted.stdout.strip().splitlines()[-1]
    followed = cli("status", job_id, "--address", cluster, "--follow")
    assert followed.returncode == 0, followed.stdout[-3000:] + followed.stderr
    assert f"job {job_id}: SUCCEEDED" in followed.stdout
    storage = open_storage(postgres_url, create=False)
    trials = storage.get_all_trials(storage.get_study_id_from_name("multi"))
    assert len(trials) == 6
    nodes = {t.user_attrs["node"]["node_id"] for t in trials}
    assert len(nodes) == 2, f"trials ran on {len(nodes)} node(s)"
    unknown = cli("status", "raysubmit_nope", "--address", cluster)
    assert unknown.returncode == 2 and "no job" in unknown.stderr
