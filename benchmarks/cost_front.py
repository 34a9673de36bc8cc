"""Accuracy against inference cost: the Pareto front of a cost-aware search, on two datasets.

For each dataset, one actsearch search with ``--objectives accuracy,latency``: an MLP of 1-3
hidden layers of 32-128 units, each layer's activation among 12 functions of six families of
very different cost (rectifier: relu, leaky_relu; gated: gelu, silu, mish, swish_beta;
exponential: elu, selu; sigmoidal: tanh, softsign; periodic: sinc; rational: rational), the
learning rate; joint strategy, TPE, 2 workers, seed 0.

Reported per dataset: the Pareto front (validation accuracy, latency per example, parameters,
activations), and per activation family the best network whose every layer is of that family
(validation accuracy and its latency): what the cheapest family (rectifiers; see
``activation_throughput.md``) gives up against the most accurate one. Validation scores are
one run each, on the search's validation split: a difference of one or two validation
examples is within noise; ``actsearch confirm`` retrains over seeds.

Usage:
    python benchmarks/cost_front.py [--trials 60] [--epochs 12] [--datasets digits spirals]

Writes benchmarks/results/cost_front.md (and .json).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState
from results_file import RESULTS, write_results

from actsearch.activations import info
from actsearch.search.options import SearchOptions
from actsearch.search.pareto import pareto_front
from actsearch.service.searches import run_search

CANDIDATES = ["relu", "leaky_relu", "gelu", "silu", "mish", "swish_beta", "elu", "selu",
              "tanh", "softsign", "sinc", "rational"]
SPACE = f"""
description: cost against accuracy
model: {{family: mlp, depth: {{low: 1, high: 3}}, width: {{choices: [32, 64, 128]}}}}
activations: {{candidates: [{", ".join(CANDIDATES)}]}}
hyperparameters: {{lr: {{low: 1.0e-3, high: 3.0e-2, log: true}}, batch_size: 64, epochs: EPOCHS}}
sampler: {{name: tpe, n_startup_trials: 10}}
pruner: {{name: median, n_startup_trials: 5, n_warmup_steps: 2}}
strategy: {{name: joint}}
objectives: [accuracy, latency]
"""


def family(name: str) -> str:
    return str(info(name).family)


def measure(dataset: str, trials: int, epochs: int, work: Path) -> dict[str, Any]:
    space = work / f"{dataset}.yaml"
    space.write_text(SPACE.replace("EPOCHS", str(epochs)))
    url = f"sqlite:///{work / f'{dataset}.db'}"
    start = time.perf_counter()
    run_search(SearchOptions(dataset=dataset, space=str(space), trials=trials, workers=2,
                             storage_url=url, study=dataset, seed=0, compare_relu=False,
                             artifacts=False, address="local"))
    wall = time.perf_counter() - start
    study = optuna.load_study(study_name=dataset, storage=url)
    rows = [{"trial": t.number, "value": t.values[0], "latency_ms": t.values[1],
             "params": t.user_attrs["cost"]["params"], "flops": t.user_attrs["cost"]["flops"],
             "activations": t.user_attrs["activations"]}
            for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))]
    front = pareto_front(rows, value=lambda r: r["value"], latency=lambda r: r["latency_ms"])
    families: dict[str, dict[str, Any]] = {}
    for row in rows:
        kinds = {family(a) for a in row["activations"]}
        if len(kinds) != 1:
            continue
        (kind,) = kinds
        best = families.get(kind)
        if best is None or (row["value"], -row["latency_ms"]) > (best["value"],
                                                                 -best["latency_ms"]):
            families[kind] = row
    return {"wall": wall, "complete": len(rows), "trials": trials, "front": front,
            "families": families}


def _acts(row: dict[str, Any]) -> str:
    return " ".join(row["activations"])


def report(dataset: str, r: dict[str, Any]) -> list[str]:
    lines = [f"## {dataset}", "",
             f"{r['complete']} of {r['trials']} trials completed (the rest pruned), "
             f"{r['wall']:.0f} s.", "", "The Pareto front, fastest first:", "",
             "| trial | activations | val acc | µs per example | parameters |",
             "|---:|---|---:|---:|---:|"]
    lines += [f"| #{m['trial']} | {_acts(m)} | {m['value']:.4f} | "
              f"{1000 * m['latency_ms']:.2f} | {m['params']} |" for m in r["front"]]
    lines += ["", "The best network of each family (every layer of that family):", "",
              "| family | trial | activations | val acc | µs per example |",
              "|---|---:|---|---:|---:|"]
    fams = sorted(r["families"].items(), key=lambda kv: -kv[1]["value"])
    lines += [f"| {kind} | #{m['trial']} | {_acts(m)} | {m['value']:.4f} | "
              f"{1000 * m['latency_ms']:.2f} |" for kind, m in fams]
    rect = r["families"].get("rectifier")
    if fams and rect is not None:
        top_kind, top = fams[0]
        if top_kind == "rectifier" or top["value"] <= rect["value"]:
            lines += ["", f"The rectifiers (the cheapest functions) are also the most "
                          f"accurate family here ({rect['value']:.4f} at "
                          f"{1000 * rect['latency_ms']:.2f} µs): nothing is given up."]
        else:
            lines += ["", f"The rectifiers (the cheapest functions) give up "
                          f"{top['value'] - rect['value']:.4f} validation accuracy against "
                          f"the most accurate family: {top_kind}, {top['value']:.4f} at "
                          f"{1000 * top['latency_ms']:.2f} µs, against {rect['value']:.4f} "
                          f"at {1000 * rect['latency_ms']:.2f} µs."]
    return [*lines, ""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=60)
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--datasets", nargs="+", default=["digits", "spirals"])
    parser.add_argument("--results-dir", type=Path, default=RESULTS)
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for dataset in args.datasets:
            results[dataset] = measure(dataset, args.trials, args.epochs, Path(tmp))
    lines = [f"# Accuracy against inference cost: {', '.join(args.datasets)}", "",
             f"Command: `python benchmarks/cost_front.py --trials {args.trials} --epochs "
             f"{args.epochs} --datasets {' '.join(args.datasets)}` ({time.strftime('%Y-%m-%d')}"
             ", 2-core CPU machine; one search per dataset, seed 0, each with a Ray of its own). "
             "Latency: median inference milliseconds per example over batches of 256 rows on "
             "the CPU the trial trained on, warm-up excluded, measured while the other worker "
             "trained (as a search measures it). Validation accuracy: one run per "
             "configuration.", ""]
    for dataset, r in results.items():
        lines += report(dataset, r)
    write_results("cost_front", results, "\n".join(lines), args.results_dir)


if __name__ == "__main__":
    main()
