"""The training loop: explicit, seedable, tensors kept on the device.

One :class:`Trainer` trains one configuration epoch by epoch, so the caller (a Ray worker, or
a test) can report each epoch's validation metric for pruning and stop at once.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from actsearch.activations import width_factor
from actsearch.errors import UsageError
from actsearch.train.cost import InferenceCost, inference_cost
from actsearch.train.data import Dataset
from actsearch.train.models import CNN, CNNConfig, MLPConfig, build_model, hidden_activations

OptimizerName = Literal["adam", "adamw", "sgd", "rmsprop"]
TELEMETRY_SAMPLES = 1024
# Telemetry costs a tenth of a small epoch, so it is taken at the first epoch, every fifth,
# and the last: a pruned trial's record is at most four epochs old.
TELEMETRY_EVERY = 5
EVAL_CHUNK = 2048
SATURATED_SLOPE = 0.01  # |f'(z)| below this: the gradient through the unit has all but vanished


@dataclass(frozen=True)
class TrainConfig:
    """Everything one training run needs besides the data."""

    model: MLPConfig | CNNConfig
    optimizer: OptimizerName = "adam"
    lr: float = 1e-3
    weight_decay: float = 0.0
    batch_size: int = 64
    epochs: int = 30
    seed: int = 0
    amp: bool = True  # mixed precision, where it applies (CUDA)
    # Also measure the cost after the first epoch: a cost-aware search prunes on it (latency
    # depends on the network's shape, not on how far it has trained).
    early_cost: bool = False


@dataclass(frozen=True)
class LayerTelemetry:
    """What the seeds tell practitioners to watch, for one hidden layer.

    Attributes:
        dead_fraction: Units whose output is constant over the validation sample (a dead ReLU
            outputs 0 for every input).
        saturation: Fraction of (sample, unit) pairs where ``|f'(z)| < 0.01``; ``None`` for
            functions that are not element-wise (maxout, softmax).
        mean: Mean activation output.
        std: Standard deviation of activation outputs.
        grad_norm: L2 norm of the layer's weight gradient at the epoch's last step.
    """

    dead_fraction: float
    saturation: float | None
    mean: float
    std: float
    grad_norm: float


@dataclass(frozen=True)
class EpochResult:
    """One epoch's outcome, reported to the pruner."""

    epoch: int
    value: float
    train_loss: float
    seconds: float
    diverged: bool = False
    telemetry: tuple[LayerTelemetry, ...] = field(default=())
    # What the network costs to run: measured after the last epoch (and after the first in a
    # cost-aware search).
    cost: InferenceCost | None = None

    def telemetry_dicts(self) -> list[dict[str, Any]]:
        return [asdict(t) for t in self.telemetry]


def resolve_device(requested: str | None = None) -> torch.device:
    """``cuda`` when asked for (or available and not refused), else ``cpu``."""
    if requested in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(requested)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UsageError("device 'cuda' was requested but no GPU is visible: "
                         "use --gpus-per-trial 0")
    return device


def make_optimizer(name: str, params: Iterator[nn.Parameter], lr: float,
               weight_decay: float) -> torch.optim.Optimizer:
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, weight_decay=weight_decay, momentum=0.9,
                               nesterov=True)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, weight_decay=weight_decay)
    raise UsageError(f"unknown optimizer {name!r}: use adam, adamw, sgd or rmsprop")


