"""The anchors benchmark in its reduced form: every row runs, the default one (figures on)
included, and the results land where asked, not over the measured ones."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
ROOT = Path(__file__).parent.parent


def test_search_overhead_smoke_runs_every_row(tmp_path: Path) -> None:
    measured = (ROOT / "benchmarks/results/search_overhead.json").read_text()
    run = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks/search_overhead.py"), "--smoke",
         "--results-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=600, check=False)
    assert run.returncode == 0, run.stderr[-3000:]
    rows = json.loads((tmp_path / "search_overhead.json").read_text())
    assert list(rows) == [
        "actsearch default, first search (starts a local Ray and keeps it; figures on)",
        "actsearch default, next search (joins the kept Ray; figures on)",
        "actsearch, no figures (like for like), kept Ray",
        "actsearch --trials-per-worker 8, kept Ray",
        "actsearch, a Ray of its own per search (ACTSEARCH_RAY_KEEP_SECONDS=0; figures on)",
        "plain Optuna n_jobs=2, user loop",
        "plain Optuna n_jobs=2, actsearch loop",
    ]
    for name, row in rows.items():
        # 6 trials of 2 epochs: every trial trains at least one epoch, at most two.
        assert 6 <= row["epochs"] <= 12, name
        assert 0 < row["best"] <= 1, name
        assert row["wall"] > 0 and row["epoch_seconds"] > 0, name
    assert rows["plain Optuna n_jobs=2, user loop"]["vs_optuna"] == 1.0
    table = (tmp_path / "search_overhead.md").read_text()
    assert all(f"| {name} |" in table for name in rows)
    assert (ROOT / "benchmarks/results/search_overhead.json").read_text() == measured
