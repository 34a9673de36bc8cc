"""What activation-aware initialisation changes, and the measurements behind its choices.

Four parts, each trained with actsearch's own loop (``Trainer``), on this machine, one process
per core:

1. **Signal through depth.** A 16 x 256 MLP of one activation, N(0, 1) inputs (4,096 rows):
   the mean and variance of the pre-activations at layers 1, 4, 8, 12 and 16 at
   initialisation, with the catalogue's rule (``init: activation``) and PyTorch's defaults
   (``init: torch``). Self-normalising networks need variance near 1 at every depth.
2. **SIREN's input frequency.** A sine network (2 x 64) with the input layer drawn as SIREN's
   first layer, U(-ω0/fan_in, ω0/fan_in), for ω0 in 1, 3, 6, 10, 30, against PyTorch's default
   and against ReLU (both inits), on the built-in ``periodic`` target (sin(2πx₁) + sin(2πx₂),
   two noise features), a high-frequency 1D signal (sin(8πx) + 0.5 sin(13πx)) and three KEEL
   tables. This chose ``SIREN_INPUT_FREQUENCY``.
3. **Biases.** ReLU with He weights and PyTorch's bias draw (what actsearch does) against He
   et al.'s zero biases, on the same data.
4. **Each function, before and after.** Every candidate of the default space, a 3 x 64 MLP
   of that function, on four KEEL tables: the score with each init.

Every score is the mean over seeds of the best learning rate (of 1e-3, 3e-3, 1e-2; chosen
on the validation split) after 20 epochs (40 for the 1D signal), Adam, batch 64; validation
(what chose) and test (never used to choose) are both reported.

Usage:
    python benchmarks/init_rules.py [--seeds 3] [--smoke] [--results-dir DIR]

``--smoke`` (one seed, one learning rate, 2 epochs, fewer rows) only checks that every part
runs; it writes init_rules_smoke.md (and .json).
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from results_file import RESULTS, write_results

from actsearch.activations import _init
from actsearch.train.data import Dataset, load_dataset, prepare
from actsearch.train.loop import TrainConfig, Trainer
from actsearch.train.models import MLPConfig, build_model

DEPTH_FUNCTIONS = ("selu", "relu", "tanh", "gelu", "sinusoid")
DEPTH_LAYERS = (1, 4, 8, 12, 16)
FREQUENCIES = (1.0, 3.0, 6.0, 10.0, 30.0)
TABLES = ("keel:bupa", "keel:bands", "keel:contraceptive", "keel:german")
FIT_DATA = ("periodic", "signal1d", "keel:bupa", "keel:bands", "keel:contraceptive")
DEFAULT_CANDIDATES = ("relu", "leaky_relu", "elu", "selu", "gelu", "silu", "mish", "tanh",
                      "sigmoid", "softplus", "softsign", "prelu", "sinusoid")
LRS = (1e-3, 3e-3, 1e-2)


@dataclass(frozen=True)
class Run:
    """One setting to score: a network of one activation on one dataset."""

    data: str
    activation: str
    init: str  # activation or torch
    layers: int = 2
    frequency: float | None = None  # SIREN's ω0 for the input layer
    zero_bias: bool = False
    epochs: int = 20


@dataclass(frozen=True)
class Budget:
    """How hard each setting is trained (the smoke run trains little)."""

    seeds: int
    lrs: tuple[float, ...]
    epoch_scale: float
    rows: int


def signal1d(rows: int) -> Dataset:
    """A high-frequency 1D signal: sin(8πx) + 0.5 sin(13πx), x ~ U(-1, 1)."""
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, size=(rows, 1))
    y = np.sin(8 * np.pi * x[:, 0]) + 0.5 * np.sin(13 * np.pi * x[:, 0])
    return prepare("signal1d", x, y, "regression")


def dataset(name: str, rows: int) -> Dataset:
    return signal1d(rows) if name == "signal1d" else load_dataset(name)


def score(run: Run, budget: Budget) -> dict[str, Any]:
    """Best learning rate by mean validation score over seeds: its validation and test."""
    torch.set_num_threads(1)
    if run.frequency is not None:
        _init.SIREN_INPUT_FREQUENCY = run.frequency
    data = dataset(run.data, budget.rows)
    epochs = max(1, round(run.epochs * budget.epoch_scale))
    best: dict[str, Any] | None = None
    for lr in budget.lrs:
        vals, tests = [], []
        for seed in range(budget.seeds):
            model = MLPConfig(data.n_features, data.out_features, (64,) * run.layers,
                              (run.activation,) * run.layers, init=run.init)  # type: ignore[arg-type]
            trainer = Trainer(TrainConfig(model, lr=lr, epochs=epochs, seed=seed), data, "cpu")
            if run.zero_bias:
                with torch.no_grad():
                    for block in trainer.model.blocks:  # type: ignore[union-attr]
                        block.layer.bias.zero_()
            for _ in range(epochs):
                if trainer.train_epoch().diverged:
                    break
            vals.append(trainer.score("val"))
            tests.append(trainer.score("test"))
        row = {"lr": lr, "val": float(np.mean(vals)), "test": float(np.mean(tests))}
        if best is None or row["val"] > best["val"]:
            best = row
    assert best is not None
    return {**run.__dict__, **best}


def depth_statistics() -> list[dict[str, Any]]:
    """Pre-activation mean and variance through a 16 x 256 network at initialisation."""
    rows = []
    x = torch.randn(4096, 256, generator=torch.Generator().manual_seed(0))
    for function in DEPTH_FUNCTIONS:
        for init in ("activation", "torch"):
            torch.manual_seed(0)
            model = build_model(MLPConfig(256, 1, (256,) * 16, (function,) * 16,
                                          init=init))  # type: ignore[arg-type]
            model.eval()
            h, stats = x, {}
            with torch.no_grad():
                for i, block in enumerate(model.blocks, start=1):  # type: ignore[union-attr]
                    z = block.layer(h)
                    if i in DEPTH_LAYERS:
                        stats[i] = (float(z.mean()), float(z.var()))
                    h = block.activation(z)
            rows.append({"activation": function, "init": init, "layers": stats})
    return rows


def run_all(runs: list[Run], budget: Budget, workers: int) -> list[dict[str, Any]]:
    with ProcessPoolExecutor(workers) as pool:
        return list(pool.map(score, runs, [budget] * len(runs)))


def fmt(value: float) -> str:
    return f"{value:.3f}"


@dataclass(frozen=True)
class Scope:
    """What a run covers (the smoke run covers less)."""

    fit_data: tuple[str, ...]
    tables: tuple[str, ...]
    candidates: tuple[str, ...]


def markdown(depth: list[dict[str, Any]], siren: list[dict[str, Any]],
             bias: list[dict[str, Any]], functions: list[dict[str, Any]], budget: Budget,
             scope: Scope, command: str) -> str:
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    out = [
        "# Activation-aware initialisation: what it changes",
        "",
        f"Written {now} on {platform.machine()}, {os.cpu_count()} cores. Command: "
        f"`{command}`. Scores: mean over {budget.seeds} seed(s) at the best learning rate of "
        f"{', '.join(f'{lr:g}' for lr in budget.lrs)} (chosen on validation); "
        "validation / test.",
        "",
        "## 1. Pre-activations through a 16 x 256 network at initialisation (N(0, 1) inputs)",
        "",
        "| activation | init | " + " | ".join(f"layer {i} mean, var" for i in DEPTH_LAYERS)
        + " |",
        "|---|---|" + "---|" * len(DEPTH_LAYERS),
    ]
    for row in depth:
        cells = [f"{m:+.3f}, {v:.3f}" for m, v in (row["layers"][i] for i in DEPTH_LAYERS)]
        out.append(f"| {row['activation']} | {row['init']} | " + " | ".join(cells) + " |")
    out += ["", "## 2. SIREN's input frequency ω0 (sine networks, 2 x 64)", "",
            "| data | relu, torch | relu, activation | sin, torch | "
            + " | ".join(f"sin, ω0 = {f:g}" for f in FREQUENCIES) + " |",
            "|---|" + "---|" * (3 + len(FREQUENCIES))]
    def cell(name: str, **match: Any) -> str:
        row = next(r for r in siren if r["data"] == name
                   and all(r[k] == v for k, v in match.items()))
        return f"{fmt(row['val'])} / {fmt(row['test'])}"

    for name in scope.fit_data:
        cells = [cell(name, activation="relu", init="torch"),
                 cell(name, activation="relu", init="activation"),
                 cell(name, activation="sinusoid", init="torch")]
        cells += [cell(name, activation="sinusoid", init="activation", frequency=f)
                  for f in FREQUENCIES]
        out.append(f"| {name} | " + " | ".join(cells) + " |")
    out += ["", "## 3. ReLU's biases under He weights (2 x 64)", "",
            "| data | PyTorch's bias draw (actsearch) | zero biases (He et al.) |",
            "|---|---|---|"]
    for name in scope.fit_data:
        pair = [next(r for r in bias if r["data"] == name and r["zero_bias"] == zero)
                for zero in (False, True)]
        out.append(f"| {name} | " + " | ".join(f"{fmt(r['val'])} / {fmt(r['test'])}"
                                               for r in pair) + " |")
    out += ["", "## 4. Each candidate of the default space, before and after (3 x 64)", "",
            "Before: PyTorch's defaults (`init: torch`); after: the catalogue's rule. "
            "Δ = after - before, test.", "",
            "| activation | rule | "
            + " | ".join(f"{t} before / after (Δ)" for t in scope.tables)
            + " | mean Δ |", "|---|---|" + "---|" * (len(scope.tables) + 1)]
    from actsearch import activations

    for function in scope.candidates:
        cells, deltas = [], []
        for table in scope.tables:
            before, after = (next(r for r in functions if r["data"] == table
                                  and r["activation"] == function and r["init"] == init)
                             for init in ("torch", "activation"))
            delta = after["test"] - before["test"]
            deltas.append(delta)
            cells.append(f"{fmt(before['test'])} / {fmt(after['test'])} ({delta:+.3f})")
        rule = activations.info(function).init.scheme
        out.append(f"| {function} | {rule} | " + " | ".join(cells)
                   + f" | {np.mean(deltas):+.3f} |")
    return "\n".join(out) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--results-dir", type=Path, default=RESULTS)
    args = parser.parse_args()
    budget = (Budget(seeds=1, lrs=(1e-2,), epoch_scale=0.1, rows=200) if args.smoke else
              Budget(seeds=args.seeds, lrs=LRS, epoch_scale=1.0, rows=1000))
    scope = (Scope(("periodic", "signal1d"), ("keel:bupa",), ("relu", "selu", "sinusoid"))
             if args.smoke else Scope(FIT_DATA, TABLES, DEFAULT_CANDIDATES))

    def epochs_for(name: str) -> int:
        return 40 if name == "signal1d" else 20

    siren_runs = [Run(d, "relu", init, epochs=epochs_for(d))
                  for d in scope.fit_data for init in ("torch", "activation")]
    siren_runs += [Run(d, "sinusoid", "torch", epochs=epochs_for(d)) for d in scope.fit_data]
    siren_runs += [Run(d, "sinusoid", "activation", frequency=f, epochs=epochs_for(d))
                   for d in scope.fit_data for f in FREQUENCIES]
    bias_runs = [Run(d, "relu", "activation", zero_bias=z, epochs=epochs_for(d))
                 for d in scope.fit_data for z in (False, True)]
    function_runs = [Run(t, f, init, layers=3) for t in scope.tables
                     for f in scope.candidates for init in ("torch", "activation")]
    depth = depth_statistics()
    siren = run_all(siren_runs, budget, args.workers)
    bias = run_all(bias_runs, budget, args.workers)
    functions = run_all(function_runs, budget, args.workers)
    command = "python benchmarks/init_rules.py" + (" --smoke" if args.smoke else
                                                    f" --seeds {args.seeds}")
    name = "init_rules_smoke" if args.smoke else "init_rules"
    body = {"budget": budget.__dict__, "depth": depth, "siren": siren, "bias": bias,
            "functions": functions}
    write_results(name, body,
                  markdown(depth, siren, bias, functions, budget, scope, command),
                  args.results_dir)


if __name__ == "__main__":
    main()