class Trainer:
    """Trains one configuration on one dataset, an epoch per call."""

    def __init__(self, config: TrainConfig, data: Dataset, device: str | None = None) -> None:
        self.config = config
        self.data = data
        self.device = resolve_device(device)
        torch.manual_seed(config.seed)
        self.generator = torch.Generator(device="cpu").manual_seed(config.seed)
        self.model = build_model(config.model).to(self.device)
        self.optimizer = make_optimizer(config.optimizer, self.model.parameters(), config.lr,
                                    config.weight_decay)
        self.amp = self.device.type == "cuda" and config.amp
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp)
        as_images = isinstance(self.model, CNN)
        self.x_train, self.y_train = self._to_device(data.x_train, data.y_train, as_images)
        self.x_val, self.y_val = self._to_device(data.x_val, data.y_val, as_images)
        self.epoch = 0

    def _to_device(self, x: Tensor, y: Tensor, as_images: bool) -> tuple[Tensor, Tensor]:
        if as_images:
            if self.data.image_shape is None:
                raise UsageError(f"dataset {self.data.name!r} is not made of images: use an MLP "
                                 "search space for it")
            x = x.view(len(x), *self.data.image_shape)
        return x.to(self.device), y.to(self.device)

    def _loss(self, out: Tensor, y: Tensor) -> Tensor:
        # The output activation lives in the loss: softmax in cross-entropy, sigmoid in BCE.
        if self.data.task == "multiclass":
            return F.cross_entropy(out, y)
        if self.data.task == "binary":
            return F.binary_cross_entropy_with_logits(out.squeeze(1), y.float())
        return F.mse_loss(out.squeeze(1), y)

    def _autocast(self) -> contextlib.AbstractContextManager[Any]:
        if self.amp:
            return torch.autocast(device_type="cuda", dtype=torch.float16)
        return contextlib.nullcontext()

    def train_epoch(self) -> EpochResult:
        """One pass over the training split, then validation and telemetry."""
        start = time.perf_counter()
        self.model.train()
        n, bs = len(self.x_train), self.config.batch_size
        order = self.epoch_order()
        total = torch.zeros((), device=self.device)
        for first in range(0, n, bs):
            idx = order[first:first + bs]
            self.optimizer.zero_grad(set_to_none=True)
            with self._autocast():
                loss = self._loss(self.model(self.x_train[idx]), self.y_train[idx])
            self.scaler.scale(loss).backward()  # type: ignore[no-untyped-call]
            self.scaler.step(self.optimizer)
            self.scaler.update()
            total += loss.detach() * len(idx)
        train_loss = float(total) / n  # one sync per epoch, not per batch
        grad_norms = [_grad_norm(block.layer) for block in _blocks(self.model)]
        return self.conclude_epoch(train_loss, grad_norms, start)

    def epoch_order(self) -> Tensor:
        """The next epoch's order of the training examples (from this trial's own seed)."""
        return torch.randperm(len(self.x_train), generator=self.generator).to(self.device)

    def conclude_epoch(self, train_loss: float, grad_norms: list[float],
                       start: float) -> EpochResult:
        """Count an epoch trained elsewhere (alone or packed), then validate it.

        Args:
            train_loss: The epoch's mean training loss.
            grad_norms: Each hidden layer's weight-gradient norm at the epoch's last step.
            start: ``time.perf_counter()`` when the epoch began.
        """
        self.epoch += 1
        if not math.isfinite(train_loss):
            return EpochResult(self.epoch, math.nan, train_loss,
                               time.perf_counter() - start, diverged=True)
        if self._telemetry_due():
            value, telemetry = self._validate(grad_norms)
        else:
            value, telemetry = self.score("val"), ()
        diverged = not math.isfinite(value)
        measure = self.epoch >= self.config.epochs or (self.config.early_cost
                                                       and self.epoch == 1)
        return EpochResult(self.epoch, value, train_loss, time.perf_counter() - start,
                           diverged=diverged, telemetry=telemetry,
                           cost=inference_cost(self.model, self.x_val)
                           if measure and not diverged else None)

    def _telemetry_due(self) -> bool:
        e = self.epoch
        return e == 1 or e % TELEMETRY_EVERY == 0 or e >= self.config.epochs

    @torch.no_grad()
    def predict(self, x: Tensor) -> Tensor:
        """Network outputs for ``x`` (already on the device), in chunks."""
        self.model.eval()
        outs = []
        for first in range(0, len(x), EVAL_CHUNK):
            with self._autocast():
                outs.append(self.model(x[first:first + EVAL_CHUNK]).float())
        return torch.cat(outs)

    def score(self, split: Literal["val", "test"]) -> float:
        """The dataset's metric on a split (test only for reporting a final configuration)."""
        return float(self.outcomes(split).mean())

    def outcomes(self, split: Literal["val", "test"]) -> Tensor:
        """Per-example outcomes on a split (see :func:`outcomes`)."""
        if split == "val":
            x, y = self.x_val, self.y_val
        else:
            x, y = self._to_device(self.data.x_test, self.data.y_test,
                                   isinstance(self.model, CNN))
        return outcomes(self.data.task, self.predict(x), y)

    def _validate(self, grad_norms: list[float]) -> tuple[float, tuple[LayerTelemetry, ...]]:
        recorder = _ActivationRecorder(self.model)
        try:
            value = self.score("val")
        finally:
            recorder.remove()
        return value, recorder.summarise(grad_norms)


