"""Forward+backward throughput of every catalogue function and of formula strings, on CPU.

Each function runs side by side with its reference in the same process, interleaved round by
round, so machine noise hits both alike; times are the best of the rounds (noise only ever adds
time) and the ratio is ours / reference of those best times.

- Catalogue functions are compared with the torch built-in where one exists (goal <= 1.1).
- Formula strings are compared with the same function written by hand in torch (goal <= 1.5).

Usage:
    python benchmarks/activation_throughput.py [--rows 4096] [--cols 1024] [--rounds 7]

Writes benchmarks/results/activation_throughput.md (and .json).
"""

from __future__ import annotations

import argparse
import importlib
import json
import platform
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from actsearch import activations

RESULTS = Path(__file__).parent / "results"

HAND_WRITTEN: dict[str, Callable[[Tensor], Tensor]] = {
    "x * sigmoid(1.5 * x)": lambda x: x * torch.sigmoid(1.5 * x),
    "max(x, sigmoid(x))": lambda x: torch.maximum(x, torch.sigmoid(x)),
    "x * tanh(softplus(x))": lambda x: x * torch.tanh(F.softplus(x)),
    "x / (1 + abs(x))": lambda x: x / (1 + torch.abs(x)),
    "max(x, 0) + 0.1 * min(x, 0)": lambda x: torch.clamp(x, min=0) + 0.1 * torch.clamp(x, max=0),
    "sin(x) * exp(-x**2)": lambda x: torch.sin(x) * torch.exp(-torch.square(x)),
}


def _builtin(name: str) -> nn.Module | None:
    info = activations.info(name)
    if info.torch_equivalent is None:
        return None
    module_name, _, attr = info.torch_equivalent.rpartition(".")
    target = getattr(importlib.import_module(module_name), attr)
    if name == "gelu_tanh":
        return nn.GELU(approximate="tanh")
    if isinstance(target, type):
        return target(**info.params) if info.factory is target else target()
    return activations.FunctionActivation(target)


def _time_once(fn: Callable[[Tensor], Tensor], x: Tensor) -> float:
    x = x.detach().requires_grad_(True)
    start = time.perf_counter()
    fn(x).sum().backward()
    return time.perf_counter() - start


def _paired(ours: Callable[[Tensor], Tensor], ref: Callable[[Tensor], Tensor], x: Tensor,
            rounds: int) -> tuple[float, float, float]:
    """Best seconds of ours and of ref over interleaved rounds, and their ratio."""
    for fn in (ours, ref):  # warm-up: allocator, lazy init
        _time_once(fn, x)
    t_ours, t_ref = [], []
    for i in range(rounds):
        order = (ours, ref) if i % 2 == 0 else (ref, ours)
        times = {id(fn): _time_once(fn, x) for fn in order}
        t_ours.append(times[id(ours)])
        t_ref.append(times[id(ref)])
    return min(t_ours), min(t_ref), min(t_ours) / min(t_ref)


def _solo(fn: Callable[[Tensor], Tensor], x: Tensor, rounds: int) -> float:
    _time_once(fn, x)
    return min(_time_once(fn, x) for _ in range(rounds))



def run(rows: int, cols: int, rounds: int) -> dict[str, object]:
    torch.manual_seed(0)
    x = torch.randn(rows, cols)
    elements = x.numel()
    catalogue = []
    for name in activations.names():
        module = activations.create(name).train()
        builtin = _builtin(name)
        if builtin is None:
            seconds = _solo(module, x, rounds)  # maxout: 1024 -> 512 units
            catalogue.append({"name": name, "ms": seconds * 1e3,
                              "melem_per_s": elements / seconds / 1e6,
                              "builtin": None, "builtin_ms": None, "ratio": None})
            continue
        ours_s, ref_s, ratio = _paired(module, builtin.train(), x, rounds)
        catalogue.append({"name": name, "ms": ours_s * 1e3, "melem_per_s": elements / ours_s / 1e6,
                          "builtin": activations.info(name).torch_equivalent,
                          "builtin_ms": ref_s * 1e3, "ratio": ratio})
    # A/A: the same module against itself shows how much of a ratio is noise on this machine.
    relu = nn.ReLU()
    noise = _paired(relu, nn.ReLU(), x, rounds)[2]
    formulas = []
    for expression, hand in HAND_WRITTEN.items():
        module = activations.create(expression)
        ours_s, ref_s, ratio = _paired(module, hand, x, rounds)
        formulas.append({"formula": expression, "ms": ours_s * 1e3, "hand_ms": ref_s * 1e3,
                         "ratio": ratio})
    return {
        "shape": [rows, cols], "rounds": rounds, "torch": torch.__version__,
        "threads": torch.get_num_threads(), "machine": platform.machine(),
        "catalogue": catalogue, "formulas": formulas, "aa_noise_ratio": noise,
    }


def to_markdown(result: dict[str, object]) -> str:
    rows, cols = result["shape"]  # type: ignore[misc]
    lines = [
        f"# Activation throughput: forward+backward, {rows}x{cols} float32, CPU",
        "",
        f"torch {result['torch']}, {result['threads']} threads, best of {result['rounds']} "
        "interleaved rounds. Ratio = ours / reference, measured side by side (goal: <= 1.1 vs a "
        "torch built-in, <= 1.5 for formulas vs hand-written torch).",
        "",
        f"A/A check, torch.nn.ReLU against itself: ratio {result['aa_noise_ratio']:.2f} "
        "(how far from 1.00 noise alone moves a ratio in this run).",
        "",
        "| function | ms | Melem/s | torch reference | ref ms | ratio |",
        "|---|---:|---:|---|---:|---:|",
    ]
    for r in result["catalogue"]:  # type: ignore[attr-defined]
        ratio = f"{r['ratio']:.2f}" if r["ratio"] is not None else "–"
        ref_ms = f"{r['builtin_ms']:.1f}" if r["builtin_ms"] is not None else "–"
        lines.append(f"| {r['name']} | {r['ms']:.1f} | {r['melem_per_s']:.0f} | "
                     f"{r['builtin'] or '–'} | {ref_ms} | {ratio} |")
    lines += ["", "| formula string | ms | hand-written ms | ratio |", "|---|---:|---:|---:|"]
    for r in result["formulas"]:  # type: ignore[attr-defined]
        lines.append(f"| `{r['formula']}` | {r['ms']:.1f} | {r['hand_ms']:.1f} | "
                     f"{r['ratio']:.2f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=4096)
    parser.add_argument("--cols", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=11)
    args = parser.parse_args()
    result = run(args.rows, args.cols, args.rounds)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "activation_throughput.json").write_text(json.dumps(result, indent=2))
    markdown = to_markdown(result)
    (RESULTS / "activation_throughput.md").write_text(markdown)
    print(markdown)
    print(f"written to {RESULTS / 'activation_throughput.md'}")


if __name__ == "__main__":
    main()
