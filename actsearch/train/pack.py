"""Several trials trained side by side, those of one shape as one batched network.

On small tabular networks an epoch is per-batch overhead, not arithmetic: one 4x64 MLP keeps a
core busy dispatching tiny matrix products. A :class:`TrialPack` holds the trials a worker
trains at once. Members whose networks have the same layer shapes, batch size and optimiser
form a :class:`StackedGroup`: their weights are stacked, so each layer is one batched matrix
product (``torch.baddbmm``) for all of them. Everything else stays each member's own: its
activations (members sharing one function, with no parameters of its own, share one call),
dropout, learning rate, weight decay, optimiser state, data order and seed, and its epochs,
pruning and end. A member's results are those of training it alone, up to float rounding
(``tests/train/test_pack.py``), except that dropout masks come from the worker's shared random
generator, not the member's own seed. Convolutional networks train alone.

Between epochs every member's weights and optimiser state live in its own
:class:`~actsearch.train.loop.Trainer`, so members can join and leave at any epoch: each
epoch stacks the current members, trains, and writes the results back (a few copies of small
tensors per epoch).
"""

from __future__ import annotations

import contextlib
import copy
import functools
import logging
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from actsearch.train.data import Dataset
from actsearch.train.loop import EpochResult, TrainConfig, Trainer, make_optimizer
from actsearch.train.models import MLP, HiddenBlock
from actsearch.train.stacked_optim import MemberState, StackedOptimizer

log = logging.getLogger(__name__)
_T = TypeVar("_T")


@dataclass
class Member:
    """One trial of a pack: its trainer (weights, data order, telemetry) and the optimiser
    state of its stacked layers between epochs."""

    trainer: Trainer
    state: MemberState = field(default_factory=MemberState)
    # Parameters outside the stacked layers (learnable activations), with their optimiser.
    extra: torch.optim.Optimizer | None = None

    @property
    def config(self) -> TrainConfig:
        return self.trainer.config

    @property
    def done(self) -> bool:
        return self.trainer.epoch >= self.config.epochs

    def snapshot(self) -> Callable[[], None]:
        """What puts this member back as it is now, should its group's training fail midway:
        until it writes the weights back, a stacked epoch changes only the member's data
        order and its learnable activations in place."""
        order = self.trainer.generator.get_state()
        extra = self.extra
        if extra is None:
            def restore_order() -> None:
                self.trainer.generator.set_state(order)
            return restore_order
        model = self.trainer.model
        weights = {name: p.detach().clone() for name, p in model.named_parameters()}
        optimizer_state = copy.deepcopy(extra.state_dict())

        def restore() -> None:
            self.trainer.generator.set_state(order)
            with torch.no_grad():
                for name, p in model.named_parameters():
                    p.copy_(weights[name])
            extra.load_state_dict(optimizer_state)
        return restore


def _blocks(model: MLP) -> list[HiddenBlock]:
    return [cast(HiddenBlock, block) for block in model.blocks]


def _linears(model: MLP) -> list[nn.Linear]:
    return [*(cast(nn.Linear, block.layer) for block in _blocks(model)), model.head]


def stack_key(trainer: Trainer) -> Hashable | None:
    """Members with equal keys can share batched products; None: this one trains alone."""
    model = trainer.model
    if not isinstance(model, MLP):
        return None
    shapes = tuple(tuple(linear.weight.shape) for linear in _linears(model))
    return shapes, trainer.config.batch_size, trainer.config.optimizer


def _activation_key(member: Member, layer: int) -> Hashable:
    """Members whose activation at ``layer`` is the same function, with no parameters of
    its own, can share one call; others get a key of their own."""
    model = member.trainer.model
    assert isinstance(model, MLP)
    block = _blocks(model)[layer]
    if any(True for _ in block.activation.parameters()):
        return ("own", id(member))
    config = model.config
    params = config.activation_params[layer] if config.activation_params else {}
    # The dropout's kind is part of the key: SELU's alpha-dropout is not standard dropout.
    return (config.activations[layer], tuple(sorted(params.items())), config.dropout,
            type(block.post))


@dataclass
class _LayerPlan:
    """How one layer's activations are applied: runs of members sharing one call.

    Members are gathered into group order once (``order``), each group is a contiguous run
    (a view, not a copy), and the outputs are put back with ``inverse``: two gathers per
    layer however many groups there are.
    """

    # activation, the dropout after it (standard or alpha; None: no dropout), run length
    groups: list[tuple[nn.Module, nn.Module | None, int]]
    order: Tensor | None  # None: one group, already in member order
    inverse: Tensor | None


