"""Activation functions: the catalogue, its registry, formula strings and plots.

>>> from actsearch import activations
>>> activations.create("leaky_relu", negative_slope=0.2)
LeakyReLU(negative_slope=0.2)
>>> activations.create("x * sigmoid(1.5 * x)")
Formula('x * sigmoid(1.5 * x)')
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Union

from torch import Tensor, nn

from actsearch.activations._adaptive import (
    APL,
    Logistic,
    Rational,
    SoftExponential,
    SReLU,
    SwishBeta,
)
from actsearch.activations._catalogue import register_builtins
from actsearch.activations._fixed import (
    Arctan,
    BentIdentity,
    BinaryStep,
    FunctionActivation,
    Gaussian,
    Sinc,
    Sinusoid,
    SquaredReLU,
)
from actsearch.activations._formula import BINARY_FUNCTIONS, UNARY_FUNCTIONS, Formula
from actsearch.activations._init import (
    INIT_MODES,
    SCHEMES,
    Initialisation,
    InitMode,
    dropout_module,
    initialise,
)
from actsearch.activations._init import VARIANCE as _VARIANCE
from actsearch.activations._maxout import Maxout, width_factor
from actsearch.activations._registry import (
    ENTRY_POINT_GROUP,
    ActivationInfo,
    info,
    is_known,
    names,
    normalize_name,
    register_activation,
    registry,
    reload_plugins,
    resolve_name,
    unregister,
)
from actsearch.activations._registry import build as _build
from actsearch.activations._sampler import sample_formula, sample_formulas
from actsearch.errors import ActivationParameterError, InvalidFormulaError

__all__ = [
    "APL",
    "BINARY_FUNCTIONS",
    "ENTRY_POINT_GROUP",
    "INIT_MODES",
    "SCHEMES",
    "UNARY_FUNCTIONS",
    "ActivationInfo",
    "ActivationSpec",
    "Arctan",
    "BentIdentity",
    "BinaryStep",
    "Formula",
    "FunctionActivation",
    "Gaussian",
    "InitMode",
    "Initialisation",
    "Logistic",
    "Maxout",
    "Rational",
    "SReLU",
    "Sinc",
    "Sinusoid",
    "SoftExponential",
    "SquaredReLU",
    "SwishBeta",
    "canonical",
    "create",
    "dropout_module",
    "info",
    "init_rule",
    "initialise",
    "is_known",
    "names",
    "register_activation",
    "registry",
    "reload_plugins",
    "sample_formula",
    "sample_formulas",
    "unregister",
    "width_factor",
]

ActivationSpec = Union[str, nn.Module, type[nn.Module], Callable[[Tensor], Tensor]]  # noqa: UP007

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")

register_builtins()


def _formula(spec: str, **params: Any) -> Formula:
    """Compile ``spec`` as a formula; if it fails and reads like a name, say "unknown name"."""
    try:
        return Formula(spec, **params)
    except InvalidFormulaError:
        if _IDENTIFIER.match(normalize_name(spec)):
            resolve_name(spec)  # raises UnknownActivationError listing the closest names
        raise


def canonical(spec: str) -> str:
    """The stable label of a string spec: the canonical name, or the stripped formula.

    Searches store this label, so ``"ReLU"`` and ``"relu"`` count as one choice.
    """
    if is_known(spec):
        return resolve_name(spec)
    return _formula(spec).expression


def init_rule(spec: str) -> Initialisation:
    """How the layer before the function ``spec`` is initialised: a catalogue or plugin
    entry's own rule, the variance-preserving default for a formula string."""
    if is_known(spec):
        return info(spec).init
    return _VARIANCE


def create(spec: ActivationSpec, **params: Any) -> nn.Module:
    """Build an activation module from a name, alias, formula, module class or callable.

    Args:
        spec: A canonical name or alias (``"relu"``, ``"swish"``), a formula string
            (``"x * sigmoid(1.5 * x)"``), an ``nn.Module`` class or instance (passed through),
            or a tensor function such as ``torch.tanh`` (wrapped as a module).
        **params: Parameters of the activation, overriding its defaults (for a formula: the
            initial values of its betas).

    Returns:
        A new ``nn.Module`` (or ``spec`` itself when it already is one).

    Raises:
        UnknownActivationError: ``spec`` looks like a name but is not registered; the
            message lists the closest known names.
        InvalidFormulaError: ``spec`` is a malformed or disallowed formula.
        ActivationParameterError: A parameter the activation does not take.
    """
    if isinstance(spec, nn.Module):
        if params:
            raise ActivationParameterError(
                f"cannot apply parameters {sorted(params)} to an existing module {spec!r}; "
                "pass its class or name instead"
            )
        return spec
    if isinstance(spec, type) and issubclass(spec, nn.Module):
        return spec(**params)
    if isinstance(spec, str):
        if is_known(spec):
            return _build(spec, params)
        return _formula(spec, **params)
    if callable(spec) and not isinstance(spec, type):
        if params:
            raise ActivationParameterError(
                f"cannot apply parameters {sorted(params)} to the function {spec!r}; bind them "
                "with functools.partial first"
            )
        return FunctionActivation(spec)
    raise ActivationParameterError(
        f"activation spec {spec!r} is a {type(spec).__name__}; use a name, a formula string, "
        "an nn.Module or a tensor function"
    )
