"""Confirmation end to end: search, confirm on Ray, recommend with a verdict (both databases)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from actsearch.storage import open_storage
from actsearch.tables import ConfirmationRun, session_scope
from tests.search.test_search_cli import AGGRESSIVE, _cli, _space

pytestmark = pytest.mark.slow


def test_confirm_then_recommend_states_the_verdict(storage_url: str, tmp_path: Path) -> None:
    space = _space(tmp_path, AGGRESSIVE)
    search = _cli("search", "--dataset", "iris", "--space", space, "--trials", "5",
                  "--storage", storage_url, "--study", "c", "--no-compare-relu")
    assert search.returncode == 0, search.stderr
    before = json.loads(_cli("recommend", "iris", "--storage", storage_url, "--format",
                             "json").stdout)
    assert before["confirmation"] is None and before["verdict"].startswith("unconfirmed")
    confirm = _cli("confirm", "c", "--top-k", "2", "--seeds", "3", "--storage", storage_url)
    assert confirm.returncode == 0, confirm.stderr
    assert "verdict" in confirm.stdout
    rec = json.loads(_cli("recommend", "iris", "--storage", storage_url, "--format",
                          "json").stdout)
    c = rec["confirmation"]
    assert c["n"] == 3 and c["relu_n"] == 3 and c["seeds"] == [0, 1, 2]
    assert rec["verdict"] in ("better than ReLU", "no significant difference", "worse than ReLU")
    assert c["ci_low"] <= c["difference"] <= c["ci_high"]
    assert rec["importance"] and all(v >= 0 for v in rec["importance"].values())
    storage = open_storage(storage_url, create=False)
    with session_scope(storage.engine) as session:
        runs = session.scalar(select(func.count()).select_from(ConfirmationRun))
    assert runs == 2 * 2 * 3  # 2 trials x (searched, relu) x 3 seeds
    again = _cli("confirm", "c", "--top-k", "2", "--seeds", "3", "--storage", storage_url)
    assert again.returncode == 0  # nothing new to run: the recorded runs are kept, not redone
    with session_scope(storage.engine) as session:
        assert session.scalar(select(func.count()).select_from(ConfirmationRun)) == runs


def test_confirm_bad_input(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    missing = _cli("confirm", "nope", "--storage", url)
    assert missing.returncode == 2 and "does not exist yet" in missing.stderr
    one_seed = _cli("confirm", "nope", "--seeds", "1", "--storage", url)
    assert one_seed.returncode == 2 and "--seeds >= 2" in one_seed.stderr
