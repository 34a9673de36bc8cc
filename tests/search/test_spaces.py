"""Search spaces: shipped files, validation errors, and what a trial samples."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest

from actsearch import activations
from actsearch.errors import UsageError
from actsearch.search.spaces import available_spaces, load_space
from actsearch.train.data import load_dataset


def test_shipped_spaces_load() -> None:
    assert {"default", "seeds", "cnn", "symbolic"} <= set(available_spaces())
    for name in available_spaces():
        assert load_space(name).name == name


def test_seeds_space_is_exactly_the_seed_functions() -> None:
    seeds = {"identity", "binary_step", "sigmoid", "logistic", "tanh", "relu", "leaky_relu",
             "prelu", "rrelu", "softplus", "elu", "srelu", "apl", "maxout", "arctan",
             "softsign", "bent_identity", "soft_exponential", "sinusoid", "sinc", "gaussian"}
    assert set(load_space("seeds").activations.choices()) == seeds


def test_symbolic_space_draws_the_same_composites_every_time() -> None:
    first = load_space("symbolic").activations.choices()
    assert first == load_space("symbolic").activations.choices()
    composites = [c for c in first if not activations.is_known(c)]
    assert len(composites) == 16
    for formula in composites:
        activations.create(formula)


def test_every_built_layer_gets_one_activation_parameter_and_conditionals_only_where_chosen(
) -> None:
    space = load_space("default")
    data = load_dataset("digits")
    study = optuna.create_study(direction="maximize", sampler=space.make_sampler(0))
    for _ in range(40):
        trial = study.ask()
        config = space.suggest_config(trial, data)
        depth = trial.params["depth"]
        acts = [k for k in trial.params if k.startswith("act_") and k.count("_") == 1]
        assert acts == [f"act_{i}" for i in range(depth)]
        for i in range(depth):
            slope = f"act_{i}_negative_slope"
            assert (slope in trial.params) == (trial.params[f"act_{i}"] == "leaky_relu")
        assert len(config.model.activations) == depth
        study.tell(trial, 0.5)


def test_cnn_space_on_image_digits_and_refuses_tabular_data() -> None:
    space = load_space("cnn")
    study = optuna.create_study(direction="maximize")
    config = space.suggest_config(study.ask(), load_dataset("digits"))
    assert config.model.in_channels == 1 and config.model.image_size == 8
    with pytest.raises(UsageError, match="not made of images"):
        space.suggest_config(study.ask(), load_dataset("wine"))


@pytest.mark.parametrize(("text", "message"), [
    ("activations: {candidates: [relu, relu7]}", r"activations\.candidates: .*relu7.*relu6"),
    ("activations: {candidates: [relu]}\nhyperparameters: {lr: {low: 1, high: 0.1}}",
     r"hyperparameters\.lr: low \(1\.0\) must be below high"),
    ("activations: {candidates: [relu]}\nmodel: {family: rnn}", r"model: .*rnn"),
    ("activations: {candidates: [relu]}\nbogus: 1", r"bogus: Extra inputs"),
    ("activations: {candidates: [relu], params: {relu: {slope: {low: 0, high: 1}}}}",
     r"activations\.params: relu has no parameter slope"),
    ("activations: {candidates: [relu, ReLU]}", "repeat a function"),
    ("activations: [relu", "invalid YAML at line"),
    ("- just a list", "expected a mapping"),
    ("activations: {candidates: ['x.__class__']}", "attribute access"),
])
def test_invalid_space_files_name_file_key_and_problem(tmp_path: Path, text: str,
                                                       message: str) -> None:
    path = tmp_path / "space.yaml"
    path.write_text(text)
    with pytest.raises(UsageError, match=message) as err:
        load_space(path)
    assert str(path) in str(err.value)
    assert "\n" not in str(err.value)


def test_unknown_space_name_and_missing_file() -> None:
    with pytest.raises(UsageError, match="unknown search space 'nope': use one of"):
        load_space("nope")
    with pytest.raises(UsageError, match="does not exist"):
        load_space("/no/such/space.yaml")


def test_space_digest_tracks_choices() -> None:
    default = load_space("default")
    assert default.digest() == load_space("default").digest()
    assert default.digest() != load_space("seeds").digest()
