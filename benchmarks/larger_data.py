"""Search speed on larger data: actsearch vs plain Optuna on a generated 100,000-row table.

The task: ``sklearn.datasets.make_classification`` (100,000 rows, 50 features, 20
informative, 4 classes, ``random_state=0``), saved as an NPZ file (arrays ``X`` and ``y``) and
loaded through actsearch like any user file (60/20/20, standardised). MLP 4x64, one
activation per layer among 12 plus the learning rate (log 1e-4..1e-1), Adam, batch 256, 10
epochs, objective validation accuracy, 40 trials, 2 at a time; TPE (10 startup trials) and
median pruning. All rows run one after another in this process, so they see the same machine
state. It is ``search_overhead.py`` (digits, 1,078 training rows) with 60,000 training rows:
where a trial's epochs are long, what does the orchestration still cost?

Four classes rather than two so that the user loop stays the one of search_overhead.py
(cross-entropy over ``out_features`` logits; a binary table has one output and would need BCE).

The rows (``ROWS``; ``--rows`` picks a subset by key):

- ``actsearch``: its default search (Ray, 2 workers, SQLite, trial figures registered);
- ``actsearch-packed``: the same with ``--trials-per-worker 8`` (each worker trains 8 trials
  at once, those of one shape as one batched network);
- ``optuna-user``: plain Optuna ``n_jobs=2`` with the loop a user writes (DataLoader);
- ``optuna-actsearch-loop``: plain Optuna ``n_jobs=2`` with actsearch's ``Trainer``.

Torch threads: exactly as in search_overhead.py. The plain Optuna rows do *not* call
``torch.set_num_threads``: both trial threads share the process's default intra-op pool
(``torch.get_num_threads()``, the core count). actsearch's workers set their own thread count
(``cpus_per_trial``, 1 here) in their processes, as they do for users.

Reported per row: wall time, its ratio to plain Optuna with the user loop, epochs trained,
best validation accuracy, and wall time / (sum of the trained epochs' seconds / 2): 1.00 means
no orchestration cost at all.

Usage:
    python benchmarks/larger_data.py [--trials 40] [--epochs 10] [--rows KEY,KEY] [--smoke]

``--smoke`` (5,000 rows, 4 trials, 2 epochs) is a quick check that everything runs; it writes
larger_data_smoke.md (and .json) in ``--results-dir`` (default benchmarks/results). A full
run writes larger_data.md (and .json) there.
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import search_overhead
import torch
import torch.nn.functional as F
from results_file import RESULTS, write_results
from torch.utils.data import DataLoader, TensorDataset

from actsearch.search.options import SearchOptions
from actsearch.service.searches import run_search
from actsearch.train.data import Dataset, load_dataset
from actsearch.train.loop import TrainConfig, Trainer
from actsearch.train.models import MLP, MLPConfig

ROWS_FULL, ROWS_SMOKE = 100_000, 5_000
FEATURES, INFORMATIVE, CLASSES = 50, 20, 4
DEPTH, WIDTH, BATCH = 4, 64, 256
CANDIDATES = search_overhead.CANDIDATES  # the plain Optuna rows search the same
SPACE = f"""
description: the larger-data speed task
model: {{family: mlp, depth: {DEPTH}, width: {WIDTH}}}
activations: {{candidates: [{", ".join(CANDIDATES)}]}}
hyperparameters: {{lr: {{low: 1.0e-4, high: 1.0e-1, log: true}}, batch_size: {BATCH}, \
epochs: EPOCHS}}
sampler: {{name: tpe, n_startup_trials: 10}}
pruner: {{name: median, n_startup_trials: 5, n_warmup_steps: 0}}
strategy: {{name: joint}}  # like for like: plain Optuna samples everything together
"""
REFERENCE = "optuna-user"  # the row the others' wall time is divided by


@dataclass(frozen=True)
class Bench:
    """What every row gets: the data (as a file and loaded), the budget, a scratch folder."""

    path: Path
    data: Dataset
    trials: int
    epochs: int
    workdir: Path


def make_table(path: Path, n_samples: int) -> None:
    """The generated classification table, as actsearch reads user files: NPZ, X and y."""
    from sklearn.datasets import make_classification

    x, y = make_classification(n_samples=n_samples, n_features=FEATURES,
                               n_informative=INFORMATIVE, n_classes=CLASSES, random_state=0)
    np.savez(path, X=x, y=y)


def _model(data: Dataset, acts: tuple[str, ...]) -> MLPConfig:
    return MLPConfig(data.n_features, data.out_features, (WIDTH,) * DEPTH, acts)


def typical_epochs(data: Dataset, acts: tuple[str, ...], lr: float,
                   epochs: int) -> Iterator[tuple[float, float]]:
    """The loop a user writes: DataLoader over a TensorDataset, evaluate after each epoch."""
    model = MLP(_model(data, acts))
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    loader = DataLoader(TensorDataset(data.x_train, data.y_train), batch_size=BATCH,
                        shuffle=True)
    for _ in range(epochs):
        start = time.perf_counter()
        model.train()
        for xb, yb in loader:
            optimizer.zero_grad()
            F.cross_entropy(model(xb), yb).backward()  # type: ignore[no-untyped-call]
            optimizer.step()
        model.eval()
        with torch.no_grad():
            acc = float((model(data.x_val).argmax(1) == data.y_val).float().mean())
        yield acc, time.perf_counter() - start


def actsearch_epochs(data: Dataset, acts: tuple[str, ...], lr: float,
                     epochs: int) -> Iterator[tuple[float, float]]:
    """actsearch's own loop (the one its workers run), an epoch per step."""
    config = TrainConfig(_model(data, acts), lr=lr, batch_size=BATCH, epochs=epochs)
    trainer = Trainer(config, data, "cpu")
    for _ in range(epochs):
        result = trainer.train_epoch()
        yield result.value, result.seconds


