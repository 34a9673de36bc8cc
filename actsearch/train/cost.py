"""What a trained network costs to run: its parameters, FLOPs and inference latency.

Measured on the device it trained on, for a finished trial, so a recommendation can say what
the chosen network costs besides what it scores. FLOPs are counted with torch's own formulas
(those of :class:`torch.utils.flop_counter.FlopCounterMode`: matrix products and convolutions,
two per multiply-add; element-wise activations are not counted, which is why latency is
measured too).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import flop_registry

LATENCY_BATCH = 256  # rows per timed forward pass
LATENCY_REPEATS = 15  # timed passes; the median is kept
LATENCY_WARMUP = 3  # passes run first and not timed (allocations, lazy initialisation)


@dataclass(frozen=True)
class InferenceCost:
    """A network's cost per example.

    Attributes:
        params: Trainable parameters.
        flops: Floating-point operations of one example's forward pass.
        latency_ms: Median milliseconds per example of a forward pass over a batch of
            ``LATENCY_BATCH`` examples, in evaluation mode without gradients.
        device: Where latency was measured (``cpu`` or ``cuda``).
    """

    params: int
    flops: int
    latency_ms: float
    device: str

    def as_dict(self) -> dict[str, Any]:
        """As a trial records it (one user attribute, ``cost``)."""
        return asdict(self)


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


class FlopCount(TorchDispatchMode):  # type: ignore[no-untyped-call]
    """Counts the FLOPs of the operations run inside it, on this thread only.

    ``FlopCounterMode`` itself cannot be used where other threads train: its module tracker
    installs *global* module hooks, and any other thread's ``torch.autograd.grad`` through a
    module then fails ("A leaf node was passed to _will_engine_execute_node", seen with two
    trials training in one process). A dispatch mode alone is thread-local, so this one
    applies the same formulas (``flop_registry``) without the tracker.
    """

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.total = 0

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (),
                           kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        formula = flop_registry.get(func._overloadpacket)
        if formula is not None:
            self.total += int(formula(*args, **kwargs, out_val=out))
        return out


@contextmanager
def counting_flops() -> Iterator[FlopCount]:
    """``with counting_flops() as count: ...``, then ``count.total``."""
    with FlopCount() as count:
        yield count


@torch.no_grad()
def flops_per_example(model: nn.Module, example: Tensor) -> int:
    """FLOPs of ``model`` on one example (``example`` has a batch dimension of 1)."""
    with counting_flops() as count:
        model(example)
    return count.total


@torch.no_grad()
def latency_per_example(model: nn.Module, batch: Tensor) -> float:
    """Median milliseconds per example of ``model(batch)``, warm-up passes excluded."""
    cuda = batch.is_cuda
    seconds = []
    for i in range(LATENCY_WARMUP + LATENCY_REPEATS):
        if cuda:
            torch.cuda.synchronize()
        start = time.perf_counter()
        model(batch)
        if cuda:
            torch.cuda.synchronize()
        if i >= LATENCY_WARMUP:
            seconds.append(time.perf_counter() - start)
    return 1000 * statistics.median(seconds) / len(batch)


def inference_cost(model: nn.Module, inputs: Tensor) -> InferenceCost:
    """The cost of ``model`` on rows like ``inputs`` (a split already on the device).

    The model is left in evaluation mode.
    """
    model.eval()
    rows = inputs[:LATENCY_BATCH]
    if len(rows) == 0:  # latency does not depend on the values
        rows = torch.zeros(1, *inputs.shape[1:], device=inputs.device)
    if len(rows) < LATENCY_BATCH:  # a small split: repeat it to a full batch
        rows = rows.repeat((LATENCY_BATCH + len(rows) - 1) // len(rows),
                           *([1] * (rows.dim() - 1)))[:LATENCY_BATCH]
    return InferenceCost(params=parameter_count(model),
                         flops=flops_per_example(model, rows[:1]),
                         latency_ms=latency_per_example(model, rows),
                         device=rows.device.type)