def _plan_layer(members: list[Member], layer: int, device: torch.device) -> _LayerPlan:
    by_key: dict[Hashable, list[int]] = {}
    for i, member in enumerate(members):
        by_key.setdefault(_activation_key(member, layer), []).append(i)
    groups: list[tuple[nn.Module, nn.Module | None, int]] = []
    for indices in by_key.values():
        first = members[indices[0]].trainer.model
        assert isinstance(first, MLP)
        block = _blocks(first)[layer]
        dropout = block.post if first.config.dropout else None
        groups.append((block.activation, dropout, len(indices)))
    if len(by_key) == 1:
        return _LayerPlan(groups, None, None)
    order = torch.tensor([i for indices in by_key.values() for i in indices], device=device)
    return _LayerPlan(groups, order, torch.argsort(order))


@dataclass(frozen=True)
class Fitted:
    """A member's trained epoch, before validation: what :meth:`Trainer.conclude_epoch`
    takes, and the member's share of the batched epoch's seconds."""

    train_loss: float
    grad_norms: list[float]
    seconds: float


class StackedGroup:
    """One epoch for members of one :func:`stack_key`, as one batched network."""

    def __init__(self, members: list[Member]) -> None:
        self.members = members
        first = members[0].trainer
        self.device = first.device
        self.data = first.data
        self.x_train, self.y_train = first.x_train, first.y_train
        self.batch_size = first.config.batch_size
        # bfloat16 needs no loss scaling, so one autocast serves every member.
        self.amp = first.amp and torch.cuda.is_bf16_supported(including_emulation=False)

    def _stack(self) -> tuple[list[Tensor], list[Tensor], StackedOptimizer]:
        models = [m.trainer.model for m in self.members]
        layers = [_linears(model) for model in models]  # type: ignore[arg-type]
        weights, biases = [], []
        with torch.no_grad():
            for i in range(len(layers[0])):
                # (members, in, out): x @ W^T for each member, as one baddbmm.
                weights.append(torch.stack([ls[i].weight.t() for ls in layers])
                               .contiguous().requires_grad_(True))
                biases.append(torch.stack([ls[i].bias.unsqueeze(0) for ls in layers])
                              .requires_grad_(True))
        configs = [m.config for m in self.members]
        optimizer = StackedOptimizer(
            configs[0].optimizer, [*weights, *biases], [c.lr for c in configs],
            [c.weight_decay for c in configs], [m.state for m in self.members])
        return weights, biases, optimizer

    def _unstack(self, weights: list[Tensor], biases: list[Tensor],
                 optimizer: StackedOptimizer) -> None:
        with torch.no_grad():
            for k, member in enumerate(self.members):
                model = member.trainer.model
                assert isinstance(model, MLP)
                for i, linear in enumerate(_linears(model)):
                    linear.weight.copy_(weights[i][k].t())
                    linear.bias.copy_(biases[i][k, 0])
        for member, state in zip(self.members, optimizer.member_states(), strict=True):
            member.state = state

    def _autocast(self) -> contextlib.AbstractContextManager[Any]:
        if self.amp:
            return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def _losses(self, out: Tensor, y: Tensor) -> Tensor:
        """Each member's mean loss over its batch: ``(members,)``."""
        members, batch = y.shape
        task = self.data.task
        if task == "multiclass":
            each = F.cross_entropy(out.reshape(members * batch, -1).float(), y.reshape(-1),
                                   reduction="none")
        elif task == "binary":
            each = F.binary_cross_entropy_with_logits(out.reshape(-1).float(),
                                                      y.reshape(-1).float(), reduction="none")
        else:
            each = F.mse_loss(out.reshape(-1).float(), y.reshape(-1), reduction="none")
        return each.view(members, batch).mean(1)

    @staticmethod
    def _activate(plan: _LayerPlan, z: Tensor, training: bool) -> Tensor:
        _, batch, width = z.shape

        def apply(module: nn.Module, dropout: nn.Module | None, part: Tensor) -> Tensor:
            # As (rows, width): every catalogue function accepts that shape.
            out: Tensor = module(part.reshape(-1, width))
            if dropout is not None and training:
                out = dropout(out)
            return out.view(part.shape[0], batch, -1)

        if plan.order is None or plan.inverse is None:
            module, dropout, _ = plan.groups[0]
            return apply(module, dropout, z)
        runs = torch.split(z.index_select(0, plan.order),
                           [size for _, _, size in plan.groups])
        parts = [apply(module, dropout, run)
                 for (module, dropout, _), run in zip(plan.groups, runs, strict=True)]
        return torch.cat(parts).index_select(0, plan.inverse)

    def fit(self) -> list[Fitted]:
        """Train every member one epoch (not validated yet), in member order."""
        start = time.perf_counter()
        for member in self.members:
            member.trainer.model.train()
        hidden = len(_linears(self.members[0].trainer.model)) - 1  # type: ignore[arg-type]
        plans = [_plan_layer(self.members, layer, self.device) for layer in range(hidden)]
        weights, biases, optimizer = self._stack()
        orders = torch.stack([m.trainer.epoch_order() for m in self.members])
        n = len(self.x_train)
        total = torch.zeros(len(self.members), device=self.device)
        for first in range(0, n, self.batch_size):
            idx = orders[:, first:first + self.batch_size]
            optimizer.zero_grad()
            for member in self.members:
                if member.extra is not None:
                    member.extra.zero_grad(set_to_none=True)
            with self._autocast():
                h = self.x_train[idx]
                for layer in range(hidden):
                    z = torch.baddbmm(biases[layer], h, weights[layer])
                    h = self._activate(plans[layer], z, training=True)
                out = torch.baddbmm(biases[hidden], h, weights[hidden])
            losses = self._losses(out, self.y_train[idx])
            # Each member's weights see only its own loss.
            losses.sum().backward()  # type: ignore[no-untyped-call]
            optimizer.step()
            for member in self.members:
                if member.extra is not None:
                    member.extra.step()
            total += losses.detach() * idx.shape[1]
        train_losses = (total / n).tolist()  # one sync per epoch, not per batch
        grad_norms = [
            [float(w.grad[k].float().norm()) if w.grad is not None else 0.0
             for w in weights[:hidden]]
            for k in range(len(self.members))]
        self._unstack(weights, biases, optimizer)
        # Each member is charged an equal share of the batched epoch (plus, later, its own
        # validation).
        share = (time.perf_counter() - start) / len(self.members)
        return [Fitted(loss, norms, share)
                for loss, norms in zip(train_losses, grad_norms, strict=True)]


