"""The built-in catalogue: every function of the classic activation surveys, and those since.

Torch built-ins are used wherever they exist. Properties are stated at default parameters and
checked numerically by the test suite (tests/activations/test_properties.py). Each entry names
how the layer before it is initialised (``init``, :mod:`actsearch.activations._init`): the
rule its authors prescribe where there is one, the variance-preserving default elsewhere.
"""

from __future__ import annotations

import math
from typing import Any

from torch import nn

from actsearch.activations._adaptive import (
    APL,
    Logistic,
    Rational,
    SoftExponential,
    SReLU,
    SwishBeta,
)
from actsearch.activations._fixed import (
    Arctan,
    BentIdentity,
    BinaryStep,
    Gaussian,
    Sinc,
    Sinusoid,
    SquaredReLU,
)
from actsearch.activations._init import (
    LECUN,
    SELU_INIT,
    SIREN,
    VARIANCE,
    Initialisation,
    glorot,
    he,
    slope_attribute,
)
from actsearch.activations._maxout import Maxout
from actsearch.activations._registry import ActivationInfo, Factory, register

INF = math.inf
SEED = ("classic activation-function surveys (e.g. deeplizard's \"Activation Functions in a "
        "Neural Network explained\")")


def _rrelu_slope(module: nn.Module) -> float:
    assert isinstance(module, nn.RReLU)
    return (module.lower + module.upper) / 2


def _gelu_tanh() -> nn.Module:
    return nn.GELU(approximate="tanh")


def _add(name: str, factory: Factory, formula: str, latex: str, *,
         rng: tuple[float, float], monotonic: bool, smooth: bool, zero_centered: bool,
         family: str, reference: str, description: str, params: dict[str, Any] | None = None,
         aliases: tuple[str, ...] = (), learnable: bool = False, elementwise: bool = True,
         width_factor: int = 1, torch_equivalent: str | None = None,
         init: Initialisation = VARIANCE) -> None:
    register(ActivationInfo(
        name=name, factory=factory, formula=formula, latex=latex, params=params or {},
        learnable=learnable, range=rng, monotonic=monotonic, smooth=smooth,
        zero_centered=zero_centered, family=family, reference=reference,
        description=description, aliases=aliases, elementwise=elementwise,
        width_factor=width_factor, torch_equivalent=torch_equivalent, init=init,
    ))


