"""Activation-aware initialisation: each layer starts where its activation's authors start it.

Checked on what the builders produce (weight statistics, signal through depth, training),
against references computed here independently: ``torch.nn.init.calculate_gain`` for the
published gains, a Monte Carlo estimate of E[f(z)²] for the variance-preserving default.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from actsearch import activations
from actsearch.activations import Initialisation, register_activation, unregister
from actsearch.activations._init import SIREN_INPUT_FREQUENCY
from actsearch.errors import RegistrationError
from actsearch.train.data import prepare
from actsearch.train.loop import TrainConfig, train
from actsearch.train.models import CNNConfig, MLPConfig, build_model

WIDTH = 512  # 262,144 weights: their standard deviation is estimated within about 0.2%


def _hidden_layers(model: nn.Module) -> list[nn.Module]:
    return [block.layer for block in model.blocks]  # type: ignore[union-attr]


def _second_moment_monte_carlo(name: str) -> float:
    """E[f(z)²], z ~ N(0, 1), from a million random draws (the builders use a quadrature)."""
    module = activations.create(name)
    k = activations.width_factor(module)
    z = torch.randn(1_000_000 // k, k, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        return float(module(z).double().pow(2).mean())


def _expected_std(name: str, fan_in: int, fan_out: int) -> float:
    """The standard deviation the catalogue's rule should give the weights of a layer that
    does not read the network's input."""
    rule = activations.info(name).init
    if rule.scheme == "he":
        slope = {"leaky_relu": 0.01, "prelu": 0.25, "rrelu": (1 / 8 + 1 / 3) / 2}.get(name, 0.0)
        return nn.init.calculate_gain("leaky_relu", slope) / math.sqrt(fan_in)
    if rule.scheme == "lecun":
        return nn.init.calculate_gain("linear") / math.sqrt(fan_in)
    if rule.scheme == "siren":
        return math.sqrt(6 / fan_in) / math.sqrt(3)  # U(-b, b) has std b / sqrt(3)
    gain = {"tanh": nn.init.calculate_gain("tanh"), "sigmoid": nn.init.calculate_gain("sigmoid")
            }.get(name, 1 / math.sqrt(_second_moment_monte_carlo(name)))
    if rule.scheme == "glorot":
        return gain * math.sqrt(6 / (fan_in + fan_out)) / math.sqrt(3)
    assert rule.scheme == "variance", (name, rule.scheme)
    return min(max(gain, 0.1), 10.0) / math.sqrt(fan_in)


HIDDEN_USABLE = [n for n in activations.names() if n != "softmax"]


@pytest.mark.parametrize("name", HIDDEN_USABLE)
def test_every_catalogue_entry_names_a_sourced_rule_and_the_builder_draws_by_it(
        name: str) -> None:
    record = activations.info(name)
    assert isinstance(record.init, Initialisation)
    assert record.init.scheme in activations.SCHEMES and record.init.scheme != "torch"
    assert len(record.init.source) > 10
    assert record.to_dict()["init"]["scheme"] == record.init.scheme

    torch.manual_seed(0)
    model = build_model(MLPConfig(16, 3, (WIDTH, WIDTH), (name, name)))
    second = _hidden_layers(model)[1]
    assert isinstance(second, nn.Linear)
    weight = second.weight.detach()
    expected = _expected_std(name, weight.shape[1], weight.shape[0])
    assert float(weight.std()) == pytest.approx(expected, rel=0.03), record.init.scheme
    assert abs(float(weight.mean())) < 0.05 * expected


def test_torch_mode_keeps_pytorchs_defaults_and_standard_dropout() -> None:
    torch.manual_seed(0)
    model = build_model(MLPConfig(16, 3, (WIDTH, WIDTH), ("selu", "selu"), dropout=0.1,
                                  init="torch"))
    layer = _hidden_layers(model)[1]
    # nn.Linear's own draw: kaiming_uniform(a=sqrt(5)), std 1 / sqrt(3 fan_in).
    assert float(layer.weight.std()) == pytest.approx(1 / math.sqrt(3 * WIDTH), rel=0.03)
    assert [type(b.post) for b in model.blocks] == [nn.Dropout, nn.Dropout]  # type: ignore[union-attr]


def test_selu_layers_get_alpha_dropout_and_others_standard_dropout() -> None:
    model = build_model(MLPConfig(8, 2, (32, 32, 32), ("selu", "relu", "selu"), dropout=0.2))
    kinds = [type(b.post) for b in model.blocks]  # type: ignore[union-attr]
    assert kinds == [nn.AlphaDropout, nn.Dropout, nn.AlphaDropout]
    x = torch.randn(20_000, 32)
    model.train()
    dropped = model.blocks[0].post(torch.nn.functional.selu(x))  # type: ignore[index]
    # Alpha-dropout keeps SELU's self-normalised mean and variance (standard dropout scales
    # the variance up by 1 / (1 - p)).
    assert abs(float(dropped.mean())) < 0.05 and float(dropped.var()) == pytest.approx(1, abs=0.08)


