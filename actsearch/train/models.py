"""Model builders: MLP and small CNN with one activation module per hidden layer.

Every hidden layer is a :class:`HiddenBlock` (linear/conv -> activation -> dropout/pool) so
telemetry can hook each activation by index. Each layer is initialised for the activation
that follows it, as the catalogue states (He for rectifiers, LeCun and alpha-dropout for SELU,
SIREN for sine, ...; :mod:`actsearch.activations._init`), and the output layer as a linear
unit (LeCun); ``init="torch"`` keeps PyTorch's defaults everywhere, for comparison.
Maxout-like activations are honoured by making the layer before them ``width_factor`` times
wider. The output layer has no activation: the
loss applies it (softmax with cross-entropy, sigmoid with BCE, identity with MSE), so softmax
is never applied twice.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from torch import Tensor, nn

from actsearch.activations import (
    INIT_MODES,
    Initialisation,
    InitMode,
    create,
    dropout_module,
    init_rule,
    initialise,
    width_factor,
)
from actsearch.errors import UsageError


@dataclass(frozen=True)
class MLPConfig:
    """Shape of an MLP.

    Attributes:
        in_features: Input width.
        out_features: Output width (classes, 1 for binary or regression).
        hidden: Width of each hidden layer.
        activations: One activation spec (name, alias or formula) per hidden layer.
        activation_params: Optional parameters per hidden layer's activation.
        dropout: Dropout after each hidden activation (alpha-dropout after SELU).
        init: ``activation``: each layer initialised for the activation after it;
            ``torch``: PyTorch's defaults (and standard dropout everywhere).
    """

    in_features: int
    out_features: int
    hidden: tuple[int, ...]
    activations: tuple[str, ...]
    activation_params: tuple[Mapping[str, Any], ...] = ()
    dropout: float = 0.0
    init: InitMode = "activation"

    def __post_init__(self) -> None:
        _check_layers(self.hidden, self.activations, self.activation_params, self.init)


@dataclass(frozen=True)
class CNNConfig:
    """Shape of a small CNN: conv blocks (conv 3x3 -> activation -> max-pool 2), then dense.

    Attributes:
        in_channels: Image channels.
        image_size: Height and width of the (square) input.
        out_features: Output width.
        channels: Output channels of each conv block.
        dense: Width of each dense hidden layer after the conv blocks.
        activations: One spec per hidden layer: conv blocks first, then dense layers.
        activation_params: Optional parameters per hidden layer's activation.
        dropout: Dropout after each dense hidden activation (alpha-dropout after SELU).
        init: As :class:`MLPConfig`'s.
    """

    in_channels: int
    image_size: int
    out_features: int
    channels: tuple[int, ...]
    dense: tuple[int, ...]
    activations: tuple[str, ...]
    activation_params: tuple[Mapping[str, Any], ...] = ()
    dropout: float = 0.0
    init: InitMode = "activation"
    hidden: tuple[int, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "hidden", (*self.channels, *self.dense))
        _check_layers(self.hidden, self.activations, self.activation_params, self.init)
        if self.image_size >> len(self.channels) < 1:
            raise UsageError(
                f"{len(self.channels)} conv blocks halve a {self.image_size}px image to nothing; "
                "use fewer conv blocks"
            )


def _check_layers(hidden: Sequence[int], activations: Sequence[str],
                  params: Sequence[Mapping[str, Any]], init: str) -> None:
    if init not in INIT_MODES:
        raise UsageError(f"init {init!r} is not one of {', '.join(INIT_MODES)}")
    if len(activations) != len(hidden):
        raise UsageError(
            f"{len(hidden)} hidden layers need {len(hidden)} activations, got {len(activations)}"
        )
    if params and len(params) != len(hidden):
        raise UsageError(
            f"{len(hidden)} hidden layers need {len(hidden)} activation parameter sets, "
            f"got {len(params)}"
        )
    if any(w < 1 for w in hidden):
        raise UsageError(f"hidden widths must be positive, got {list(hidden)}")


class HiddenBlock(nn.Module):
    """``layer -> activation -> post`` where ``post`` is dropout or pooling."""

    def __init__(self, layer: nn.Module, activation: nn.Module, post: nn.Module) -> None:
        super().__init__()
        self.layer = layer
        self.activation = activation
        self.post = post

    def forward(self, x: Tensor) -> Tensor:
        out: Tensor = self.post(self.activation(self.layer(x)))
        return out


def _params(config: MLPConfig | CNNConfig, i: int) -> Mapping[str, Any]:
    return config.activation_params[i] if config.activation_params else {}


def _activation(config: MLPConfig | CNNConfig, i: int) -> nn.Module:
    return create(config.activations[i], **dict(_params(config, i)))


def _rule(config: MLPConfig | CNNConfig, i: int) -> Initialisation | None:
    """Hidden layer ``i``'s initialisation rule; None where PyTorch's defaults are kept."""
    return init_rule(config.activations[i]) if config.init == "activation" else None


def _initialised(config: MLPConfig | CNNConfig, i: int, layer: nn.Module,
                 activation: nn.Module) -> nn.Module:
    """``layer`` (feeding hidden layer ``i``'s activation) drawn by the activation's rule."""
    rule = _rule(config, i)
    if rule is not None:
        initialise(layer, rule, activation, reads_input=i == 0)
    return layer


def _head(config: MLPConfig | CNNConfig, width_in: int) -> nn.Linear:
    """The output layer: the loss applies its activation, so it is initialised as a linear
    unit (LeCun normal), or left to PyTorch with ``init="torch"``."""
    head = nn.Linear(width_in, config.out_features)
    if config.init == "activation":
        initialise(head, init_rule("identity"), nn.Identity())
    return head


def _dense_blocks(config: MLPConfig | CNNConfig, widths: Sequence[int], first: int,
                  width_in: int) -> tuple[list[HiddenBlock], int]:
    """Linear -> activation -> dropout blocks for hidden layers ``first, first + 1, ...``."""
    blocks = []
    for i, width in enumerate(widths, start=first):
        act = _activation(config, i)
        linear = _initialised(config, i, nn.Linear(width_in, width * width_factor(act)), act)
        blocks.append(HiddenBlock(linear, act, dropout_module(_rule(config, i),
                                                             config.dropout)))
        width_in = width
    return blocks, width_in


class MLP(nn.Module):
    """Multi-layer perceptron with a chosen activation per hidden layer."""

    def __init__(self, config: MLPConfig) -> None:
        super().__init__()
        self.config = config
        blocks, width_out = _dense_blocks(config, config.hidden, 0, config.in_features)
        self.blocks = nn.ModuleList(blocks)
        self.head = _head(config, width_out)

    def forward(self, x: Tensor) -> Tensor:
        for block in self.blocks:
            x = block(x)
        out: Tensor = self.head(x)
        return out


class CNN(nn.Module):
    """Small CNN: conv blocks with per-block activations, then dense layers, then the head."""

    def __init__(self, config: CNNConfig) -> None:
        super().__init__()
        self.config = config
        blocks: list[HiddenBlock] = []
        c_in = config.in_channels
        for i, channels in enumerate(config.channels):
            act = _activation(config, i)
            conv = _initialised(config, i, nn.Conv2d(c_in, channels * width_factor(act),
                                                     kernel_size=3, padding=1), act)
            blocks.append(HiddenBlock(conv, act, nn.MaxPool2d(2)))
            c_in = channels
        side = config.image_size >> len(config.channels)
        self.flatten = nn.Flatten()
        self.n_conv = len(config.channels)
        dense, width_in = _dense_blocks(config, config.dense, self.n_conv, c_in * side * side)
        blocks += dense
        self.blocks = nn.ModuleList(blocks)
        self.head = _head(config, width_in)

    def forward(self, x: Tensor) -> Tensor:
        for i, block in enumerate(self.blocks):
            if i == self.n_conv:
                x = self.flatten(x)
            x = block(x)
        if self.n_conv == len(self.blocks):
            x = self.flatten(x)
        out: Tensor = self.head(x)
        return out


def build_model(config: MLPConfig | CNNConfig) -> nn.Module:
    """The network for ``config``."""
    return MLP(config) if isinstance(config, MLPConfig) else CNN(config)


def hidden_activations(model: nn.Module) -> list[nn.Module]:
    """The activation module of each hidden layer, in order."""
    return [m.activation for m in model.modules() if isinstance(m, HiddenBlock)]

