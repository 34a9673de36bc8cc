"""The knowledge base shipped in the package: complete, clean, and usable on new data."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest

from actsearch.errors import UsageError
from actsearch.recommend.knowledge import load_knowledge
from actsearch.recommend.similar import answer_unseen, known_recommendation
from actsearch.search.spaces import SearchSpace
from actsearch.train.data import load_dataset
from actsearch.train.keel import RESERVED
from tests.support import cli, study_trials


def test_shipped_knowledge_base_covers_the_corpus_and_nothing_reserved() -> None:
    entries = load_knowledge()
    names = [e.dataset.removeprefix("keel:") for e in entries]
    assert len(names) == 35 and len(set(names)) == 35
    assert not set(names) & RESERVED
    for entry in entries:
        rec = entry.recommendation
        assert rec.source == "knowledge base" and rec.dataset == entry.dataset
        assert rec.side in ("search", "tuned_relu", "uniform")
        assert set(rec.verdicts) <= {"tuned_relu", "uniform"} and rec.confirmation
        assert {"samples", "features", "classes", "class_balance", "task"} <= set(entry.meta)


def test_every_entry_rebuilds_its_network_on_another_dataset() -> None:
    data = load_dataset("wine")
    for entry in load_knowledge():
        rec = entry.recommendation
        space = SearchSpace.model_validate(entry.space_spec)
        config = space.suggest_config(optuna.trial.FixedTrial(rec.params), data)
        assert list(config.model.activations) == rec.activations
        assert config.model.in_features == data.n_features


def test_unseen_dataset_is_answered_from_the_shipped_knowledge_base() -> None:
    wine = load_dataset("wine")
    answer = answer_unseen(None, wine.meta, k=5)
    distances = [s.distance for s in answer.neighbours]
    assert distances == sorted(distances) and len(distances) == 5
    assert answer.neighbours[0].dataset == "keel:wine"  # the same table under another name
    assert answer.recommendation is answer.neighbours[0].recommendation
    e = answer.evidence
    assert e.better + e.equivalent + e.undecided + e.worse + e.unconfirmed == 5
    assert known_recommendation(None, "keel:wine") == answer.recommendation


def test_a_broken_knowledge_base_file_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="cannot be read"):
        load_knowledge(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text('{"entries": [{"dataset": "x"}]}')
    with pytest.raises(UsageError, match="is not one"):
        load_knowledge(bad)


@pytest.mark.slow
def test_warm_start_on_an_empty_storage_uses_the_knowledge_base(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    run = cli("search", "--dataset", "wine", "--trials", "2", "--epochs", "2", "--storage",
               url, "--study", "w", "--warm-start", "--no-compare-relu", "--no-artifacts")
    assert run.returncode == 0, run.stderr
    first = min(study_trials(url, "w"), key=lambda t: t.number)
    assert first.user_attrs["warm_start_from"] == "keel:wine"
    expected = known_recommendation(None, "keel:wine")
    assert list(first.user_attrs["activations"]) == expected.activations