def _pre_activation_moments(init: str) -> list[tuple[float, float]]:
    torch.manual_seed(0)
    model = build_model(MLPConfig(256, 1, (256,) * 16, ("selu",) * 16, init=init))  # type: ignore[arg-type]
    h = torch.randn(4096, 256, generator=torch.Generator().manual_seed(0))
    moments = []
    with torch.no_grad():
        for block in model.blocks:  # type: ignore[union-attr]
            z = block.layer(h)
            moments.append((float(z.mean()), float(z.var())))
            h = block.activation(z)
    return moments


def test_a_deep_selu_network_is_self_normalising_with_its_rule_and_drifts_without() -> None:
    with_rule = _pre_activation_moments("activation")
    for layer, (mean, var) in enumerate(with_rule, start=1):
        assert abs(mean) < 0.1 and 0.8 < var < 1.25, (layer, mean, var)
    default = _pre_activation_moments("torch")
    assert default[7][1] < 0.05 and default[15][1] < 0.05  # layers 8 and 16: the signal fades


def _signal1d() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, size=(1000, 1))
    return x, np.sin(8 * np.pi * x[:, 0]) + 0.5 * np.sin(13 * np.pi * x[:, 0])


@pytest.mark.slow
def test_a_sine_network_fits_a_high_frequency_signal_only_with_sirens_rule() -> None:
    data = prepare("signal1d", *_signal1d(), "regression")

    def fitted(init: str) -> float:
        model = MLPConfig(1, 1, (64, 64), ("sinusoid", "sinusoid"), init=init)  # type: ignore[arg-type]
        trainer, _ = train(TrainConfig(model, lr=1e-2, epochs=40, seed=0), data, "cpu")
        return trainer.score("val")

    assert fitted("activation") > 0.95
    assert fitted("torch") < 0.3


def test_sirens_input_layer_spreads_phases_and_keeps_its_frequency() -> None:
    torch.manual_seed(0)
    model = build_model(MLPConfig(4, 1, (WIDTH, WIDTH), ("sinusoid", "relu")))
    first = _hidden_layers(model)[0]
    bound = SIREN_INPUT_FREQUENCY / 4
    assert float(first.weight.abs().max()) <= bound
    assert float(first.weight.abs().max()) > 0.95 * bound
    assert float(first.bias.min()) < -0.9 * math.pi and float(first.bias.max()) > 0.9 * math.pi


def test_the_input_layer_of_the_variance_default_keeps_unit_variance() -> None:
    torch.manual_seed(0)
    model = build_model(MLPConfig(WIDTH, 1, (WIDTH,), ("gelu",)))
    assert float(_hidden_layers(model)[0].weight.std()) == pytest.approx(1 / math.sqrt(WIDTH),
                                                                         rel=0.03)


def test_a_cnn_draws_its_convolutions_by_the_rule_with_fan_in_over_the_kernel() -> None:
    torch.manual_seed(0)
    model = build_model(CNNConfig(1, 8, 10, channels=(64, 128), dense=(WIDTH,),
                                  activations=("tanh", "relu", "selu")))
    conv = _hidden_layers(model)[1]
    assert isinstance(conv, nn.Conv2d)
    fan_in = 64 * 9
    assert float(conv.weight.std()) == pytest.approx(math.sqrt(2 / fan_in), rel=0.03)
    dense = _hidden_layers(model)[2]
    assert float(dense.weight.std()) == pytest.approx(1 / math.sqrt(dense.weight.shape[1]),
                                                      rel=0.03)
    assert type(model.blocks[2].post) is nn.AlphaDropout  # type: ignore[index]


def test_a_formula_string_gets_the_variance_default() -> None:
    torch.manual_seed(0)
    formula = "x * sigmoid(2 * x)"
    model = build_model(MLPConfig(16, 1, (WIDTH, WIDTH), (formula, formula)))
    module = activations.create(formula)
    z = torch.randn(1_000_000, 1, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        gain = 1 / math.sqrt(float(module(z).pow(2).mean()))
    assert float(_hidden_layers(model)[1].weight.std()) == pytest.approx(
        gain / math.sqrt(WIDTH), rel=0.03)


def test_a_plugin_states_its_rule_when_it_registers() -> None:
    @register_activation("cubed_test", init="lecun")
    class Cubed(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x**3

    try:
        assert activations.info("cubed_test").init.scheme == "lecun"
        torch.manual_seed(0)
        model = build_model(MLPConfig(16, 1, (WIDTH, WIDTH), ("cubed_test",) * 2))
        assert float(_hidden_layers(model)[1].weight.std()) == pytest.approx(
            1 / math.sqrt(WIDTH), rel=0.03)
    finally:
        unregister("cubed_test")
    with pytest.raises(RegistrationError, match="unknown initialisation 'kaiming'"):
        register_activation("never_registered", init="kaiming")


def test_the_rule_draws_from_the_seeded_generator_so_a_trial_rebuilds_the_same() -> None:
    config = MLPConfig(8, 2, (32, 32), ("sinusoid", "gelu"))
    torch.manual_seed(3)
    first = build_model(config).state_dict()
    torch.manual_seed(3)
    again = build_model(config).state_dict()
    assert all(torch.equal(first[k], again[k]) for k in first)