class TrialPack:
    """The trials one worker trains at once, keyed by the caller's trial keys.

    Args:
        data: The dataset every member trains on.
        device: Where they train.
        stacked: Train MLPs as stacked groups (a lone member too, as a group of one, so its
            optimiser state carries over when its group shrinks or grows). When false, every
            member trains alone with ``torch.optim``: one trial per worker, as before packs.
    """

    def __init__(self, data: Dataset, device: str | None = None, stacked: bool = True) -> None:
        self.data = data
        self.device = device
        self.stacked = stacked
        self.members: dict[int, Member] = {}

    def __len__(self) -> int:
        return len(self.members)

    def add(self, key: int, config: TrainConfig) -> None:
        """Set up a trial (its first epoch is in the next :meth:`train_epoch`).

        Raises:
            Exception: Whatever stops the configuration from being built.
        """
        trainer = Trainer(config, self.data, self.device)
        member = Member(trainer)
        if self._stacks(member):
            assert isinstance(trainer.model, MLP)
            extra = [p for block in _blocks(trainer.model)
                     for p in block.activation.parameters()]
            # Learnable activations keep a torch.optim optimiser of their own.
            member.extra = (make_optimizer(config.optimizer, iter(extra), config.lr,
                                          config.weight_decay)
                            if extra else None)
        self.members[key] = member

    def _stacks(self, member: Member) -> bool:
        return self.stacked and stack_key(member.trainer) is not None

    def remove(self, key: int) -> None:
        self.members.pop(key, None)

    def train_epoch(self) -> dict[int, EpochResult | Exception]:
        """One epoch for every member; a member that errs, diverges or finishes leaves.

        A member's error is its result (the others go on). When a stacked epoch fails while
        training, its members train this epoch one by one, so the error lands on the member
        that caused it; validation errs member by member.
        """
        groups: dict[Hashable, list[int]] = {}
        for key, member in self.members.items():
            group = stack_key(member.trainer) if self._stacks(member) else ("alone", key)
            groups.setdefault(group, []).append(key)
        results: dict[int, EpochResult | Exception] = {}
        for group, keys in groups.items():
            if isinstance(group, tuple) and group[0] == "alone":
                for key in keys:
                    results[key] = _attempt(self.members[key].trainer.train_epoch)
                continue
            for key, fitted in self._fit(keys).items():
                if isinstance(fitted, Exception):
                    results[key] = fitted
                    continue
                results[key] = _attempt(functools.partial(
                    self.members[key].trainer.conclude_epoch, fitted.train_loss,
                    fitted.grad_norms, time.perf_counter() - fitted.seconds))
        for key, result in results.items():
            if isinstance(result, Exception) or result.diverged or self.members[key].done:
                self.members.pop(key)
        return results

    def _fit(self, keys: list[int]) -> dict[int, Fitted | Exception]:
        """Train a stack's members one epoch; one by one if the stack fails."""
        members = [self.members[k] for k in keys]
        if len(members) > 1:
            restores = [m.snapshot() for m in members]
            try:
                return dict(zip(keys, StackedGroup(members).fit(), strict=True))
            except Exception as exc:
                for restore in restores:
                    restore()
                log.warning("a stacked epoch of %d trials failed (%s: %s); they train this "
                            "epoch one by one", len(keys), type(exc).__name__, exc)
        fitted: dict[int, Fitted | Exception] = {}
        for key, member in zip(keys, members, strict=True):
            outcome = _attempt(StackedGroup([member]).fit)
            fitted[key] = outcome if isinstance(outcome, Exception) else outcome[0]
        return fitted


def _attempt(call: Callable[[], _T]) -> _T | Exception:
    """``call()``, or the exception it raised: one member's error is its own result."""
    try:
        return call()
    except Exception as exc:
        return exc
