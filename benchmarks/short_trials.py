"""Many short trials: how fast the driver turns trials over, and what it holds in memory.

The task: iris, 1,000 trials of one epoch each (an MLP of one or two hidden layers of 8 or 16
units, one activation per layer among 4, the learning rate), 2 at a time, random sampling, no
pruning, so nearly all the time is orchestration. actsearch (its default search: Ray workers,
trial figures registered) against plain Optuna (``n_jobs=2``, the same training code) on the
same storages: SQLite and PostgreSQL. All rows run one after another in this process.

Reported: trials per second, its ratio to plain Optuna on the same storage, and the peak
resident memory of the process that decides (actsearch's driver; for plain Optuna, the one
process that also trains).

Usage:
    python benchmarks/short_trials.py [--trials 1000] [--postgres URL]

Writes benchmarks/results/short_trials.md (and .json).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import optuna
import sqlalchemy
from results_file import write_results

from actsearch.search.options import SearchOptions
from actsearch.service.searches import run_search
from actsearch.train.data import Dataset, load_dataset
from actsearch.train.loop import TrainConfig, train
from actsearch.train.models import MLPConfig

CANDIDATES = ["relu", "tanh", "gelu", "elu"]
SPACE = f"""
description: many short trials
model: {{family: mlp, depth: {{low: 1, high: 2}}, width: {{choices: [8, 16]}}}}
activations: {{candidates: [{", ".join(CANDIDATES)}]}}
hyperparameters: {{lr: {{low: 1.0e-3, high: 1.0e-1, log: true}}, batch_size: 32, epochs: 1}}
sampler: {{name: random}}
pruner: {{name: none}}
strategy: {{name: joint}}
"""


@contextmanager
def postgres_schema(url: str) -> Iterator[str]:
    """A fresh schema on the server (dropped afterwards), as a storage URL."""
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    engine = sqlalchemy.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sqlalchemy.text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{url}?options=-csearch_path%3D{schema}"
    finally:
        with engine.begin() as conn:
            conn.execute(sqlalchemy.text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


def run_actsearch(storage: str, trials: int, space: Path) -> dict[str, Any]:
    start = time.perf_counter()
    result = run_search(SearchOptions(dataset="iris", space=str(space), trials=trials,
                                      workers=2, storage_url=storage, study="short",
                                      compare_relu=False,
                                      # Its own Ray, started and stopped: never a kept one.
                                      address="local"))
    return {"wall": time.perf_counter() - start, "trials": result.complete + result.pruned}


def run_optuna(storage: str, trials: int, data: Dataset) -> dict[str, Any]:
    def objective(trial: optuna.Trial) -> float:
        depth = trial.suggest_int("depth", 1, 2)
        width = trial.suggest_categorical("width", [8, 16])
        acts = tuple(trial.suggest_categorical(f"act_{i}", CANDIDATES) for i in range(depth))
        lr = trial.suggest_float("lr", 1e-3, 1e-1, log=True)
        model = MLPConfig(in_features=data.n_features, out_features=data.out_features,
                          hidden=(width,) * depth, activations=acts)
        trainer, _ = train(TrainConfig(model=model, lr=lr, batch_size=32, epochs=1), data)
        return trainer.score("val")

    study = optuna.create_study(direction="maximize", storage=storage, study_name="short",
                                sampler=optuna.samplers.RandomSampler(seed=0))
    start = time.perf_counter()
    study.optimize(objective, n_trials=trials, n_jobs=2)
    return {"wall": time.perf_counter() - start, "trials": len(study.trials)}


def run_row(row: str, trials: int, postgres: str) -> dict[str, Any]:
    """One row, in this process (a fresh one: its peak memory is the row's alone)."""
    system, storage = row.split(", ")
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        work = Path(tmp)
        space = work / "short.yaml"
        space.write_text(SPACE)
        url = (f"sqlite:///{work / 'bench.db'}" if storage == "SQLite"
               else stack.enter_context(postgres_schema(postgres)))
        result = (run_actsearch(url, trials, space) if system == "actsearch"
                  else run_optuna(url, trials, load_dataset("iris")))
    # ru_maxrss: the process's peak resident memory, in KiB on Linux.
    result["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--row", help=argparse.SUPPRESS)  # one row, in a process of its own
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if args.row:
        print(json.dumps(run_row(args.row, args.trials, args.postgres)))
        return
    rows: dict[str, dict[str, Any]] = {}
    for row in ("actsearch, SQLite", "plain Optuna n_jobs=2, SQLite",
                "actsearch, PostgreSQL", "plain Optuna n_jobs=2, PostgreSQL"):
        out = subprocess.run([sys.executable, __file__, "--row", row, "--trials",
                              str(args.trials), "--postgres", args.postgres],
                             capture_output=True, text=True, check=True).stdout
        rows[row] = json.loads(out.strip().splitlines()[-1])
    for row in rows.values():
        row["per_second"] = row["trials"] / row["wall"]
    lines = [
        f"# Many short trials: iris, {args.trials} trials of 1 epoch, 2 at a time",
        "",
        "All rows measured one after another in one run on this machine, each in a fresh "
        "process. actsearch's wall time includes starting Ray; its peak memory is the "
        "driver's (the workers train in processes of their own), plain Optuna's that of its "
        "one process, which also trains.",
        "",
        "| system | trials | wall s | trials/s | vs plain Optuna, same storage | peak MB |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, r in rows.items():
        peer = rows[f"plain Optuna n_jobs=2, {name.split(', ')[-1]}"]
        lines.append(f"| {name} | {r['trials']} | {r['wall']:.1f} | {r['per_second']:.1f} | "
                     f"{r['per_second'] / peer['per_second']:.2f} | {r['peak_mb']:.0f} |")
    lines += ["", f"Command: `python benchmarks/short_trials.py --trials {args.trials}`"]
    markdown = "\n".join(lines) + "\n"
    write_results("short_trials", rows, markdown)


if __name__ == "__main__":
    main()