Loop = Callable[[Dataset, tuple[str, ...], float, int], Iterator[tuple[float, float]]]


def run_actsearch(bench: Bench, study: str, **extra_options: Any) -> dict[str, Any]:
    """One actsearch search over the NPZ file. ``extra_options`` go into SearchOptions as they
    are (e.g. ``artifacts=False``, ``cpus_per_trial=2``): the place for a variant row."""
    space = bench.workdir / "larger.yaml"
    space.write_text(SPACE.replace("EPOCHS", str(bench.epochs)))
    storage = f"sqlite:///{bench.workdir / f'{study}.db'}"
    options: dict[str, Any] = {
        "dataset": None, "data_path": bench.path, "space": str(space), "trials": bench.trials,
        "workers": 2, "storage_url": storage, "study": study, "compare_relu": False,
        # A Ray of its own per search, started and stopped (never a kept one): the rows
        # include Ray's fixed cost, as the results say.
        "address": "local",
    }
    options.update(extra_options)
    start = time.perf_counter()
    result = run_search(SearchOptions(**options))
    wall = time.perf_counter() - start
    return {"wall": wall, "epochs": result.epochs_trained, "epoch_seconds": result.epoch_seconds,
            "best": result.best_value}


def run_optuna(bench: Bench, loop: Loop) -> dict[str, Any]:
    """Plain Optuna, 2 trial threads, exactly as search_overhead.py runs it (the same 4
    layers of 12 candidates and learning rate, TPE and median pruning at their defaults)."""
    return search_overhead.run_optuna(bench.data, bench.trials, bench.epochs, loop, seed=0)


# Row key -> (label in the table, what measures it). Run in this order; add rows here.
# An actsearch variant is one more line, e.g.
#   "actsearch-no-figures": ("actsearch, no figures",
#                            lambda b: run_actsearch(b, "nofig", artifacts=False)),
PACK = 8  # trials per worker in the packed row
ROWS: dict[str, tuple[str, Callable[[Bench], dict[str, Any]]]] = {
    "actsearch": ("actsearch default (Ray, 2 workers, SQLite, artifacts on)",
                  lambda b: run_actsearch(b, "default")),
    "actsearch-packed": (f"actsearch --trials-per-worker {PACK}",
                         lambda b: run_actsearch(b, "packed", trials_per_worker=PACK)),
    "optuna-user": ("plain Optuna n_jobs=2, user loop (DataLoader)",
                    lambda b: run_optuna(b, typical_epochs)),
    "optuna-actsearch-loop": ("plain Optuna n_jobs=2, actsearch loop (Trainer)",
                              lambda b: run_optuna(b, actsearch_epochs)),
}


