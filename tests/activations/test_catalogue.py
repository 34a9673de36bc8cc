"""Every catalogue function against its formula, its gradient, and torch's built-in."""

from __future__ import annotations

import importlib
import math

import numpy as np
import pytest
import torch
from torch import nn

from actsearch import activations
from actsearch.errors import ActivationParameterError
from tests.activations.conftest import as_module_input, elementwise_names
from tests.activations.reference import REFERENCES, rational, sigmoid, soft_exponential

DOC_NAMES = {
    # The classic functions every survey lists (canonical [aliases])
    "identity": ["linear"], "binary_step": ["step", "heaviside"], "sigmoid": ["logistic_sigmoid"],
    "logistic": [], "tanh": [], "relu": [], "leaky_relu": [], "prelu": [], "rrelu": [],
    "softplus": [], "elu": [], "srelu": [], "apl": [], "maxout": [], "softmax": [],
    "arctan": [], "softsign": [], "bent_identity": [], "soft_exponential": [],
    "sinusoid": ["sin"], "sinc": [], "gaussian": [],
    # "Widely used since"
    "gelu": [], "gelu_tanh": [], "silu": ["swish"], "swish_beta": [], "mish": [], "selu": [],
    "celu": [], "hardswish": [], "hardsigmoid": [], "hardtanh": [], "relu6": [],
    "log_sigmoid": [], "tanhshrink": [], "softshrink": [], "hardshrink": [],
    "squared_relu": [], "rational": [],
}


def _module(name: str, **params: object) -> nn.Module:
    """The module in float64, its parameters created in float64 (0.1 exact, not 0.1f)."""
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        return activations.create(name, **params).double().eval()
    finally:
        torch.set_default_dtype(default)


def _reference(name: str, x: np.ndarray) -> np.ndarray:
    if name == "rational":
        params = activations.info("rational").params
        return rational(x, params["numerator"], params["denominator"])
    return REFERENCES[name](x)


def test_catalogue_has_every_function_of_the_doc_under_its_names() -> None:
    for name, aliases in DOC_NAMES.items():
        assert activations.info(name).name == name
        for alias in aliases:
            assert activations.info(alias).name == name, alias


def test_every_elementwise_function_has_an_independent_reference() -> None:
    missing = set(elementwise_names()) - set(REFERENCES) - {"rational"}
    assert not missing


@pytest.mark.parametrize("name", elementwise_names())
def test_matches_float64_reference(name: str, probe_points: np.ndarray) -> None:
    with torch.no_grad():
        got = _module(name)(as_module_input(probe_points)).numpy()
    expected = _reference(name, probe_points)
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12, err_msg=name)


def _away_from_kinks(points: np.ndarray) -> np.ndarray:
    """Kinks of the default parameterisations all sit on multiples of 0.5."""
    return points[np.abs(points * 2 - np.round(points * 2)) > 0.02]


@pytest.mark.parametrize(
    "name", [n for n in elementwise_names() if n != "binary_step"]
)
def test_gradcheck_float64(name: str) -> None:
    rng = np.random.default_rng(1)
    points = _away_from_kinks(np.concatenate([rng.normal(0, 3, 64), [0.3, -0.7, 1e-3, 40.0]]))
    x = torch.tensor(points, dtype=torch.float64, requires_grad=True)
    module = _module(name)
    assert torch.autograd.gradcheck(module, (x,), eps=1e-6, atol=1e-6, rtol=1e-5)


def _torch_callable(path: str, params: dict[str, object]) -> nn.Module:
    module_name, _, attr = path.rpartition(".")
    target = getattr(importlib.import_module(module_name), attr)
    if isinstance(target, type):
        return target(**params)  # the catalogue's defaults are torch's constructor arguments
    return activations.FunctionActivation(target)


def _class_of(path: str) -> object:
    module_name, _, attr = path.rpartition(".")
    return getattr(importlib.import_module(module_name), attr)


