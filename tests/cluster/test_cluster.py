"""The cluster for real: docker-compose.yml up, a search across worker containers, a fault.

Run with ``make cluster-test`` (it starts a Docker engine where one can run, and builds the
images with ``build_images.sh``; the stack and its loopback-only networking are described in
``stack.py``). The scenario, end to end:

1. the images build (the project's Dockerfile on a Debian base; stand-ins for the registry's);
2. ``docker-compose up``: PostgreSQL, a Ray head, three Ray worker containers, the API, the
   dashboard and Prometheus; four Ray nodes join;
3. ``actsearch submit`` sends a search to the head's job API; its trials run on the workers;
4. once trials are recorded on at least two worker containers, one worker container that is
   training a trial is killed (``docker kill``); the search still finishes exactly the trials
   asked for, the killed worker's trial failed and ran again elsewhere;
5. the API container answers the recommendation, the dashboard container shows the study,
   and Prometheus has every target up;
6. ``docker-compose down -v`` leaves no container, volume or network behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from optuna.trial import TrialState

from tests.cluster.stack import ROOT, SERVICES, Stack, get_json
from tests.support import FINISHED, assert_lost_trials_ran_again, trials_so_far, wait_for

# Image builds (minutes, the first time on a machine) count in the first test's time.
pytestmark = [pytest.mark.cluster, pytest.mark.timeout(2400)]
BIN = Path(sys.executable).parent
WORKERS = 3
TRIALS = 90
STUDY = "cluster"


def _engine_problem() -> str | None:
    for tool in ("docker", "docker-compose"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    info = subprocess.run(["docker", "info"], capture_output=True, text=True, check=False)
    if info.returncode != 0:
        return "no Docker engine answers (docker info: " + (
            info.stderr.strip().splitlines() or ["?"])[-1] + ")"
    return None


def say(line: str) -> None:
    """One line of the run's summary (``make cluster-test`` shows them)."""
    print(f"[cluster] {line}", flush=True)


@contextlib.contextmanager
def logs_on_failure(stack: Stack) -> Iterator[None]:
    """Print each service's last log lines when the block fails (before the stack is down)."""
    try:
        yield
    except BaseException:
        for service in SERVICES:
            say(f"--- logs of {service} ---\n{stack.logs(service)}")
        raise


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    problem = _engine_problem()
    if problem:
        pytest.skip(f"cluster test skipped: {problem}")
    build = subprocess.run([str(ROOT / "tests" / "cluster" / "build_images.sh")],
                           env={**os.environ, "PYTHON": sys.executable}, capture_output=True,
                           text=True, timeout=1800, check=False)
    for line in build.stdout.splitlines():
        say(line)
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    stack = Stack(tmp_path_factory.mktemp("cluster"), f"actsearch-cluster-{os.getpid()}")
    stack.write()
    started = time.monotonic()
    try:
        with logs_on_failure(stack):
            stack.up(WORKERS)
        yield stack
    finally:
        down = stack.down()
        say(f"docker-compose down -v: exit {down.returncode} "
            f"({time.monotonic() - started:.0f} s after up)")


def _nodes(stack: Stack) -> list[dict[str, Any]]:
    answer = get_json(stack.url("jobs", "/api/v0/nodes?limit=100"))
    return answer["data"]["result"]["result"] if answer else []


def _node_of(container: str) -> tuple[str, int]:
    """The Ray node id of a container, and the port it exports metrics on (its raylet
    records the port in a file of its session, named after the node)."""
    listing = subprocess.run(
        ["docker", "exec", container, "sh", "-c",
         "cd /tmp/ray/session_latest && grep -H . metrics_export_port_*"],
        capture_output=True, text=True, check=True).stdout
    ((node, port),) = set(re.findall(r"^metrics_export_port_([0-9a-f]+):(\d+)$", listing, re.M))
    return str(node), int(port)


