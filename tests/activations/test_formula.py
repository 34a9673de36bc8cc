"""Formula strings: correct values, learnable betas, and a whitelist that holds."""

from __future__ import annotations

import copy
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from actsearch import activations
from actsearch.activations import Formula
from actsearch.errors import ActivationParameterError, InvalidFormulaError, UsageError
from tests.activations.reference import sigmoid, softplus, tanh

X = np.linspace(-8, 8, 321)


def _eval(expression: str, **params: float) -> np.ndarray:
    module = activations.create(expression, **params).double()
    with torch.no_grad():
        return module(torch.from_numpy(X)).numpy()


@pytest.mark.parametrize(("expression", "reference"), [
    ("x * sigmoid(1.5 * x)", lambda x: x * sigmoid(1.5 * x)),
    ("max(x, sigmoid(x))", lambda x: np.maximum(x, sigmoid(x))),
    ("x * tanh(softplus(x))", lambda x: x * tanh(softplus(x))),
    ("max(x, 0)", lambda x: np.maximum(x, 0)),
    ("min(0, x) + 2", lambda x: np.minimum(x, 0) + 2),
    ("x / (1 + abs(x))", lambda x: x / (1 + np.abs(x))),
    ("-x**2 + 3*x - 1", lambda x: -(x**2) + 3 * x - 1),
    ("2 / (1 + exp(-x))", lambda x: 2 * sigmoid(x)),
    ("x**3 - x", lambda x: x**3 - x),
    ("cos(x) * sin(x) - atan(x)", lambda x: np.cos(x) * np.sin(x) - np.arctan(x)),
    ("exp(-(x - 1)**2) + erf(x)", lambda x: np.exp(-((x - 1) ** 2))
     + np.vectorize(__import__("math").erf)(x)),
    ("log(abs(x) + 1e-6) - sqrt(abs(x))", lambda x: np.log(np.abs(x) + 1e-6) - np.sqrt(np.abs(x))),
    ("asinh(x) + sinc(x) + gaussian(x) + relu(x) - square(x)",
     lambda x: np.arcsinh(x) + np.where(x == 0, 1, np.sin(x) / np.where(x == 0, 1, x))
     + np.exp(-(x**2)) + np.maximum(x, 0) - x**2),
    ("x - pi * e", lambda x: x - np.pi * np.e),
    ("sinh(x) / cosh(x)", np.tanh),
])
def test_formula_matches_numpy(expression: str, reference: object) -> None:
    np.testing.assert_allclose(_eval(expression), reference(X), rtol=1e-10, atol=1e-10)  # type: ignore[operator]


def test_formula_betas_are_learnable_parameters() -> None:
    module = activations.create("x * sigmoid(beta * x) + beta2", beta=1.5)
    params = dict(module.named_parameters())
    assert set(params) == {"betas.beta", "betas.beta2"}
    assert params["betas.beta"].item() == 1.5
    assert params["betas.beta2"].item() == 1.0
    optimizer = torch.optim.SGD(module.parameters(), lr=0.5)
    x = torch.randn(512)
    for _ in range(3):
        optimizer.zero_grad()
        (module(x) - torch.relu(x)).square().mean().backward()
        optimizer.step()
    assert params["betas.beta"].item() != 1.5
    with pytest.raises(ActivationParameterError, match="no parameter gamma"):
        activations.create("x * beta", gamma=2.0)


def test_formula_survives_pickle_and_deepcopy() -> None:
    module = activations.create("x * sigmoid(beta * x)", beta=2.0)
    x = torch.linspace(-3, 3, 13)
    for clone in (pickle.loads(pickle.dumps(module)), copy.deepcopy(module)):
        torch.testing.assert_close(clone(x), module(x))
        assert dict(clone.named_parameters())["betas.beta"].item() == 2.0


def test_formula_gradient_is_exact() -> None:
    module = activations.create("x * sigmoid(beta * x) + max(x, sin(x))").double()
    x = torch.tensor([-2.3, -0.7, 0.4, 1.9, 3.3], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(module, (x,))


def test_canonical_label_of_a_formula_is_its_stripped_text() -> None:
    assert activations.canonical("  x * sigmoid(x) ") == "x * sigmoid(x)"
    assert activations.canonical("Swish") == "silu"


HOSTILE = [
    "__import__('os').system('touch {canary}')",
    "__import__('os')",
    "().__class__.__bases__[0].__subclasses__()",
    "x.__class__",
    "open('{canary}', 'w')",
    "eval('1')",
    "exec('import os')",
    "lambda x: x",
    "(lambda: 1)()",
    "[x for x in range(10)]",
    "x if x else 0",
    "x[0]",
    "x > 0",
    "x and 1",
    "(y := x)",
    "f'{{x}}'",
    "'x'",
    "b'x'",
    "x @ x",
    "x ^ 2",
    "x % 2",
    "x // 2",
    "~x",
    "not x",
    "*x",
    "sigmoid(x, dim=0)",
    "tanh()",
    "max(x)",
    "torch.relu(x)",
    "globals()",
    "x ** x",
    "2 ** 10000",
    "x ** 1000",
    "1e999 * x",
    "x / 0",
    "1j * x",
    "True * x",
    "None",
    "y * x",
    "beta",
    "3.0",
    "gelu(x)",
    "",
    "   ",
    "(x",
    "x)",
    "((x) * (sigmoid(x)",
    "x +",
    "x\x00",
    "x" + " + x" * 200,
    "(" * 200 + "x" + ")" * 200,
    "-" * 300 + "x",
]


@pytest.mark.parametrize("expression", HOSTILE)
def test_hostile_and_malformed_formulas_are_rejected(expression: str, tmp_path: Path) -> None:
    canary = tmp_path / "canary"
    text = expression.replace("{canary}", str(canary))
    with pytest.raises((InvalidFormulaError, ActivationParameterError, UsageError)) as err:
        activations.create(text)
    assert isinstance(err.value, UsageError)
    message = str(err.value)
    assert "\n" not in message
    assert len(message) < 400
    assert not canary.exists()


def test_rejection_messages_name_the_problem_and_the_fix() -> None:
    cases = {
        "x.__class__": "attribute access is not allowed",
        "(x": "syntax error",
        "foo(x)": "unknown function 'foo'",
        "tanh(x) * y": "unknown name 'y'",
        "x ** x": "exponent of \\*\\* is not a constant",
        "x" * 300: "characters long",
        "beta * 2": "does not depend on x",
        "sigmod(x)": "did you mean sigmoid",
    }
    for expression, pattern in cases.items():
        with pytest.raises(InvalidFormulaError, match=pattern):
            Formula(expression)