def register_builtins() -> None:
    """Register the catalogue (called once when the package is imported)."""
    # --- The classic functions every survey lists ----------------------------------------
    _add("identity", nn.Identity, "x", r"x", aliases=("linear",),
         rng=(-INF, INF), monotonic=True, smooth=True, zero_centered=True, family="linear",
         reference=SEED, torch_equivalent="torch.nn.Identity",
         description="No non-linearity; rarely useful in hidden layers, the output "
                     "activation for regression.",
         init=LECUN)
    _add("binary_step", BinaryStep, "1 if x >= θ else 0",
         r"\mathbb{1}[x \ge \theta]", aliases=("step", "heaviside"),
         params={"threshold": 0.0, "straight_through": "clipped"},
         rng=(0.0, 1.0), monotonic=True, smooth=False, zero_centered=False, family="step",
         reference="Rosenblatt 1958; straight-through estimator: Bengio et al. 2013",
         description="Fires or not. Its true gradient is 0, so training uses a straight-"
                     "through gradient: 'clipped' (1 where |x-θ| <= 1) by default, or "
                     "'identity', or 'none' for the true gradient.")
    _add("sigmoid", nn.Sigmoid, "1 / (1 + exp(-x))", r"\sigma(x) = \frac{1}{1 + e^{-x}}",
         aliases=("logistic_sigmoid",), rng=(0.0, 1.0), monotonic=True, smooth=True,
         zero_centered=False, family="sigmoidal", reference=SEED,
         torch_equivalent="torch.nn.Sigmoid",
         description="Squashes to (0, 1); saturates and kills gradients at both tails, and "
                     "its outputs are not zero-centred. σ' = σ(1-σ).",
         init=glorot(1.0))
    _add("logistic", Logistic, "L / (1 + exp(-k (x - x0)))",
         r"\frac{L}{1 + e^{-k(x - x_0)}}",
         params={"L": 1.0, "k": 1.0, "x0": 0.0, "learnable": False, "num_parameters": 1},
         rng=(0.0, 1.0), monotonic=True, smooth=True, zero_centered=False,
         family="sigmoidal", reference="generalised logistic, seed 003",
         torch_equivalent="torch.sigmoid",
         description="The generalised logistic curve with maximum L, steepness k and "
                     "midpoint x0, fixed or learnable; L=k=1, x0=0 is the sigmoid.",
         init=glorot())
    _add("tanh", nn.Tanh, "(1 - exp(-2x)) / (1 + exp(-2x))", r"\tanh(x)",
         rng=(-1.0, 1.0), monotonic=True, smooth=True, zero_centered=True,
         family="sigmoidal", reference=SEED, torch_equivalent="torch.nn.Tanh",
         description="A zero-centred sigmoid, tanh(x) = 2σ(2x) - 1, preferred to the "
                     "sigmoid in hidden layers; still saturates.",
         init=glorot(5.0 / 3.0))
    _add("relu", nn.ReLU, "max(0, x)", r"\max(0, x)", rng=(0.0, INF), monotonic=True,
         smooth=False, zero_centered=False, family="rectifier",
         reference="Nair & Hinton 2010; seeds", torch_equivalent="torch.nn.ReLU",
         description="The default for hidden layers: cheap, does not saturate for x > 0. "
                     "Units can die (never activate again): watch the dead-unit fraction.",
         init=he(source="He et al. 2015 (Delving deep into rectifiers), eq. 10"))
    _add("leaky_relu", nn.LeakyReLU, "x if x >= 0 else α x",
         r"\max(x, \alpha x)", params={"negative_slope": 0.01}, aliases=("lrelu",),
         rng=(-INF, INF), monotonic=True, smooth=False, zero_centered=False,
         family="rectifier", reference="Maas et al. 2013", torch_equivalent="torch.nn.LeakyReLU",
         description="ReLU with a small slope (α = 0.01) for x < 0, so units cannot die.",
         init=he(slope_attribute("negative_slope")))
    _add("prelu", nn.PReLU, "max(x, α x), α learnable", r"\max(x, \alpha x)",
         params={"num_parameters": 1, "init": 0.25}, learnable=True,
         rng=(-INF, INF), monotonic=True, smooth=False, zero_centered=False,
         family="rectifier", reference="He et al. 2015", torch_equivalent="torch.nn.PReLU",
         description="Leaky ReLU whose negative slope is learned, shared (num_parameters=1) "
                     "or per channel; starts at 0.25.",
         init=he(slope_attribute("weight"),
                 source="He et al. 2015, eq. 15, with the initial slope"))
    _add("rrelu", nn.RReLU, "x if x >= 0 else a x; train: a ~ U(l, u); eval: a = (l + u)/2",
         r"x \ge 0 \,?\, x : a x,\ a \sim U(l, u)",
         params={"lower": 1.0 / 8.0, "upper": 1.0 / 3.0}, aliases=("randomized_relu",),
         rng=(-INF, INF), monotonic=True, smooth=False, zero_centered=False,
         family="rectifier", reference="Xu et al. 2015 (NDSB); seed 003",
         torch_equivalent="torch.nn.RReLU",
         description="Leaky ReLU with a random slope per element in training, fixed at "
                     "(l+u)/2 in evaluation; the NDSB form x/a, a ~ U(3, 8) is the same family "
                     "(slopes 1/a in [1/8, 1/3]).",
         init=he(_rrelu_slope, source="He et al. 2015, eq. 15, with RReLU's mean slope (l + u)/2"))
    _add("softplus", nn.Softplus, "ln(1 + exp(β x)) / β", r"\frac{1}{\beta}\ln(1 + e^{\beta x})",
         params={"beta": 1.0, "threshold": 20.0}, rng=(0.0, INF), monotonic=True,
         smooth=True, zero_centered=False, family="exponential",
         reference="Dugas et al. 2001; seed 003", torch_equivalent="torch.nn.Softplus",
         description="A smooth ReLU; its derivative is the sigmoid. Linear above the "
                     "threshold so it cannot overflow.")
    _add("elu", nn.ELU, "x if x > 0 else α (exp(x) - 1)",
         r"x > 0 \,?\, x : \alpha(e^x - 1)", params={"alpha": 1.0}, rng=(-1.0, INF),
         monotonic=True, smooth=True, zero_centered=False, family="exponential",
         reference="Clevert et al. 2016", torch_equivalent="torch.nn.ELU",
         description="Exponential for x < 0: negative outputs pull mean activations toward "
                     "zero. Differentiable everywhere at α = 1.",
         init=he(source="Clevert et al. 2016 (ELU), initialised as He et al. 2015"))
    _add("srelu", SReLU,
         "t_r + a_r (x - t_r) if x >= t_r; x if t_l < x < t_r; t_l + a_l (x - t_l) if x <= t_l",
         r"\begin{cases} t_r + a_r(x - t_r) & x \ge t_r \\ x & t_l < x < t_r \\ "
         r"t_l + a_l(x - t_l) & x \le t_l \end{cases}",
         params={"t_left": -1.0, "a_left": 0.1, "t_right": 1.0, "a_right": 1.0,
                 "num_parameters": 1},
         learnable=True, rng=(-INF, INF), monotonic=True, smooth=False, zero_centered=True,
         family="rectifier", reference="Jin et al. 2016",
         description="S-shaped ReLU: identity between two learned thresholds, learned "
                     "slopes outside them.")
    _add("apl", APL, "max(0, x) + Σ_s a_s max(0, -x + b_s)",
         r"\max(0, x) + \sum_{s=1}^{S} a_s \max(0, -x + b_s)",
         params={"hinges": 2, "a_init": 0.1, "b_span": 1.0, "num_parameters": 1},
         aliases=("adaptive_piecewise_linear",), learnable=True, rng=(0.0, INF),
         monotonic=False, smooth=False, zero_centered=False, family="rectifier",
         reference="Agostinelli et al. 2014",
         description="Adaptive piecewise linear: ReLU plus S learned hinges.")
    _add("maxout", Maxout, "max_j (w_j·x + b_j), j = 1..k", r"\max_{j} (w_j^T x + b_j)",
         params={"k": 2}, rng=(-INF, INF), monotonic=True, smooth=False,
         zero_centered=False, family="maxout", elementwise=False, width_factor=2,
         reference="Goodfellow et al. 2013",
         description="Max over k linear pieces per unit: the layer before must be k times "
                     "wider (model builders read width_factor).")
    _add("softmax", nn.Softmax, "exp(z_j) / Σ_k exp(z_k)",
         r"\frac{e^{z_j}}{\sum_k e^{z_k}}", params={"dim": 1}, rng=(0.0, 1.0),
         monotonic=False, smooth=True, zero_centered=False, family="output",
         elementwise=False, reference=SEED, torch_equivalent="torch.nn.Softmax",
         description="The output activation for multi-class classification; actsearch fuses "
                     "it with the cross-entropy loss and never applies it twice. Usable in a "
                     "hidden layer, where it normalises across units.")
    _add("arctan", Arctan, "arctan(x)", r"\tan^{-1}(x)", aliases=("atan",),
         rng=(-math.pi / 2, math.pi / 2), monotonic=True, smooth=True, zero_centered=True,
         family="sigmoidal", reference=SEED, torch_equivalent="torch.atan",
         description="A sigmoidal curve with polynomial (not exponential) tails.",
         init=glorot())
    _add("softsign", nn.Softsign, "x / (1 + |x|)", r"\frac{x}{1 + |x|}", rng=(-1.0, 1.0),
         monotonic=True, smooth=True, zero_centered=True, family="sigmoidal",
         reference="Bergstra et al. 2009", torch_equivalent="torch.nn.Softsign",
         description="Like tanh with slower, polynomial saturation.",
         init=glorot())
    _add("bent_identity", BentIdentity, "(sqrt(x² + 1) - 1)/2 + x",
         r"\frac{\sqrt{x^2 + 1} - 1}{2} + x", rng=(-INF, INF), monotonic=True, smooth=True,
         zero_centered=False, family="linear", reference=SEED,
         description="Identity bent upward: slope between 1/2 and 3/2.")
    _add("soft_exponential", SoftExponential,
         "-ln(1 - α(x + α))/α if α < 0; x if α = 0; (exp(α x) - 1)/α + α if α > 0",
         r"\begin{cases} -\frac{\ln(1 - \alpha(x + \alpha))}{\alpha} & \alpha < 0 \\ x & "
         r"\alpha = 0 \\ \frac{e^{\alpha x} - 1}{\alpha} + \alpha & \alpha > 0 \end{cases}",
         params={"alpha": 0.0, "num_parameters": 1}, learnable=True, rng=(-INF, INF),
         monotonic=True, smooth=True, zero_centered=True, family="exponential",
         reference="Godfrey & Gashler 2015",
         description="Learns to be logarithmic (α < 0), linear (α = 0) or exponential "
                     "(α > 0); starts as the identity.")
    _add("sinusoid", Sinusoid, "sin(x)", r"\sin(x)", aliases=("sin", "sine"),
         rng=(-1.0, 1.0), monotonic=False, smooth=True, zero_centered=True, family="periodic",
         reference=SEED, torch_equivalent="torch.sin",
         description="Periodic; used in implicit neural representations (SIREN).",
         init=SIREN)
    _add("sinc", Sinc, "sin(x)/x, 1 at x = 0", r"\frac{\sin x}{x}",
         rng=(-0.2173, 1.0), monotonic=False, smooth=True, zero_centered=False,
         family="periodic", reference=SEED,
         description="Damped oscillation with its peak at 0; exact at and near 0.")
    _add("gaussian", Gaussian, "exp(-x²)", r"e^{-x^2}", rng=(0.0, 1.0), monotonic=False,
         smooth=True, zero_centered=False, family="radial", reference=SEED,
         description="A bump at 0: responds to inputs near zero only, like an RBF unit.")
    # --- Widely used since ------------------------------------------------------------
    _add("gelu", nn.GELU, "x Φ(x)", r"x\,\Phi(x)", params={"approximate": "none"},
         rng=(-0.17, INF), monotonic=False, smooth=True, zero_centered=False, family="gated",
         reference="Hendrycks & Gimpel 2016", torch_equivalent="torch.nn.GELU",
         description="Input weighted by the normal CDF; the transformer default.")
    _add("gelu_tanh", _gelu_tanh, "0.5 x (1 + tanh(sqrt(2/π)(x + 0.044715 x³)))",
         r"\tfrac{x}{2}\left(1 + \tanh\left(\sqrt{2/\pi}(x + 0.044715x^3)\right)\right)",
         aliases=("gelu_approximate",), rng=(-0.1701, INF), monotonic=False, smooth=True,
         zero_centered=False, family="gated", reference="Hendrycks & Gimpel 2016",
         torch_equivalent="torch.nn.GELU",
         description="GELU's tanh approximation (GPT-2, BERT).")
    _add("silu", nn.SiLU, "x σ(x)", r"x\,\sigma(x)", aliases=("swish",), rng=(-0.2785, INF),
         monotonic=False, smooth=True, zero_centered=False, family="gated",
         reference="Elfwing et al. 2017; Ramachandran et al. 2017",
         torch_equivalent="torch.nn.SiLU",
         description="Self-gated: found by Ramachandran et al.'s function search.")
    _add("swish_beta", SwishBeta, "x σ(β x), β learnable", r"x\,\sigma(\beta x)",
         params={"beta": 1.0, "num_parameters": 1}, learnable=True, rng=(-0.2785, INF),
         monotonic=False, smooth=True, zero_centered=False, family="gated",
         reference="Ramachandran et al. 2017", torch_equivalent="torch.nn.functional.silu",
         description="Swish with a learned β: SiLU at β = 1, towards ReLU as β grows.")
    _add("mish", nn.Mish, "x tanh(softplus(x))", r"x \tanh(\ln(1 + e^x))", rng=(-0.3089, INF),
         monotonic=False, smooth=True, zero_centered=False, family="gated",
         reference="Misra 2019", torch_equivalent="torch.nn.Mish",
         description="Smooth, non-monotonic self-gated unit.")
    _add("selu", nn.SELU, "λ (x if x > 0 else α (exp(x) - 1))",
         r"\lambda\,(x > 0 \,?\, x : \alpha(e^x - 1))", rng=(-1.7581, INF), monotonic=True,
         smooth=False, zero_centered=True, family="exponential",
         reference="Klambauer et al. 2017", torch_equivalent="torch.nn.SELU",
         description="Scaled ELU whose fixed λ, α keep activations near zero mean and unit "
                     "variance (self-normalising, with LeCun-normal init).",
         init=SELU_INIT)
    _add("celu", nn.CELU, "max(0, x) + min(0, α (exp(x/α) - 1))",
         r"\max(0, x) + \min(0, \alpha(e^{x/\alpha} - 1))", params={"alpha": 1.0},
         rng=(-1.0, INF), monotonic=True, smooth=True, zero_centered=False,
         family="exponential", reference="Barron 2017", torch_equivalent="torch.nn.CELU",
         description="ELU reparametrised to be differentiable at 0 for every α.",
         init=he(source="Barron 2017: ELU's rule (Clevert et al. 2016, He et al. 2015)"))
    _add("hardswish", nn.Hardswish, "x relu6(x + 3)/6", r"x\,\frac{\mathrm{ReLU6}(x + 3)}{6}",
         aliases=("hard_swish",), rng=(-0.375, INF), monotonic=False, smooth=False,
         zero_centered=False, family="gated", reference="Howard et al. 2019 (MobileNetV3)",
         torch_equivalent="torch.nn.Hardswish",
         description="Piecewise-polynomial swish, cheap on mobile hardware.")
    _add("hardsigmoid", nn.Hardsigmoid, "relu6(x + 3)/6", r"\frac{\mathrm{ReLU6}(x + 3)}{6}",
         aliases=("hard_sigmoid",), rng=(0.0, 1.0), monotonic=True, smooth=False,
         zero_centered=False, family="sigmoidal", reference="Howard et al. 2019",
         torch_equivalent="torch.nn.Hardsigmoid",
         description="Piecewise-linear sigmoid.",
         init=glorot())
    _add("hardtanh", nn.Hardtanh, "clamp(x, min_val, max_val)",
         r"\max(-1, \min(1, x))", params={"min_val": -1.0, "max_val": 1.0},
         aliases=("hard_tanh",), rng=(-1.0, 1.0), monotonic=True, smooth=False,
         zero_centered=True, family="sigmoidal", reference="Collobert 2004",
         torch_equivalent="torch.nn.Hardtanh",
         description="Piecewise-linear tanh: identity clipped to [-1, 1].",
         init=glorot())
    _add("relu6", nn.ReLU6, "min(max(0, x), 6)", r"\min(\max(0, x), 6)", rng=(0.0, 6.0),
         monotonic=True, smooth=False, zero_centered=False, family="rectifier",
         reference="Krizhevsky 2010", torch_equivalent="torch.nn.ReLU6",
         description="ReLU capped at 6, robust to low-precision arithmetic.",
         init=he())
    _add("log_sigmoid", nn.LogSigmoid, "ln σ(x)", r"\ln \sigma(x)", aliases=("logsigmoid",),
         rng=(-INF, 0.0), monotonic=True, smooth=True, zero_centered=False,
         family="sigmoidal", reference="torch.nn.LogSigmoid",
         torch_equivalent="torch.nn.LogSigmoid",
         description="Log of the sigmoid: a mirrored softplus, -softplus(-x).",
         init=glorot())
    _add("tanhshrink", nn.Tanhshrink, "x - tanh(x)", r"x - \tanh(x)", rng=(-INF, INF),
         monotonic=True, smooth=True, zero_centered=True, family="shrinkage",
         reference="torch.nn.Tanhshrink", torch_equivalent="torch.nn.Tanhshrink",
         description="Near-zero inputs are suppressed (cubic near 0), large ones pass.")
    _add("softshrink", nn.Softshrink, "x - λ if x > λ; x + λ if x < -λ; else 0",
         r"\mathrm{sign}(x)\max(|x| - \lambda, 0)", params={"lambd": 0.5},
         rng=(-INF, INF), monotonic=True, smooth=False, zero_centered=True,
         family="shrinkage", reference="Donoho 1995 (soft thresholding)",
         torch_equivalent="torch.nn.Softshrink",
         description="Soft thresholding: zero in [-λ, λ], shifted identity outside.")
    _add("hardshrink", nn.Hardshrink, "x if |x| > λ else 0", r"x\,\mathbb{1}[|x| > \lambda]",
         params={"lambd": 0.5}, rng=(-INF, INF), monotonic=True, smooth=False,
         zero_centered=True, family="shrinkage", reference="hard thresholding",
         torch_equivalent="torch.nn.Hardshrink",
         description="Hard thresholding: zero in [-λ, λ], identity outside.")
    _add("squared_relu", SquaredReLU, "max(0, x)²", r"\max(0, x)^2", aliases=("relu2",),
         rng=(0.0, INF), monotonic=True, smooth=True, zero_centered=False,
         family="rectifier", reference="So et al. 2021 (Primer)",
         description="Squared ReLU, found by architecture search in Primer.")
    _add("rational", Rational, "P(x) / (1 + Σ_k |b_k| |x|^k), P of degree 5, k = 1..4",
         r"\frac{\sum_{j=0}^{m} a_j x^j}{1 + \sum_{k=1}^{n} |b_k||x|^k}",
         params={"numerator": Rational.__init__.__defaults__[0],  # type: ignore[index]
                 "denominator": Rational.__init__.__defaults__[1]},  # type: ignore[index]
         aliases=("pau", "pade"), learnable=True, rng=(-INF, INF), monotonic=False,
         smooth=False, zero_centered=False, family="rational",
         reference="Molina et al. 2020 (Padé activation units)",
         description="Learnable rational function (safe Padé form, no poles) that starts as "
                     "a fit of leaky ReLU and learns its own shape.")
