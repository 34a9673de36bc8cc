"""The real server: ``actsearch serve`` under uvicorn, concurrent clients on loopback."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from actsearch.store.database import open_storage
from actsearch.store.studies import create_or_load_study
from actsearch.store.tables import SearchRun, session_scope
from tests.api.conftest import populate
from tests.conftest import free_port

pytestmark = pytest.mark.slow



TOKEN = "test-write-token"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'served.db'}"
    populate(url)
    port = free_port()
    env = {**os.environ, "ACTSEARCH_API_TOKEN": TOKEN, "ACTSEARCH_API_MAX_SEARCHES": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "actsearch", "serve", "--port", str(port),
                             "--storage", url], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        else:
            err = proc.stderr.read() if proc.stderr else b""
            raise AssertionError(f"server did not start: {err!r}")
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_concurrent_requests_get_consistent_answers(server: str) -> None:
    paths = ["/api/v1/recommendations/digits", "/api/v1/recommendations/wine",
             "/api/v1/studies", "/api/v1/activations", "/healthz"] * 40

    def fetch(path: str) -> tuple[str, int, bytes]:
        with httpx.Client(base_url=server, timeout=30) as c:
            r = c.get(path)
            return path, r.status_code, r.content

    with ThreadPoolExecutor(max_workers=50) as pool:
        results = list(pool.map(fetch, paths))
    assert all(status == 200 for _, status, _ in results)
    bodies: dict[str, set[bytes]] = {}
    for path, _, body in results:
        bodies.setdefault(path, set()).add(body)
    for path in ("/api/v1/recommendations/digits", "/api/v1/recommendations/wine"):
        assert len(bodies[path]) == 1, f"{path} answered differently under load"
    metrics = httpx.get(f"{server}/metrics").text
    assert 'route="/api/v1/recommendations/{dataset}",status="200"} 80.0' in metrics


def test_serve_with_a_bad_storage_url_fails_cleanly(tmp_path: Path) -> None:
    run = subprocess.run([sys.executable, "-m", "actsearch", "serve", "--storage",
                          "postgresql+psycopg://u:pw@127.0.0.1:1/x"],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 2
    assert run.stderr.strip().startswith("error: cannot open storage")
    assert "pw" not in run.stderr and "Traceback" not in run.stderr


def test_post_study_runs_a_search_in_the_background(server: str) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    started = httpx.post(f"{server}/api/v1/studies", headers=auth, timeout=30, json={
        "dataset": "iris", "trials": 2, "epochs": 2, "workers": 1, "study": "from-api"})
    assert started.status_code == 202, started.text
    body = started.json()
    assert body["study"] == "from-api" and body["status_url"].endswith("/api/v1/studies/from-api")
    deadline = time.monotonic() + 180
    status = None
    while time.monotonic() < deadline:  # the request returned at once; the search runs on
        r = httpx.get(body["status_url"], timeout=10)
        if r.status_code == 200:
            status = r.json()
            if status["complete"] + status["pruned"] >= 2 and status["running"] == 0:
                break
        time.sleep(1)
    assert status is not None and status["complete"] + status["pruned"] == 2, (
        status, httpx.get(body["run_url"], timeout=10).json())  # the run's state and reason
    rec = httpx.get(f"{server}/api/v1/recommendations/iris", timeout=10)
    assert rec.status_code == 200 and rec.json()["study"] == "from-api"
    runs = _until_ended(body["run_url"])
    assert [(r["run_id"], r["state"], r["reason"]) for r in runs] == [
        (body["run_id"], "succeeded", None)]


def _until_ended(run_url: str) -> list[dict]:  # type: ignore[type-arg]
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        runs = httpx.get(run_url, timeout=10).json()
        if runs and runs[0]["state"] != "running":
            return runs  # type: ignore[no-any-return]
        time.sleep(0.5)
    raise AssertionError(f"{run_url} still running")


def test_background_searches_are_bounded_and_a_failure_says_why(
        server: str, tmp_path: Path) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    url = f"sqlite:///{tmp_path / 'served.db'}"
    long = httpx.post(f"{server}/api/v1/studies", headers=auth, timeout=30, json={
        "dataset": "digits", "study": "long", "trials": 500, "epochs": 100})
    assert long.status_code == 202, long.text
    busy = httpx.post(f"{server}/api/v1/studies", headers=auth, timeout=30, json={
        "dataset": "iris", "study": "other", "trials": 1})
    assert busy.status_code == 429  # ACTSEARCH_API_MAX_SEARCHES=1 for this server
    assert "searches are running" in busy.json()["detail"]
    assert busy.headers["Retry-After"] == "30"
    storage = open_storage(url, create=False)
    with session_scope(storage.engine) as session:
        pid = session.get(SearchRun, long.json()["run_id"]).pid  # type: ignore[union-attr]
    os.killpg(pid, signal.SIGKILL)  # the driver and what it started
    (killed,) = _until_ended(long.json()["run_url"])
    assert killed["state"] == "failed" and killed["reason"].startswith("exit code")

    # A search its driver refuses at once: its run says why.
    create_or_load_study(storage, "clash", {"dataset": "wine", "fingerprint": "f" * 16})
    failing = httpx.post(f"{server}/api/v1/studies", headers=auth, timeout=30, json={
        "dataset": "iris", "study": "clash", "trials": 1})
    assert failing.status_code == 202, failing.text
    (run,) = _until_ended(failing.json()["run_url"])
    assert run["state"] == "failed" and run["ended_at"] is not None
    assert "was made for another dataset" in run["reason"]


def test_mixed_load_gets_no_server_error_and_the_limits_hold(server: str,
                                                             tmp_path: Path) -> None:
    """40 clients at once on loopback: reads of every kind, oversized uploads, and a burst of
    search requests against a limit of one running search."""
    auth = {"Authorization": f"Bearer {TOKEN}"}
    oversized = b"a,b\n" + b"1,2\n" * (3 << 18)  # 3 MiB, over the 2 MiB default
    search = {"dataset": "digits", "study": "burst", "trials": 500, "epochs": 100}

    def call(i: int) -> tuple[str, int]:
        with httpx.Client(base_url=server, timeout=60) as c:
            kind = i % 8
            if kind == 0:
                return "search", c.post("/api/v1/studies", headers=auth, json=search).status_code
            if kind == 1:
                r = c.post("/api/v1/recommendations/similar/upload",
                           files={"file": ("big.csv", oversized, "text/csv")})
                return "oversized", r.status_code
            path = ["/api/v1/studies/digits-default?top=2&offset=1", "/api/v1/studies",
                    "/api/v1/recommendations/wine", "/api/v1/studies/digits-default/runs",
                    "/healthz", "/api/v1/datasets"][kind - 2]
            return "read", c.get(path).status_code

    with ThreadPoolExecutor(max_workers=40) as pool:
        results = list(pool.map(call, range(240)))
    statuses = [status for _, status in results]
    assert not [s for s in statuses if s >= 500]
    assert all(s == 200 for kind, s in results if kind == "read")
    assert all(s == 413 for kind, s in results if kind == "oversized")
    searches = sorted(s for kind, s in results if kind == "search")
    assert searches == [202] + [429] * (len(searches) - 1)  # the queue limit held
    runs = httpx.get(f"{server}/api/v1/studies/burst/runs", timeout=10).json()
    assert len(runs) == 1 and runs[0]["state"] == "running"
    storage = open_storage(f"sqlite:///{tmp_path / 'served.db'}", create=False)
    with session_scope(storage.engine) as session:
        pid = session.get(SearchRun, runs[0]["run_id"]).pid  # type: ignore[union-attr]
    os.killpg(pid, signal.SIGKILL)
    assert _until_ended(f"{server}/api/v1/studies/burst/runs")[0]["state"] == "failed"
