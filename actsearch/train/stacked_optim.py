"""One optimiser step for several networks stacked along the first dimension.

A pack of trials (:mod:`actsearch.train.pack`) keeps its members' weights as stacked tensors
``(members, ...)`` so one batched matrix product trains them all. Each member still has its
own learning rate, weight decay and step count, which ``torch.optim`` cannot express on one
tensor (its learning rate must be a single number per parameter group), and splitting the
stack into per-member parameters would cost more than the batching wins. So this module
applies ``torch.optim``'s own update rules, written once with per-member hyperparameters
broadcast along that first dimension. ``tests/train/test_stacked_optim.py`` checks every rule
against ``torch.optim`` member by member.

The rules and their constants are those :func:`actsearch.train.loop.make_optimizer` builds:
Adam and AdamW (betas 0.9, 0.999; eps 1e-8), SGD (momentum 0.9, Nesterov), RMSprop
(alpha 0.99, eps 1e-8).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor

BETA1, BETA2, ADAM_EPS = 0.9, 0.999, 1e-8
MOMENTUM = 0.9
RMS_ALPHA, RMS_EPS = 0.99, 1e-8
# The state each rule keeps per parameter, as torch.optim names it.
BUFFERS: dict[str, tuple[str, ...]] = {
    "adam": ("exp_avg", "exp_avg_sq"),
    "adamw": ("exp_avg", "exp_avg_sq"),
    "sgd": ("momentum_buffer",),
    "rmsprop": ("square_avg",),
}


@dataclass
class MemberState:
    """One member's optimiser state, kept between epochs while the stack is rebuilt.

    Attributes:
        steps: Optimiser steps taken.
        buffers: Per stacked parameter, its buffers (name -> this member's slice).
    """

    steps: int = 0
    buffers: list[dict[str, Tensor]] = field(default_factory=list)


class StackedOptimizer:
    """``torch.optim`` rules over stacked parameters, one learning rate per member.

    Args:
        rule: ``adam``, ``adamw``, ``sgd`` or ``rmsprop``.
        params: Stacked leaf tensors, each ``(members, ...)``.
        lr: Each member's learning rate.
        weight_decay: Each member's weight decay.
        states: Each member's state so far (empty for a new member).
    """

    def __init__(self, rule: str, params: Sequence[Tensor], lr: Sequence[float],
                 weight_decay: Sequence[float], states: Sequence[MemberState]) -> None:
        if rule not in BUFFERS:
            raise ValueError(f"no stacked rule for optimizer {rule!r}")
        self.rule = rule
        self.params = list(params)
        device = self.params[0].device
        members = len(lr)

        def per_member(values: Sequence[float],
                       dtype: torch.dtype = torch.float32) -> list[Tensor]:
            # One column, viewed to broadcast against each parameter (the views share it).
            column = torch.tensor(values, dtype=dtype, device=device)
            return [column.view(members, *([1] * (p.dim() - 1))) for p in self.params]

        self.lr, self.weight_decay = per_member(lr), per_member(weight_decay)
        self.decays = any(wd != 0 for wd in weight_decay)
        # Double, as torch.optim computes bias corrections: 1 - 0.999**step loses most of its
        # digits in single precision.
        self.steps = per_member([float(s.steps) for s in states], torch.float64)
        self.step_column = self.steps[0].view(-1)  # every view above reads this one column
        self.buffers: list[dict[str, Tensor]] = []
        for i, p in enumerate(self.params):
            self.buffers.append({
                name: torch.stack([s.buffers[i][name] if s.buffers else torch.zeros_like(p[m])
                                   for m, s in enumerate(states)])
                for name in BUFFERS[rule]})

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        self.step_column += 1
        for i, p in enumerate(self.params):
            if p.grad is not None:
                getattr(self, f"_{self.rule}")(i, p, p.grad)

    def member_states(self) -> list[MemberState]:
        """Each member's state, to keep until the next stack is built."""
        members = self.params[0].shape[0]
        return [MemberState(int(self.step_column[m]),
                            [{name: b[m].clone() for name, b in bufs.items()}
                             for bufs in self.buffers])
                for m in range(members)]

    # --- The rules (torch.optim's, per member) ----------------------------------------
    def _coupled_decay(self, i: int, p: Tensor, grad: Tensor) -> Tensor:
        return grad + self.weight_decay[i] * p if self.decays else grad

    def _adam(self, i: int, p: Tensor, grad: Tensor) -> None:
        self._adam_update(i, p, self._coupled_decay(i, p, grad))

    def _adamw(self, i: int, p: Tensor, grad: Tensor) -> None:
        if self.decays:  # decoupled: the weights shrink, the gradient is left alone
            p.mul_(1 - self.lr[i] * self.weight_decay[i])
        self._adam_update(i, p, grad)

    def _adam_update(self, i: int, p: Tensor, grad: Tensor) -> None:
        exp_avg, exp_avg_sq = self.buffers[i]["exp_avg"], self.buffers[i]["exp_avg_sq"]
        exp_avg.lerp_(grad, 1 - BETA1)
        exp_avg_sq.mul_(BETA2).addcmul_(grad, grad, value=1 - BETA2)
        bias1 = (1 - BETA1 ** self.steps[i]).float()
        bias2_sqrt = (1 - BETA2 ** self.steps[i]).sqrt().float()
        denom = (exp_avg_sq.sqrt() / bias2_sqrt).add_(ADAM_EPS)
        p.sub_(exp_avg / denom * (self.lr[i] / bias1))

    def _sgd(self, i: int, p: Tensor, grad: Tensor) -> None:
        grad = self._coupled_decay(i, p, grad)
        # torch.optim starts the buffer at the first gradient; from zeros, mul then add is
        # the same thing, so members joining late need no special case.
        buffer = self.buffers[i]["momentum_buffer"]
        buffer.mul_(MOMENTUM).add_(grad)
        p.sub_((grad + MOMENTUM * buffer) * self.lr[i])

    def _rmsprop(self, i: int, p: Tensor, grad: Tensor) -> None:
        grad = self._coupled_decay(i, p, grad)
        square_avg = self.buffers[i]["square_avg"]
        square_avg.mul_(RMS_ALPHA).addcmul_(grad, grad, value=1 - RMS_ALPHA)
        p.sub_(grad / square_avg.sqrt().add_(RMS_EPS) * self.lr[i])