def _trials(stack: Stack) -> list[Any]:
    return trials_so_far(stack.storage_url, STUDY)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    return subprocess.run([str(BIN / "actsearch"), *args], capture_output=True, text=True,
                          timeout=900, check=False, env=env)


def test_search_across_worker_containers_survives_a_killed_worker(stack: Stack) -> None:
    with logs_on_failure(stack):
        _scenario(stack)


def _scenario(stack: Stack) -> None:
    # --- The cluster is up: the head (no CPUs: it runs drivers) and three workers ---------
    def all_alive() -> list[dict[str, Any]] | None:
        nodes = [n for n in _nodes(stack) if n["state"] == "ALIVE"]
        return nodes if len(nodes) == 1 + WORKERS else None

    nodes = wait_for(all_alive, timeout=180, what="four Ray nodes alive")
    head = [n for n in nodes if n["is_head_node"]]
    assert len(head) == 1 and head[0]["resources_total"].get("CPU", 0) == 0
    containers = stack.containers("ray-worker")
    assert len(containers) == WORKERS
    found = {c: _node_of(c) for c in [*stack.containers("ray-head"), *containers]}
    metrics_ports = {port for _, port in found.values()}
    node_of = {c: found[c][0] for c in containers}
    name_of = {node: f"ray-worker #{i + 1} ({c[:12]})"
               for i, (c, node) in enumerate(node_of.items())}
    assert set(node_of.values()) == {n["node_id"] for n in nodes if not n["is_head_node"]}
    say(f"Ray nodes: 1 head + {WORKERS} workers alive: "
        + ", ".join(f"{name} = node {node[:8]}" for node, name in name_of.items()))
    health = wait_for(lambda: get_json(stack.url("api", "/healthz")),
                      timeout=120, what="the API's health")
    assert health["status"] == "ok", health
    empty = wait_for(lambda: get_json(stack.url("dashboard", "/api/studies")),
                     timeout=120, what="the dashboard")
    assert empty["study_summaries"] == []  # up before any search, on a database with none

    # --- A search submitted to the head's job API --------------------------------------
    submitted = _cli("submit", "--job-address", stack.url("jobs"), "--", "--dataset", "digits",
                     "--trials", str(TRIALS), "--workers", str(WORKERS), "--epochs", "30",
                     "--study", STUDY, "--seed", "0")
    assert submitted.returncode == 0, submitted.stderr
    job = submitted.stdout.strip().splitlines()[-1]
    say(f"submitted {job}: {TRIALS} trials on {WORKERS} workers")

    def spread() -> list[Any] | None:  # trials recorded on two workers, one still training
        trials = _trials(stack)
        done = {t.user_attrs["node"]["node_id"] for t in trials if t.state in FINISHED}
        running = [t for t in trials if t.state == TrialState.RUNNING]
        return trials if len(done) >= 2 and running else None

    before = wait_for(spread, timeout=300,
                      interval=0.3, what="trials finished on two worker containers")

    # --- Prometheus scrapes the API, the search's driver and every Ray node -------------
    def targets_up() -> dict[str, int] | None:
        answer = get_json(stack.url("prometheus", "/api/v1/targets"))
        if not answer:
            return None
        active = answer["data"]["activeTargets"]
        up = Counter(t["labels"]["job"] for t in active if t["health"] == "up")
        # Ray's service discovery lists every node's metrics port (and its dashboard's).
        ray_ports = {int(t["scrapeUrl"].split(":")[-1].split("/")[0]) for t in active
                     if t["labels"]["job"] == "ray"}
        if (up["actsearch-api"] == 1 and up["actsearch-search"] == 1
                and metrics_ports <= ray_ports and all(t["health"] == "up" for t in active)):
            return dict(up)
        return None

    up = wait_for(targets_up, timeout=60, what="every Prometheus target up")
    say(f"Prometheus targets up: {up} (Ray: all {len(metrics_ports)} nodes' metrics ports)")

    # --- One worker container killed while it trains a trial ----------------------------
    def training() -> list[Any] | None:  # the trials now, when one of them is running
        trials = _trials(stack)
        return trials if any(t.state == TrialState.RUNNING for t in trials) else None

    now = wait_for(training, timeout=60, interval=0.1, what="a worker training a trial")
    victim_node = next(t for t in now if t.state == TrialState.RUNNING).user_attrs["node"][
        "node_id"]
    (victim,) = [c for c, node in node_of.items() if node == victim_node]
    subprocess.run(["docker", "kill", victim], capture_output=True, check=True)
    finished_at_kill = sum(t.state in FINISHED for t in now)
    assert finished_at_kill < TRIALS // 2  # mid-search: most of it runs without that worker
    killed_at = time.monotonic()
    say(f"killed {name_of[victim_node]} with {finished_at_kill} of {TRIALS} trials finished "
        f"({len(before)} recorded when trials had run on two workers)")

    followed = _cli("status", job, "--job-address", stack.url("jobs"), "--follow")
    assert f"job {job}: SUCCEEDED" in followed.stdout, followed.stdout[-3000:] + followed.stderr
    say(f"search SUCCEEDED {time.monotonic() - killed_at:.0f} s after the kill")

    # --- Exactly the trials asked for; the killed worker's trial ran again elsewhere -----
    trials = _trials(stack)
    finished = [t for t in trials if t.state in FINISHED]
    assert len(finished) == TRIALS
    assert_lost_trials_ran_again(trials, victim_node)
    # The container is gone: nothing started after the kill ran there.
    lost = max(t.number for t in trials
               if t.state == TrialState.FAIL and t.user_attrs["node"]["node_id"] == victim_node)
    assert all(t.user_attrs["node"]["node_id"] != victim_node
               for t in trials if t.number > lost)
    by_node = Counter((t.user_attrs["node"]["node_id"], t.state.name) for t in trials)
    for node, name in name_of.items():
        counts = {state: n for (n_id, state), n in by_node.items() if n_id == node}
        say(f"trials on {name}: {counts}" + (" (killed)" if node == victim_node else ""))
    assert all(t.user_attrs["node"]["node_id"] in name_of for t in trials)  # none on the head
    assert sum(1 for node in name_of if any(n_id == node and s != "FAIL"
                                             for n_id, s in by_node)) >= 2
    wait_for(lambda: [
        n for n in _nodes(stack) if n["node_id"] == victim_node and n["state"] == "DEAD"],
        timeout=120, what="the killed node marked dead by Ray")

    # --- The API container's recommendation and the dashboard container's study ----------
    answer = get_json(stack.url("api", "/api/v1/recommendations/digits"))
    assert answer is not None and answer["study"] == STUDY
    best = max((t for t in trials if t.state == TrialState.COMPLETE), key=lambda t: t.value)
    assert answer["value"] == pytest.approx(best.value)
    assert answer["n_trials"] >= TRIALS
    say(f"API recommendation: {answer['activations']} at validation {answer['value']:.4f} "
        f"(study {answer['study']}, trial {answer['trial']})")
    summaries = get_json(stack.url("dashboard", "/api/studies"))["study_summaries"]
    (summary,) = [s for s in summaries if s["study_name"] == STUDY]
    detail = get_json(stack.url("dashboard", f"/api/studies/{summary['study_id']}"))
    assert len(detail["trials"]) == len(trials)
    assert detail["objective_names"] == ["accuracy"]
    say(f"dashboard: study {STUDY} with {len(detail['trials'])} trials")


def test_down_leaves_nothing(stack: Stack) -> None:
    """Runs after the scenario (same module): the stack taken down leaves nothing behind."""
    down = stack.down()
    assert down.returncode == 0, down.stderr
    leftovers = stack.leftovers()
    assert leftovers == {"containers": [], "volumes": [], "networks": []}, leftovers
    say(f"after docker-compose down -v: {json.dumps(leftovers)}")
