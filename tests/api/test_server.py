"""The real server: ``actsearch serve`` under uvicorn, concurrent clients on loopback."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.api.conftest import populate
from tests.conftest import free_port

pytestmark = pytest.mark.slow



TOKEN = "test-write-token"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'served.db'}"
    populate(url)
    port = free_port()
    env = {**os.environ, "ACTSEARCH_API_TOKEN": TOKEN}
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
    assert status is not None and status["complete"] + status["pruned"] == 2
    rec = httpx.get(f"{server}/api/v1/recommendations/iris", timeout=10)
    assert rec.status_code == 200 and rec.json()["study"] == "from-api"
