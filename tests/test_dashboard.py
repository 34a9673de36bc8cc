"""`actsearch dashboard` as a real server on a study made by a real search."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import sqlalchemy
from sqlalchemy.engine import make_url

from tests.conftest import free_port
from tests.support import AGGRESSIVE, write_space

pytestmark = pytest.mark.slow
PNG = b"\x89PNG\r\n\x1a\n"


def test_dashboard_serves_study_trials_note_and_figures(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'd.db'}"
    # The search keeps its figures in its working directory's default folder; the dashboard
    # starts elsewhere, without being told where they are.
    env = {k: v for k, v in os.environ.items() if k != "ACTSEARCH_ARTIFACTS_DIR"}
    project, elsewhere = tmp_path / "project", tmp_path / "elsewhere"
    project.mkdir()
    elsewhere.mkdir()
    search = subprocess.run(
        [sys.executable, "-m", "actsearch", "search", "--dataset", "iris", "--space",
         write_space(tmp_path, AGGRESSIVE), "--trials", "4", "--storage", url, "--study", "dash",
         "--no-compare-relu"], capture_output=True, text=True, env=env, timeout=300,
        check=False, cwd=project)
    assert search.returncode == 0, search.stderr
    assert not (project / "actsearch-artifacts").exists()  # figures are drawn when opened
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "actsearch", "dashboard", "--storage", url,
                               "--port", str(port)], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, cwd=elsewhere)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(150):
            try:
                studies = httpx.get(f"{base}/api/studies", timeout=2)
                if studies.status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        else:
            raise AssertionError("dashboard did not start")
        (study,) = [s for s in studies.json()["study_summaries"] if s["study_name"] == "dash"]
        detail = httpx.get(f"{base}/api/studies/{study['study_id']}", timeout=10).json()
        assert len(detail["trials"]) == 4
        assert detail["objective_names"] == ["accuracy"]  # not "Objective 0"
        assert "Recommendation for `iris`" in detail["note"]["body"]
        assert "Verdict: unconfirmed" in detail["note"]["body"]
        drawn = 0
        for trial in detail["trials"]:
            attrs = {a["key"] for a in trial["user_attrs"]}
            assert {"dead_fraction_max", "saturation_mean", "grad_norm_min"} <= attrs
            (artifact,) = trial["artifacts"]  # every finished trial lists its figure
            drawn += 1
            assert artifact["mimetype"] == "image/png"
            figure = httpx.get(f"{base}/artifacts/{study['study_id']}/{trial['trial_id']}/"
                               f"{artifact['artifact_id']}", timeout=10)
            assert figure.status_code == 200 and figure.content.startswith(PNG)
        assert drawn == 4
        # Drawn on first view into the folder the search recorded, not where it started.
        assert len(list((project / "actsearch-artifacts").iterdir())) == 4
        page = httpx.get(f"{base}/dashboard/", timeout=10)
        assert page.status_code == 200 and "<html" in page.text.lower()
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert list(elsewhere.iterdir()) == []  # no empty artifacts folder where it started


def test_dashboard_on_a_missing_database_fails_cleanly(tmp_path: Path) -> None:
    run = subprocess.run([sys.executable, "-m", "actsearch", "dashboard", "--storage",
                          f"sqlite:///{tmp_path / 'none.db'}"], capture_output=True, text=True,
                         timeout=60, check=False)
    assert run.returncode == 2 and "does not exist yet" in run.stderr


def test_dashboard_on_a_new_database_server_shows_searches_as_they_start(
        tmp_path: Path, postgres_url: str) -> None:
    """A new cluster's dashboard starts before any search has created a table (it neither
    refuses nor creates them) and lists the first search's study once it exists."""
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "actsearch", "dashboard", "--storage",
                               postgres_url, "--port", str(port)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    base = f"http://127.0.0.1:{port}"

    def studies() -> list[str] | None:
        try:
            answer = httpx.get(f"{base}/api/studies", timeout=5)
        except httpx.TransportError:
            return None
        return [s["study_name"] for s in answer.json()["study_summaries"]]

    try:
        for _ in range(150):
            listed = studies()
            if listed is not None:
                break
            assert server.poll() is None, server.communicate()[1]
            time.sleep(0.2)
        assert listed == []
        schema = make_url(postgres_url).query["options"].split("=", 1)[1]  # -csearch_path=
        with sqlalchemy.create_engine(postgres_url).connect() as conn:
            assert not sqlalchemy.inspect(conn).get_table_names(schema=schema)  # nothing made
        search = subprocess.run(
            [sys.executable, "-m", "actsearch", "search", "--dataset", "iris", "--space",
             write_space(tmp_path, AGGRESSIVE), "--trials", "2", "--storage", postgres_url,
             "--study", "first", "--no-compare-relu", "--no-artifacts"],
            capture_output=True, text=True, timeout=300, check=False, cwd=tmp_path)
        assert search.returncode == 0, search.stderr
        assert studies() == ["first"]
        summary = httpx.get(f"{base}/api/studies", timeout=5).json()["study_summaries"][0]
        detail = httpx.get(f"{base}/api/studies/{summary['study_id']}", timeout=10).json()
        assert len(detail["trials"]) == 2 and detail["objective_names"] == ["accuracy"]
    finally:
        server.terminate()
        out, _ = server.communicate(timeout=10)
    assert "no studies in the database yet" in out
