"""The stacked optimiser applies torch.optim's rules member by member: each member of a stack
ends where torch.optim, given that member alone, takes it (own lr, weight decay, step count)."""

from __future__ import annotations

import pytest
import torch

from actsearch.train.loop import make_optimizer
from actsearch.train.stacked_optim import MemberState, StackedOptimizer

LRS = [1e-3, 3e-2, 0.2]
DECAYS = [0.0, 1e-2, 1e-3]


@pytest.mark.parametrize("rule", ["adam", "adamw", "sgd", "rmsprop"])
def test_each_member_follows_torch_optim_with_its_own_hyperparameters(rule: str) -> None:
    gen = torch.Generator().manual_seed(0)
    shapes = [(3, 5, 4), (3, 1, 4)]  # (members, in, out) weights and (members, 1, out) biases
    start = [torch.randn(s, generator=gen) for s in shapes]
    grads = [[torch.randn(s, generator=gen) for s in shapes] for _ in range(6)]

    stacked = [p.clone().requires_grad_(True) for p in start]
    optimizer = StackedOptimizer(rule, stacked, LRS, DECAYS, [MemberState()] * 3)
    alone = [[torch.nn.Parameter(p[m].clone()) for p in start] for m in range(3)]
    references = [make_optimizer(rule, iter(alone[m]), LRS[m], DECAYS[m]) for m in range(3)]
    for step in grads:
        for p, g in zip(stacked, step, strict=True):
            p.grad = g.clone()
        optimizer.step()
        for m in range(3):
            for p, g in zip(alone[m], step, strict=True):
                p.grad = g[m].clone()
            references[m].step()

    for m in range(3):
        for p_stacked, p_alone in zip(stacked, alone[m], strict=True):
            torch.testing.assert_close(p_stacked[m].detach(), p_alone.detach(),
                                       rtol=1e-5, atol=1e-6)
    # The members really moved differently: equal results would not show per-member rates.
    assert not torch.allclose(stacked[0][0] - start[0][0], stacked[0][1] - start[0][1])


@pytest.mark.parametrize("rule", ["adam", "sgd"])
def test_a_member_carries_its_state_into_a_new_stack(rule: str) -> None:
    """Members join and leave packs between epochs: the state one stack hands back, stacked
    again beside a newcomer, continues exactly as one uninterrupted optimiser would."""
    gen = torch.Generator().manual_seed(1)
    start = torch.randn(4, 3, generator=gen)
    grads = [torch.randn(4, 3, generator=gen) for _ in range(5)]

    first = start.unsqueeze(0).clone().requires_grad_(True)
    optimizer = StackedOptimizer(rule, [first], [0.05], [0.0], [MemberState()])
    for g in grads[:3]:
        first.grad = g.unsqueeze(0).clone()
        optimizer.step()
    (kept,) = optimizer.member_states()
    assert kept.steps == 3

    # Now second in a stack of two, beside a fresh member.
    both = torch.stack([torch.zeros(4, 3), first[0].detach()]).requires_grad_(True)
    optimizer = StackedOptimizer(rule, [both], [0.05, 0.05], [0.0, 0.0],
                                 [MemberState(), kept])
    for g in grads[3:]:
        both.grad = torch.stack([torch.zeros(4, 3), g])
        optimizer.step()

    alone = torch.nn.Parameter(start.clone())
    reference = make_optimizer(rule, iter([alone]), 0.05, 0.0)
    for g in grads:
        alone.grad = g.clone()
        reference.step()
    torch.testing.assert_close(both[1].detach(), alone.detach(), rtol=1e-5, atol=1e-6)
    assert [s.steps for s in optimizer.member_states()] == [2, 5]


def test_an_unknown_rule_is_refused() -> None:
    with pytest.raises(ValueError, match="no stacked rule for optimizer 'adagrad'"):
        StackedOptimizer("adagrad", [torch.zeros(1, 2)], [0.1], [0.0], [MemberState()])