def machine() -> str:
    cuda = torch.cuda.is_available()
    return (f"{os.cpu_count()} cores, {'CUDA' if cuda else 'CPU'} "
            f"(torch {torch.__version__}, {torch.get_num_threads()} intra-op threads by default)")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--trials", type=int, default=None, help="default 40 (smoke: 4)")
    parser.add_argument("--epochs", type=int, default=None, help="default 10 (smoke: 2)")
    parser.add_argument("--rows", default=",".join(ROWS),
                        help=f"comma-separated row keys, run in this order ({', '.join(ROWS)})")
    parser.add_argument("--smoke", action="store_true",
                        help="5,000 rows, 4 trials, 2 epochs; writes larger_data_smoke.md")
    parser.add_argument("--results-dir", type=Path, default=RESULTS)
    args = parser.parse_args()
    keys = [k.strip() for k in args.rows.split(",") if k.strip()]
    unknown = [k for k in keys if k not in ROWS]
    if unknown or not keys:
        parser.error(f"unknown row(s) {', '.join(unknown)}: choose among {', '.join(ROWS)}")
    n_samples = ROWS_SMOKE if args.smoke else ROWS_FULL
    trials = args.trials or (4 if args.smoke else 40)
    epochs = args.epochs or (2 if args.smoke else 10)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    command = " ".join(["python", "benchmarks/larger_data.py", *sys.argv[1:]])
    started = datetime.datetime.now().astimezone()

    rows: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        path = work / "larger_data.npz"
        make_table(path, n_samples)
        bench = Bench(path=path, data=load_dataset(path=path), trials=trials, epochs=epochs,
                      workdir=work)
        train_rows = len(bench.data.x_train)
        for key in keys:
            label, measure = ROWS[key]
            print(f"[{time.strftime('%H:%M:%S')}] {key}: {label} ...", flush=True)
            rows[key] = {"label": label, **measure(bench)}
            print(f"[{time.strftime('%H:%M:%S')}] {key}: {rows[key]['wall']:.1f} s, "
                  f"{rows[key]['epochs']} epochs, best {rows[key]['best']:.4f}", flush=True)
    total = (datetime.datetime.now().astimezone() - started).total_seconds()
    for row in rows.values():
        row["overhead"] = row["wall"] / (row["epoch_seconds"] / 2)
    reference = rows[REFERENCE]["wall"] if REFERENCE in rows else None
    lines = [
        f"# Search speed on larger data: {n_samples:,} x {FEATURES} generated table "
        f"({CLASSES} classes), {DEPTH}x{WIDTH} MLP, 12 candidates per layer + lr, batch "
        f"{BATCH}, {epochs} epochs, {trials} trials, 2 at a time",
        "",
        f"Command: `{command}` ({started:%Y-%m-%d %H:%M %Z}; {total:.0f} s in all). "
        f"Machine: {machine()}.",
        "",
        f"The data: `make_classification(n_samples={n_samples}, n_features={FEATURES}, "
        f"n_informative={INFORMATIVE}, n_classes={CLASSES}, random_state=0)` saved as NPZ and "
        f"loaded through actsearch ({train_rows:,} training rows, "
        f"{-(-train_rows // BATCH)} steps per epoch). TPE (10 startup trials), median pruning.",
        "",
        "All rows ran side by side in this one run, one after another in one process, so they "
        "saw the same machine state. 'wall / epochs on 2 cores' is wall time divided by (sum "
        "of the trained epochs' seconds / 2): 1.00 means no orchestration cost at all; "
        "actsearch's figure includes starting Ray. The plain Optuna rows leave torch's thread "
        "count at its default (as search_overhead.py does); actsearch's workers use 1 thread "
        "per trial.",
        "",
        "| system | wall s | vs plain Optuna (user loop) | epochs trained | best val acc | "
        "wall / epochs on 2 cores |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows.values():
        ratio = f"{r['wall'] / reference:.2f}" if reference else "-"
        lines.append(f"| {r['label']} | {r['wall']:.1f} | {ratio} | {r['epochs']} "
                     f"| {r['best']:.4f} | {r['overhead']:.2f} |")
    markdown = "\n".join(lines) + "\n"
    body = {"command": command, "date": started.isoformat(), "machine": machine(),
            "n_samples": n_samples, "trials": trials, "epochs": epochs, "total_seconds": total,
            "rows": rows}
    write_results("larger_data_smoke" if args.smoke else "larger_data", body, markdown,
                  args.results_dir)


if __name__ == "__main__":
    main()
