"""The CUDA paths: training with automatic mixed precision, several trials trained as one
batched network, and every catalogue function on the GPU. Skipped where no GPU is visible
(CI never has one); run on a GPU machine with
``pytest -m gpu --noconftest tests/search/test_cuda.py``."""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from actsearch import activations
from actsearch.train.data import load_dataset, prepare
from actsearch.train.loop import EpochResult, TrainConfig, train
from actsearch.train.models import CNNConfig, MLPConfig
from tests.support import pack_beside_lone_twins

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="no GPU visible")]


def _mlp(acts: tuple[str, ...]) -> TrainConfig:
    data = load_dataset("digits")
    return TrainConfig(MLPConfig(data.n_features, data.out_features, (64,) * len(acts), acts),
                       lr=3e-3, epochs=15, seed=0)


def test_mixed_precision_training_on_cuda_learns_as_well_as_on_cpu() -> None:
    data = load_dataset("digits")
    config = _mlp(("silu", "gelu", "relu"))
    gpu, gpu_history = train(config, data, "cuda")
    cpu, cpu_history = train(config, data, "cpu")
    assert gpu.amp and next(gpu.model.parameters()).is_cuda
    assert not any(r.diverged for r in gpu_history)
    assert gpu_history[-1].value > 0.93
    assert abs(gpu_history[-1].value - cpu_history[-1].value) < 0.03
    assert abs(gpu.score("test") - cpu.score("test")) < 0.03
    assert gpu_history[-1].telemetry  # per-layer telemetry is taken on the GPU too


@pytest.mark.parametrize("amp", [False, True])
def test_a_pack_on_cuda_trains_each_member_as_alone(amp: bool) -> None:
    """Without AMP a packed member matches its lone twin on the GPU; with it (bfloat16 for the
    batched network) every member still learns."""
    data = load_dataset("digits")
    configs = [dataclasses.replace(_mlp(acts), lr=lr, seed=seed, epochs=5, amp=amp)
               for acts, lr, seed in [(("silu", "gelu", "relu"), 3e-3, 0),
                                      (("relu", "relu", "tanh"), 1e-3, 1),
                                      (("gelu", "prelu", "elu"), 5e-3, 2)]]
    pack, alone = pack_beside_lone_twins(data, configs, "cuda")
    for _ in range(5):
        results = pack.train_epoch()
        for key, trainer in enumerate(alone):
            packed, single = results[key], trainer.train_epoch()
            assert isinstance(packed, EpochResult) and not packed.diverged
            if not amp:
                assert packed.value == pytest.approx(single.value, abs=0.02)
    assert all(isinstance(r, EpochResult) and r.value > 0.9 for r in results.values())


def test_a_cnn_trains_on_cuda() -> None:
    digits = load_digits()
    data = prepare("digits-images", digits.data.astype(np.float32), digits.target,
                   image_shape=(1, 8, 8))
    config = TrainConfig(CNNConfig(1, 8, 10, channels=(16, 32), dense=(64,),
                                   activations=("relu", "mish", "gelu")),
                         lr=3e-3, epochs=10, seed=0)
    trainer, history = train(config, data, "cuda")
    assert not any(r.diverged for r in history)
    assert history[-1].value > 0.9 and trainer.score("test") > 0.85


@pytest.mark.parametrize("name", activations.names())
def test_every_function_runs_on_cuda_as_on_cpu(name: str) -> None:
    torch.manual_seed(0)
    module = activations.create(name).eval()  # eval: a stochastic unit (rrelu) is deterministic
    x = torch.randn(512, 48) * 3
    expected = module(x)
    on_gpu = copy.deepcopy(module).cuda()
    got = on_gpu(x.cuda())
    torch.testing.assert_close(got.cpu(), expected, rtol=1e-3, atol=1e-4)
    with torch.autocast("cuda", dtype=torch.float16):  # as trials train on a GPU
        half = on_gpu(x.cuda())
    assert torch.isfinite(half).all(), name
    torch.testing.assert_close(half.float().cpu(), expected, rtol=2e-2, atol=2e-2)
    grad_input = x.cuda().requires_grad_()
    on_gpu.train()(grad_input).sum().backward()
    assert grad_input.grad is not None and torch.isfinite(grad_input.grad).all(), name
