"""A study trains as it was searched: its initialisation is recorded, resumed and confirmed
with it, and a fair initialisation lets a periodic activation win where it should."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from actsearch.recommend.confirm import retrain_jobs, study_inputs
from actsearch.search.spaces import SearchSpace, load_space
from actsearch.store.database import open_storage
from actsearch.store.studies import META_KEY, find_study, study_meta
from tests.support import cli, write_space

pytestmark = pytest.mark.slow

TINY = """
model: {family: mlp, depth: 2, width: 16}
activations: {candidates: [relu, selu, sinusoid]}
hyperparameters: {lr: 1.0e-2, dropout: 0.1, epochs: 2}
sampler: {name: random}
pruner: {name: none}
"""


def _search(url: str, space: str, study: str, *extra: str) -> None:
    run = cli("search", "--dataset", "iris", "--space", space, "--trials", "2", "--storage",
              url, "--study", study, "--no-compare-relu", "--no-artifacts", *extra)
    assert run.returncode == 0, run.stderr


def _configs(url: str, study: str) -> list[str]:
    storage = open_storage(url, create=False)
    study_id = find_study(storage, study)
    assert study_id is not None
    meta = study_meta(storage, study_id)
    inputs = study_inputs(study, meta, None)
    return [job.config.model.init for job in retrain_jobs(storage, study, inputs, 2, 1)]


def test_the_initialisation_is_recorded_confirmed_exported_and_kept_on_resume(
        tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'init.db'}"
    fair_space = write_space(tmp_path, TINY)
    _search(url, fair_space, "fair", "--rope", "0.05")
    _search(url, write_space(tmp_path, TINY + "init: torch\n", "torch"), "plain")
    storage = open_storage(url, create=False)
    fair_id, plain_id = find_study(storage, "fair"), find_study(storage, "plain")
    assert fair_id is not None and plain_id is not None
    assert study_meta(storage, fair_id)["space_spec"]["init"] == "activation"
    assert study_meta(storage, plain_id)["space_spec"]["init"] == "torch"
    # The verdicts' ROPE is the search's own where it set one.
    assert study_meta(storage, fair_id)["rope"] == 0.05
    assert study_meta(storage, plain_id)["rope"] is None
    assert _configs(url, "fair") == ["activation", "activation"]
    assert _configs(url, "plain") == ["torch", "torch"]

    # Resuming with another initialisation: one line naming the fix, nothing written.
    again = cli("search", "--dataset", "iris", "--space", fair_space, "--trials", "2",
                "--storage", url, "--study", "plain", "--no-compare-relu", "--no-artifacts")
    assert again.returncode == 2
    assert again.stderr.count("\n") == 1 and "Traceback" not in again.stderr
    assert "init: torch, not activation" in again.stderr
    assert "resume it with a space that says init: torch" in again.stderr
    assert storage.get_n_trials(plain_id) == 2

    # The export records the rule, and rebuild.py builds with it.
    out = tmp_path / "export"
    run = cli("export", "fair", "--storage", url, "--output", str(out))
    assert run.returncode == 0, run.stderr
    config = json.loads((out / "config.json").read_text())
    assert config["model"]["init"] == "activation"
    assert len(config["initialisation"]) == len(config["model"]["activations"])
    assert 'MLPConfig(**config["model"])' in (out / "rebuild.py").read_text()
    assert not (out / "verdict.png").exists()  # nothing confirmed: no verdicts to draw

    # A study recorded before spaces named their initialisation trained with PyTorch's
    # defaults: confirm retrains it that way.
    meta = study_meta(storage, fair_id)
    del meta["space_spec"]["init"]
    storage.set_study_user_attr(fair_id, META_KEY, meta)
    assert _configs(url, "fair") == ["torch", "torch"]


def test_a_space_recorded_before_init_existed_keeps_its_digest() -> None:
    spec = load_space("default").model_dump(mode="json")
    old = {k: v for k, v in spec.items() if k != "init"}
    recorded = SearchSpace.from_record(old)
    assert recorded.init == "torch"
    assert recorded.digest() == SearchSpace.from_record({**old, "init": "torch"}).digest()
    assert recorded.digest() != load_space("default").digest()


PERIODIC = """
model: {family: mlp, depth: 2, width: 64}
activations: {candidates: [relu, sinusoid]}
hyperparameters: {lr: {low: 3.0e-3, high: 3.0e-2, log: true}, epochs: 20}
sampler: {name: tpe, n_startup_trials: 3}
pruner: {name: none}
"""


def test_on_a_periodic_target_the_periodic_activation_is_recommended(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'periodic.db'}"
    search = cli("search", "--dataset", "periodic", "--space",
                 write_space(tmp_path, PERIODIC), "--trials", "5", "--storage", url,
                 "--study", "p", "--no-compare-relu", "--no-artifacts", timeout=600)
    assert search.returncode == 0, search.stderr
    confirm = cli("confirm", "p", "--top-k", "1", "--seeds", "2", "--storage", url,
                  timeout=600)
    assert confirm.returncode == 0, confirm.stderr
    rec = cli("recommend", "periodic", "--storage", url, "--format", "json")
    assert rec.returncode == 0, rec.stderr
    answer = json.loads(rec.stdout)
    assert set(answer["activations"]) == {"sinusoid"}, answer["activations"]
    # The recommended side's confirmed test R² is far above tuned ReLU's (0.96 against 0.48
    # with 30 epochs and 3 seeds; at this budget the per-layer side's own verdict against
    # tuned ReLU may still be "no significant difference").
    side = answer["baselines"].get(answer["side"])
    chosen = side["test_mean"] if side else answer["confirmation"]["mean"]
    assert chosen > answer["baselines"]["tuned_relu"]["test_mean"] + 0.2
    # The verdicts, drawn: in the terminal and as verdict.png beside the exported network.
    shown = cli("recommend", "periodic", "--storage", url)
    assert shown.returncode == 0 and "difference in test r2: ░ the ROPE ±0.01" in shown.stdout
    # The JSON carries the decision, consistent with its words and its probability.
    c = answer["confirmation"]
    words = {"better": "better than", "worse": "worse than",
             "equivalent": "practically equivalent to", "undecided": "undecided against"}
    assert c["verdict"] == f"{words[c['decision']]} tuned ReLU" and c["rope"] == 0.01
    assert (c["probability"] >= 0.95) == (c["decision"] != "undecided")
    assert c["protocol"]["seeds"] == 2
    out = tmp_path / "export"
    exported = cli("export", "periodic", "--storage", url, "--output", str(out))
    assert exported.returncode == 0, exported.stderr
    assert (out / "verdict.png").read_bytes()[:4] == b"\x89PNG"
