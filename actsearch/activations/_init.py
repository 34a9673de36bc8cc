"""How each activation wants the layer before it initialised, as its authors prescribe.

An activation is only judged fairly when the network starts where the function's authors
start it: a SELU network is self-normalising only with LeCun-normal weights and alpha-dropout
(Klambauer et al. 2017), a sine network learns fine detail only with SIREN's weights
(Sitzmann et al. 2020), rectifiers keep their signal with He et al. (2015)'s gain. Each
catalogue entry names its :class:`Initialisation`; the model builders apply it to the linear
or convolutional layer that feeds the activation (:func:`initialise`).

Schemes (``fan_in`` counts the inputs of one unit: ``in_features``, or ``C_in * k * k``):

- ``he``: weights ~ N(0, gain² / fan_in), gain = sqrt(2 / (1 + a²)) for a negative slope a
  (He et al. 2015, eq. 10 and 15).
- ``lecun``: weights ~ N(0, 1 / fan_in) (LeCun et al. 1998; Klambauer et al. 2017 for SELU,
  with alpha-dropout).
- ``glorot``: weights ~ U(-b, b), b = gain * sqrt(6 / (fan_in + fan_out)) (Glorot & Bengio
  2010), with ``torch.nn.init.calculate_gain``'s gain where it has one (tanh 5/3, sigmoid 1)
  and the function's variance-preserving gain (below) for the rest of the kin.
- ``siren``: SIREN's scheme for sin (Sitzmann et al. 2020, sec. 3.2). A layer after another
  layer: weights ~ U(-sqrt(6 / fan_in), sqrt(6 / fan_in)), which keeps every sine's input
  close to N(0, 1) whatever the depth, biases ~ U(±1/sqrt(fan_in)). The layer that reads the
  network's input has SIREN's first-layer form, weights ~ U(-ω0 / fan_in, ω0 / fan_in), with
  ω0 = :data:`SIREN_INPUT_FREQUENCY` chosen for standardised features (SIREN's 30 is for
  coordinates in [-1, 1] of images and sounds), and biases ~ U(-π, π), so units start at
  every phase as SIREN's ω0-scaled biases do.
- ``variance``: the stated default for every other function, formula strings and plugins:
  He et al.'s variance argument applied to the function itself, weights ~ N(0, gain² /
  fan_in) with gain = 1 / sqrt(E[f(z)²]), z ~ N(0, 1), computed from the module (for ReLU it
  gives He's sqrt(2), for SELU LeCun's 1); gain 1 on the layer that reads the standardised
  input, which needs no correction for a function before it.
- ``torch``: PyTorch's default (Kaiming-uniform with a = sqrt(5), what ``nn.Linear`` and
  ``nn.Conv2d`` draw when built): for comparison, and what spaces saying ``init: torch`` get.

Outside ``siren``, biases keep PyTorch's draw, U(±1/sqrt(fan_in)); the rules set the weights'
scale. ``benchmarks/init_rules.py`` measures each choice made here.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import Tensor, nn

Scheme = Literal["he", "lecun", "glorot", "siren", "variance", "torch"]
SCHEMES: tuple[Scheme, ...] = ("he", "lecun", "glorot", "siren", "variance", "torch")
# How the builders initialise: each layer for the activation that follows it, or PyTorch's
# defaults everywhere (a space's ``init: torch``, and studies recorded before this rule).
InitMode = Literal["activation", "torch"]
INIT_MODES: tuple[InitMode, ...] = ("activation", "torch")

# SIREN's ω0 for the layer that reads standardised features: weights ~ U(-ω0/fan_in, ω0/fan_in)
# as SIREN's first layer, with 3 where SIREN uses 30 for coordinates. Measured
# (benchmarks/init_rules.py): of 1, 3, 6, 10 and 30, 3 fitted a target periodic in two of four
# features best and still fits a high-frequency 1D signal; 30 fits the noise features too.
SIREN_INPUT_FREQUENCY = 3.0
# The variance default's gain is kept within these bounds: a function whose second moment
# is near 0 or huge at N(0, 1) (a constant formula, x**4) would otherwise get an extreme one.
GAIN_BOUNDS = (0.1, 10.0)
_GRID_POINTS = 4096
_HE_SOURCE = "He et al. 2015 (Delving deep into rectifiers), eq. 10 and 15"

# The negative slope of an activation module as built (its parameters applied).
SlopeOf = Callable[[nn.Module], float]


@dataclass(frozen=True)
class Initialisation:
    """How the layer feeding an activation is initialised.

    Attributes:
        scheme: One of :data:`SCHEMES` (see the module docstring).
        source: Where the scheme comes from, for people reading the catalogue.
        gain: The gain of a ``glorot`` scheme; ``None``: the function's variance-preserving
            gain (as the ``variance`` scheme computes it).
        slope: For ``he``: the negative slope of the function as built (0 for ReLU);
            ``None`` means 0.
        alpha_dropout: Dropout after this activation is alpha-dropout (SELU's, which keeps
            the self-normalising mean and variance), not standard dropout.
    """

    scheme: Scheme
    source: str
    gain: float | None = None
    slope: SlopeOf | None = None
    alpha_dropout: bool = False

    def gain_for(self, activation: nn.Module) -> float | None:
        """The gain this rule draws with for ``activation`` (``None``: no gain applies)."""
        if self.scheme == "he":
            a = self.slope(activation) if self.slope is not None else 0.0
            return math.sqrt(2.0 / (1.0 + a * a))
        if self.scheme == "lecun":
            return 1.0
        if self.scheme == "glorot" and self.gain is not None:
            return self.gain
        if self.scheme in ("glorot", "variance"):
            return variance_gain(activation)
        return None

    def describe(self, activation: nn.Module | None = None) -> str:
        """One line, e.g. ``He normal (fan in), gain 1.414``; the gain is shown when it is
        known without ``activation`` (the function as built) or ``activation`` is given."""
        text = {
            "he": "He normal (fan in)",
            "lecun": "LeCun normal (fan in)",
            "glorot": "Glorot uniform (fan in + fan out)",
            "siren": (f"SIREN: U(±sqrt(6/fan_in)); on the input layer U(±ω0/fan_in), "
                      f"ω0 = {SIREN_INPUT_FREQUENCY:g}, phases U(-π, π)"),
            "variance": "variance-preserving normal (fan in), gain 1/sqrt(E[f(z)²])",
            "torch": "PyTorch's default",
        }[self.scheme]
        if self.scheme == "he" and (self.slope is None or activation is not None):
            text += f", gain {self.gain_for(activation or nn.ReLU()):.3f}"
        elif self.scheme == "he":
            text += ", gain sqrt(2/(1 + a²)) for its negative slope a"
        elif self.scheme == "glorot" and self.gain is not None:
            text += f", gain {self.gain:.3f}"
        elif self.scheme == "glorot":
            text += ", gain 1/sqrt(E[f(z)²])"
        if self.scheme in ("glorot", "variance") and self.gain is None and activation is not None:
            text += f" = {variance_gain(activation):.3f}"
        if self.alpha_dropout:
            text += "; alpha-dropout"
        return text

    def to_dict(self, activation: nn.Module | None = None) -> dict[str, Any]:
        return {"scheme": self.scheme, "description": self.describe(activation),
                "source": self.source,
                "dropout": "alpha" if self.alpha_dropout else "standard"}


def he(slope: SlopeOf | None = None, source: str = _HE_SOURCE) -> Initialisation:
    """He et al.'s rule, for a function with negative slope ``slope(params)`` (0: ReLU)."""
    return Initialisation("he", source, slope=slope)