def outcomes(task: str, out: Tensor, y: Tensor) -> Tensor:
    """Each example's share of the metric: their mean is :func:`metric`.

    Classification: 1 where the prediction is right, else 0. Regression: ``1 - n * e_i / S``
    with ``e_i`` the squared error and ``S`` the total sum of squares, so the mean is R².
    Comparisons pair these per example (see :mod:`actsearch.recommend.stats`).
    """
    if task == "multiclass":
        return (out.argmax(1) == y).float()
    if task == "binary":
        return ((out.squeeze(1) > 0).long() == y).float()
    residual = (out.squeeze(1) - y).square()
    spread = (y - y.mean()).square().sum().clamp_min(1e-12)
    return 1.0 - len(y) * residual / spread


def metric(task: str, out: Tensor, y: Tensor) -> float:
    """Accuracy for classification, R² for regression."""
    return float(outcomes(task, out, y).mean())


def _blocks(model: nn.Module) -> list[Any]:
    from actsearch.train.models import HiddenBlock

    return [m for m in model.modules() if isinstance(m, HiddenBlock)]


def _grad_norm(layer: nn.Module) -> float:
    weight = getattr(layer, "weight", None)
    if weight is None or weight.grad is None:
        return 0.0
    return float(weight.grad.detach().float().norm())


class _ActivationRecorder:
    """Forward hooks that keep each hidden activation's input and output for the first chunk."""

    def __init__(self, model: nn.Module) -> None:
        self.records: list[tuple[nn.Module, Tensor, Tensor] | None] = []
        self.handles = []
        for i, act in enumerate(hidden_activations(model)):
            self.records.append(None)
            self.handles.append(act.register_forward_hook(self._hook(i)))

    def _hook(self, i: int) -> Any:
        def hook(module: nn.Module, inputs: tuple[Tensor, ...], output: Tensor) -> None:
            if self.records[i] is None:  # first chunk only
                self.records[i] = (module, inputs[0][:TELEMETRY_SAMPLES].detach(),
                                   output[:TELEMETRY_SAMPLES].detach())
        return hook

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()

    def summarise(self, grad_norms: list[float]) -> tuple[LayerTelemetry, ...]:
        layers = []
        for record, grad_norm in zip(self.records, grad_norms, strict=True):
            assert record is not None
            module, z, a = record
            a = a.float()
            per_unit = a.transpose(0, 1).reshape(a.shape[1], -1)  # units x (samples * space)
            spread = per_unit.amax(1) - per_unit.amin(1)
            layers.append(LayerTelemetry(
                dead_fraction=float((spread <= 1e-6).float().mean()),
                saturation=_saturation(module, z),
                mean=float(a.mean()),
                std=float(a.std()) if a.numel() > 1 else 0.0,
                grad_norm=grad_norm,
            ))
        return tuple(layers)


def _saturation(module: nn.Module, z: Tensor) -> float | None:
    if width_factor(module) != 1 or isinstance(module, nn.Softmax):
        return None
    with torch.enable_grad():
        z = z.float().requires_grad_(True)
        (slope,) = torch.autograd.grad(module(z).sum(), z)
    return float((slope.abs() < SATURATED_SLOPE).float().mean())


def train(config: TrainConfig, data: Dataset,
          device: str | None = None) -> tuple[Trainer, list[EpochResult]]:
    """Train for ``config.epochs`` epochs (stopping early on divergence)."""
    trainer = Trainer(config, data, device)
    history = []
    for _ in range(config.epochs):
        result = trainer.train_epoch()
        history.append(result)
        if result.diverged:
            break
    return trainer, history


@dataclass(frozen=True)
class Evaluation:
    """A configuration trained for its whole budget, scored on validation and test.

    Attributes:
        val: Validation metric (what choices are made on).
        test: Test metric (reported, never used to choose).
        epochs: Epochs trained (fewer when the loss diverged).
        test_outcomes: Per test example, its share of the metric (see :func:`outcomes`), so
            two configurations can be compared example by example; empty when diverged.
    """

    val: float
    test: float
    epochs: int
    test_outcomes: tuple[float, ...]

    @property
    def diverged(self) -> bool:
        return math.isnan(self.val)


def evaluate(config: TrainConfig, data: Dataset, device: str | None = None) -> Evaluation:
    """Train ``config`` for its whole budget and score it (NaN scores when it diverged)."""
    trainer, history = train(config, data, device)
    if history and history[-1].diverged:
        return Evaluation(math.nan, math.nan, len(history), ())
    test = trainer.outcomes("test")
    # Rounded: the outcomes are 0/1 for classification and need no more digits otherwise.
    return Evaluation(trainer.score("val"), float(test.mean()), len(history),
                      tuple(round(float(v), 6) for v in test.cpu()))