@pytest.mark.parametrize(
    "name", [n for n in activations.names() if activations.info(n).torch_equivalent]
)
def test_equals_torch_builtin(name: str, probe_points: np.ndarray) -> None:
    info = activations.info(name)
    assert info.torch_equivalent is not None
    builtin = _torch_callable(info.torch_equivalent, dict(info.params) if info.factory is
                              _class_of(info.torch_equivalent) else {})
    if name == "gelu_tanh":
        builtin = nn.GELU(approximate="tanh")
    x = as_module_input(probe_points, torch.float32)
    if not info.elementwise:
        x = x[: len(x) // 2 * 2].view(-1, 2)
    ours = activations.create(name).eval()
    with torch.no_grad():
        torch.testing.assert_close(ours(x), builtin.eval()(x), rtol=1e-6, atol=1e-6)
    if isinstance(builtin, nn.Module) and type(builtin).__module__.startswith("torch.nn"):
        # Where torch ships the module, the catalogue must hand out torch's own.
        assert isinstance(ours, type(builtin)), f"{name} should be {type(builtin).__name__}"


def test_seed_identities() -> None:
    x = torch.linspace(-20, 20, 4001, dtype=torch.float64, requires_grad=True)
    sig, tanh, softplus = _module("sigmoid"), _module("tanh"), _module("softplus")
    torch.testing.assert_close(tanh(x), 2 * sig(2 * x) - 1, rtol=0, atol=1e-12)
    (d_softplus,) = torch.autograd.grad(softplus(x).sum(), x)
    torch.testing.assert_close(d_softplus, sig(x), rtol=1e-12, atol=1e-12)
    (d_sigmoid,) = torch.autograd.grad(sig(x).sum(), x)
    s = sig(x)
    torch.testing.assert_close(d_sigmoid, s * (1 - s), rtol=1e-12, atol=1e-15)
    (d_tanh,) = torch.autograd.grad(tanh(x).sum(), x)
    torch.testing.assert_close(d_tanh, 1 - tanh(x) ** 2, rtol=1e-12, atol=1e-15)
    logistic = activations.create("logistic", L=1.0, k=1.0, x0=0.0).double()
    torch.testing.assert_close(logistic(x), s, rtol=0, atol=1e-15)


def _all_inputs(name: str, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    big = torch.tensor([-1e4, -1e3, -88.0, -20.0, -1.0, -1e-6, 0.0, 1e-6, 1.0, 20.0, 88.0,
                        1e3, 1e4], dtype=dtype)
    x = torch.cat([big, torch.linspace(-1e4, 1e4, 1001, dtype=dtype)])
    if not activations.info(name).elementwise:
        return x[: len(x) // 2 * 2].view(-1, 2)
    return x


@pytest.mark.parametrize("name", activations.names())
def test_no_nan_or_inf_forward_or_backward_float32(name: str) -> None:
    for mode in ("train", "eval"):
        module = activations.create(name)
        module.train(mode == "train")
        x = _all_inputs(name).requires_grad_(True)
        y = module(x)
        (grad,) = torch.autograd.grad(y.sum(), x)
        assert torch.isfinite(y).all(), f"{name} ({mode}) forward"
        assert torch.isfinite(grad).all(), f"{name} ({mode}) backward"


def test_rrelu_is_random_in_training_and_fixed_in_eval() -> None:
    module = activations.create("rrelu")
    x = -torch.ones(10_000)
    module.train()
    first, second = module(x), module(x)
    slopes = -first
    assert not torch.equal(first, second)
    assert slopes.min() >= 1 / 8
    assert slopes.max() <= 1 / 3
    assert slopes.std() > 0.03  # spread over U(1/8, 1/3), std ≈ 0.06
    module.eval()
    torch.testing.assert_close(module(x), torch.full_like(x, -(1 / 8 + 1 / 3) / 2))
    positive = torch.linspace(0, 5, 11)
    module.train()
    torch.testing.assert_close(module(positive), positive)


@pytest.mark.parametrize(
    "name", [n for n in activations.names() if activations.info(n).learnable]
)
def test_learnable_parameters_get_gradients_and_move(name: str) -> None:
    torch.manual_seed(0)
    module = activations.create(name)
    params = dict(module.named_parameters())
    assert params, f"{name} is marked learnable but has no parameters"
    before = {n: p.detach().clone() for n, p in params.items()}
    got_gradient = dict.fromkeys(params, False)
    optimizer = torch.optim.SGD(module.parameters(), lr=0.1)
    x = torch.randn(256, 4) * 2
    target = torch.sin(x)  # any target the function does not already fit
    # A few steps: a parameter may be inert at its initial value (SReLU's t_right while
    # a_right = 1) and wake up once the others move.
    for _ in range(3):
        optimizer.zero_grad()
        (module(x) - target).square().mean().backward()
        for n, p in params.items():
            got_gradient[n] |= p.grad is not None and bool(p.grad.abs().sum() > 0)
        optimizer.step()
    assert all(got_gradient.values()), f"{name}: no gradient for {got_gradient}"
    for n, p in params.items():
        assert not torch.equal(p.detach(), before[n]), f"{name}.{n} did not move"


def test_logistic_learnable_option_and_parameters() -> None:
    fixed = _module("logistic", L=2.0, k=3.0, x0=0.5)
    assert not list(fixed.parameters())
    x = np.linspace(-5, 5, 101)
    with torch.no_grad():
        got = fixed(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, 2.0 * sigmoid(3.0 * (x - 0.5)), rtol=1e-12)
    learnable = activations.create("logistic", learnable=True)
    assert {n for n, _ in learnable.named_parameters()} == {"L", "k", "x0"}


@pytest.mark.parametrize("alpha", [-0.8, -0.5, -1e-9, 0.0, 1e-9, 0.5, 0.9])
def test_soft_exponential_branches_and_domain_edge(alpha: float) -> None:
    x = np.concatenate([np.linspace(-12, 6, 1801), [0.0, 1e-8, -1e-8]])
    if alpha < 0:  # points on both sides of the domain edge x = 1/α - α
        edge = 1 / alpha - alpha
        x = np.concatenate([x, edge + np.array([-1.0, -1e-4, 0.0, 1e-4, 1e-2, 1.0])])
    module = _module("soft_exponential", alpha=alpha)
    xt = torch.tensor(x, requires_grad=True)
    y = module(xt)
    (grad,) = torch.autograd.grad(y.sum(), xt)
    assert torch.isfinite(y).all()
    assert torch.isfinite(grad).all()
    np.testing.assert_allclose(y.detach().numpy(), soft_exponential(x, alpha), rtol=1e-9,
                               atol=1e-9)


def test_soft_exponential_gradient_in_alpha_is_continuous_through_zero() -> None:
    x = torch.linspace(-3, 3, 13, dtype=torch.float64)
    module = _module("soft_exponential")
    # d f/d α at α = 0 is 1 + x²/2, from both sides.
    expected = float((1 + x**2 / 2).sum())
    for alpha in (-1e-7, 0.0, 1e-7):
        a = torch.tensor([alpha], dtype=torch.float64, requires_grad=True)
        y = torch.func.functional_call(module, {"alpha": a}, (x,))
        (grad,) = torch.autograd.grad(y.sum(), a)
        assert grad.item() == pytest.approx(expected, rel=1e-5)

    def f(a: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return torch.func.functional_call(module, {"alpha": a}, (t,))

    for alpha in (-1e-3, 0.0, 1e-3):
        a = torch.tensor([alpha], dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(f, (a, x.clone().requires_grad_(True)))


@pytest.mark.parametrize(("mode", "expected"), [
    ("clipped", [0.0, 1.0, 1.0, 1.0, 0.0]),
    ("identity", [1.0, 1.0, 1.0, 1.0, 1.0]),
    ("none", [0.0, 0.0, 0.0, 0.0, 0.0]),
])
def test_binary_step_straight_through_gradients(mode: str, expected: list[float]) -> None:
    step = activations.create("binary_step", straight_through=mode)
    x = torch.tensor([-3.0, -0.5, 0.0, 0.5, 3.0], requires_grad=True)
    y = step(x)
    assert y.tolist() == [0.0, 0.0, 1.0, 1.0, 1.0]
    y.sum().backward()
    assert x.grad is not None
    assert x.grad.tolist() == expected


def test_binary_step_threshold_and_bad_option() -> None:
    step = activations.create("step", threshold=1.0)
    assert step(torch.tensor([0.5, 1.0, 2.0])).tolist() == [0.0, 1.0, 1.0]
    with pytest.raises(ActivationParameterError, match="straight_through"):
        activations.create("binary_step", straight_through="magic")


def test_maxout_takes_max_over_adjacent_pieces_and_declares_its_width() -> None:
    module = activations.create("maxout", k=3)
    assert activations.width_factor(module) == 3
    assert activations.info("maxout").width_factor == 2
    rng = np.random.default_rng(0)
    x = rng.normal(size=(5, 12))
    expected = x.reshape(5, 4, 3).max(axis=2)
    np.testing.assert_array_equal(module(torch.from_numpy(x)).numpy(), expected)
    images = torch.randn(2, 6, 4, 4, dtype=torch.float64, requires_grad=True)
    out = module(images)
    assert out.shape == (2, 2, 4, 4)
    assert torch.autograd.gradcheck(module, (images,))
    with pytest.raises(ValueError, match="multiple of 3"):
        module(torch.randn(2, 5))
    assert activations.width_factor(nn.ReLU()) == 1


def test_softmax_matches_reference_and_sums_to_one() -> None:
    rng = np.random.default_rng(0)
    z = rng.normal(0, 5, size=(7, 10))
    expected = np.exp(z - z.max(1, keepdims=True))
    expected /= expected.sum(1, keepdims=True)
    got = activations.create("softmax").double()(torch.from_numpy(z)).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    np.testing.assert_allclose(got.sum(1), 1.0, rtol=1e-12)


def test_rational_defaults_are_the_leaky_relu_fit() -> None:
    from actsearch.activations._rational_fit import fit_rational

    params = activations.info("rational").params
    x = np.linspace(-3, 3, 601)
    approx = rational(x, params["numerator"], params["denominator"])
    assert np.abs(approx - np.where(x >= 0, x, 0.01 * x)).max() < 0.04
    refit = fit_rational(lambda t: torch.nn.functional.leaky_relu(t, 0.01))
    refit_values = rational(x, *refit)
    assert np.abs(refit_values - approx).max() < 1e-3


def test_sinc_is_exact_at_and_near_zero() -> None:
    x = torch.tensor([0.0, 1e-12, -1e-8, 1e-4], dtype=torch.float64, requires_grad=True)
    y = _module("sinc")(x)
    (grad,) = torch.autograd.grad(y.sum(), x)
    expected_grad = [0.0] + [(math.cos(v) * v - math.sin(v)) / v**2 if abs(v) > 1e-6 else -v / 3
                             for v in x.tolist()[1:]]
    assert y[0].item() == 1.0
    np.testing.assert_allclose(y.detach().numpy(), np.array([1.0, 1.0, 1.0, 1 - 1e-8 / 6]),
                               rtol=1e-15)
    np.testing.assert_allclose(grad.numpy(), expected_grad, rtol=1e-6, atol=1e-15)