def slope_attribute(name: str) -> SlopeOf:
    """The negative slope is the module's attribute ``name`` (LeakyReLU's
    ``negative_slope``); a learnable one is averaged over its channels (PReLU's ``weight``)."""
    return lambda module: float(torch.as_tensor(getattr(module, name)).detach().float().mean())


LECUN = Initialisation("lecun", "LeCun et al. 1998 (Efficient BackProp)")
SELU_INIT = Initialisation(
    "lecun", "Klambauer et al. 2017 (Self-normalizing neural networks): LeCun normal weights "
    "and alpha-dropout", alpha_dropout=True)
SIREN = Initialisation(
    "siren", "Sitzmann et al. 2020 (SIREN), sec. 3.2; the input layer adapted to "
    "standardised features")
VARIANCE = Initialisation(
    "variance", "the stated default: He et al. 2015's variance argument applied to the "
    "function, gain 1/sqrt(E[f(z)²]) for z ~ N(0, 1)")
TORCH = Initialisation("torch", "PyTorch's nn.Linear / nn.Conv2d defaults")


def glorot(gain: float | None = None) -> Initialisation:
    """Glorot & Bengio's rule with ``gain``: torch.nn.init.calculate_gain's where it has one
    (tanh 5/3, sigmoid 1), else the function's variance-preserving gain."""
    where = ("the gain as torch.nn.init.calculate_gain" if gain is not None else
             "the gain 1/sqrt(E[f(z)²]) of the function")
    return Initialisation("glorot", f"Glorot & Bengio 2010, {where}", gain=gain)


BY_NAME: Mapping[str, Initialisation] = {
    "he": he(), "lecun": LECUN, "selu": SELU_INIT, "glorot": glorot(),
    "siren": SIREN, "variance": VARIANCE, "torch": TORCH,
}


def as_initialisation(value: Initialisation | str) -> Initialisation:
    """An :class:`Initialisation`, or one of :data:`BY_NAME`'s short names.

    Raises:
        ValueError: An unknown short name.
    """
    if isinstance(value, Initialisation):
        return value
    try:
        return BY_NAME[value]
    except KeyError:
        raise ValueError(f"unknown initialisation {value!r}: use one of "
                         f"{', '.join(BY_NAME)} or an Initialisation") from None


def second_moment(activation: nn.Module) -> float:
    """E[f(z)²] for z ~ N(0, 1), per output unit of ``activation``.

    Element-wise functions are integrated on a grid of normal quantiles (deterministic, and
    no draw from the global random generator, so seeding a trial stays as it was); a function
    that takes ``k`` inputs per unit (maxout) is averaged over fixed random draws.
    """
    k = int(getattr(activation, "width_factor", 1))
    with torch.no_grad():
        if k == 1:
            p = (torch.arange(_GRID_POINTS, dtype=torch.float64) + 0.5) / _GRID_POINTS
            z = (math.sqrt(2.0) * torch.erfinv(2 * p - 1)).float().unsqueeze(1)
        else:
            generator = torch.Generator().manual_seed(0)
            z = torch.randn(_GRID_POINTS, k, generator=generator)
        # In the module's own mode: a network is built in training mode.
        out: Tensor = activation(z)
        return float(out.double().pow(2).mean())


def variance_gain(activation: nn.Module) -> float:
    """1 / sqrt(E[f(z)²]), within :data:`GAIN_BOUNDS`; 1 where the moment is not finite."""
    moment = second_moment(activation)
    if not math.isfinite(moment) or moment <= 0:
        return 1.0
    low, high = GAIN_BOUNDS
    return min(max(1.0 / math.sqrt(moment), low), high)


def _fans(weight: Tensor) -> tuple[int, int]:
    receptive = int(weight[0][0].numel()) if weight.dim() > 2 else 1
    return int(weight.shape[1]) * receptive, int(weight.shape[0]) * receptive


def initialise(layer: nn.Module, rule: Initialisation, activation: nn.Module, *,
               reads_input: bool = False) -> None:
    """Draw ``layer``'s weights and biases (a Linear or Conv) for the ``activation`` after it.

    Args:
        layer: The layer whose output ``activation`` takes.
        rule: The activation's rule.
        activation: The activation as built (a leaky slope changes He's gain).
        reads_input: ``layer`` reads the network's (standardised) input: SIREN's first layer.

    Draws from torch's global generator, as the layers' own constructors do, so a seeded
    trial builds the same network every time.
    """
    weight = getattr(layer, "weight", None)
    bias = getattr(layer, "bias", None)
    if rule.scheme == "torch" or not isinstance(weight, Tensor):
        return
    fan_in, fan_out = _fans(weight)
    with torch.no_grad():
        if rule.scheme == "siren":
            if reads_input:
                bound = SIREN_INPUT_FREQUENCY / fan_in
                bias_bound = math.pi
            else:
                bound = math.sqrt(6.0 / fan_in)
                bias_bound = 1.0 / math.sqrt(fan_in)
            weight.uniform_(-bound, bound)
            if isinstance(bias, Tensor):
                bias.uniform_(-bias_bound, bias_bound)
            return
        gain = rule.gain_for(activation)
        assert gain is not None
        if reads_input and rule.scheme == "variance":
            # The computed gain makes a unit-variance pre-activation's output unit in second
            # moment for the next layer; standardised inputs already are, so the layer that
            # reads them keeps them there (He et al. 2015 make the same remark of their first
            # layer, and keep their rule there for simplicity).
            gain = 1.0
        if rule.scheme == "glorot":
            bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
            weight.uniform_(-bound, bound)
        else:
            weight.normal_(0.0, gain / math.sqrt(fan_in))
        # Biases keep PyTorch's draw, U(±1/sqrt(fan_in)): the rules set the weights' scale.
        # Zero biases (He et al.'s choice) put every first-layer kink at the origin of the
        # standardised inputs, which fitted worse on low-dimensional data (init_rules.py).


def dropout_module(rule: Initialisation | None, p: float) -> nn.Module:
    """The dropout that belongs after an activation with ``rule``."""
    if rule is not None and rule.alpha_dropout:
        return nn.AlphaDropout(p)
    return nn.Dropout(p)
