"""Search wall time and orchestration overhead: actsearch vs plain Optuna vs Ray Tune.

The task: sklearn digits (60/20/20, standardised), MLP 4x64, one
activation per layer among 12 plus the learning rate (log 1e-4..1e-1), Adam, batch 64, 30
epochs, objective validation accuracy, 48 trials, 2 at a time; TPE + median pruning (ASHA
for Ray Tune, whose OptunaSearch cannot prune). All systems run one after another in this
process, so they see the same machine state.

The peers run twice: with the training loop a user would write (DataLoader, as in
pytorch/examples) and with actsearch's own loop, which isolates
what the orchestration costs from what the loop costs.

actsearch runs as users get it: figures registered (drawn when opened), and the local Ray
that the first search starts and keeps for the next ones (``ACTSEARCH_RAY_KEEP_SECONDS``); a
first search, then the next one joining the kept Ray; then like for like (no figures), then
with ``--trials-per-worker`` (each worker trains several trials at once, those of one shape as
one batched network), and last with a Ray of its own per search, started and stopped by it
(``ACTSEARCH_RAY_KEEP_SECONDS=0``, as every search did before Rays were kept).

Reported per system: wall time, epochs trained, best validation accuracy, and the ratio of
wall time to the time its trained epochs alone take on two cores (sum of epoch times / 2).

Usage:
    python benchmarks/search_overhead.py [--trials 48] [--epochs 30] [--seeds 3] [--skip-tune]
    python benchmarks/search_overhead.py --smoke --results-dir DIR   # CI: 6 trials, 2 epochs

Writes benchmarks/results/search_overhead.md (and .json).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import optuna
import psutil
import torch
import torch.nn.functional as F
from results_file import RESULTS, write_results
from torch.utils.data import DataLoader, TensorDataset

from actsearch.search import local_ray
from actsearch.search.options import SearchOptions
from actsearch.service.searches import run_search
from actsearch.settings import get_settings
from actsearch.train.data import Dataset, load_dataset
from actsearch.train.loop import TrainConfig, Trainer
from actsearch.train.models import MLP, MLPConfig

CANDIDATES = ["relu", "leaky_relu", "elu", "selu", "gelu", "silu", "mish", "tanh", "sigmoid",
              "softplus", "softsign", "prelu"]
SPACE = f"""
description: the digits overhead task
model: {{family: mlp, depth: 4, width: 64}}
activations: {{candidates: [{", ".join(CANDIDATES)}]}}
hyperparameters: {{lr: {{low: 1.0e-4, high: 1.0e-1, log: true}}, batch_size: 64, epochs: EPOCHS}}
sampler: {{name: tpe, n_startup_trials: 10}}
pruner: {{name: median, n_startup_trials: 5, n_warmup_steps: 0}}
strategy: {{name: joint}}  # like for like: plain Optuna samples everything together
"""


class Counter:
    """Epochs and their seconds, counted across threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.epochs = 0
        self.seconds = 0.0

    def add(self, seconds: float) -> None:
        with self.lock:
            self.epochs += 1
            self.seconds += seconds


def _suggest(trial: Any) -> tuple[tuple[str, ...], float]:
    acts = tuple(trial.suggest_categorical(f"act_{i}", CANDIDATES) for i in range(4))
    return acts, trial.suggest_float("lr", 1e-4, 1e-1, log=True)


def define_by_run(trial: optuna.Trial) -> None:
    """Ray Tune's OptunaSearch pickles this, so it lives at module level."""
    _suggest(trial)


def _config(data: Dataset, acts: tuple[str, ...], lr: float, epochs: int) -> TrainConfig:
    return TrainConfig(MLPConfig(data.n_features, data.out_features, (64,) * 4, acts),
                       lr=lr, batch_size=64, epochs=epochs)


def typical_epochs(data: Dataset, acts: tuple[str, ...], lr: float, epochs: int):  # type: ignore[no-untyped-def]
    """The loop a user writes: DataLoader over a TensorDataset, evaluate after each epoch."""
    model = MLP(MLPConfig(data.n_features, data.out_features, (64,) * 4, acts))
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    loader = DataLoader(TensorDataset(data.x_train, data.y_train), batch_size=64, shuffle=True)
    for _ in range(epochs):
        start = time.perf_counter()
        model.train()
        for xb, yb in loader:
            optimizer.zero_grad()
            F.cross_entropy(model(xb), yb).backward()
            optimizer.step()
        model.eval()
        with torch.no_grad():
            acc = float((model(data.x_val).argmax(1) == data.y_val).float().mean())
        yield acc, time.perf_counter() - start


def actsearch_epochs(data: Dataset, acts: tuple[str, ...], lr: float, epochs: int):  # type: ignore[no-untyped-def]
    trainer = Trainer(_config(data, acts, lr, epochs), data, "cpu")
    for _ in range(epochs):
        result = trainer.train_epoch()
        yield result.value, result.seconds


Loop = Callable[..., Any]


def run_actsearch(data: Dataset, trials: int, epochs: int, workdir: Path, seed: int,
                  **options: Any) -> dict[str, Any]:
    """One actsearch search; ``options`` are further SearchOptions fields."""
    space = workdir / "anchor.yaml"
    space.write_text(SPACE.replace("EPOCHS", str(epochs)))
    start = time.perf_counter()
    storage = f"sqlite:///{workdir / f'{time.monotonic_ns()}.db'}"
    result = run_search(SearchOptions(dataset="digits", space=str(space), trials=trials,
                                      workers=2, storage_url=storage, study="bench",
                                      seed=seed, compare_relu=False, **options))
    wall = time.perf_counter() - start
    return {"wall": wall, "epochs": result.epochs_trained, "epoch_seconds": result.epoch_seconds,
            "best": result.best_value}


@contextlib.contextmanager
def local_ray_setting(keep_seconds: float) -> Iterator[None]:
    """Searches inside use the local Ray as users get it, with ``ACTSEARCH_RAY_KEEP_SECONDS``
    set to ``keep_seconds``: the first starts a Ray and keeps it, the next join it (with 0,
    each starts a Ray of its own and stops it).

    In a Ray temporary directory of its own (``RAY_TMPDIR``, set for this process while it
    runs), so it neither finds nor disturbs another Ray on the machine; a kept Ray is stopped
    at the end as its keeper would stop it (its process group), not with ``ray stop``, which
    would stop every Ray on the machine.
    """
    root = tempfile.mkdtemp(prefix="rb-")  # short: Unix socket paths are limited
    saved = {k: os.environ.get(k) for k in ("RAY_TMPDIR", "ACTSEARCH_RAY_KEEP_SECONDS")}
    os.environ.update(RAY_TMPDIR=root, ACTSEARCH_RAY_KEEP_SECONDS=str(keep_seconds))
    get_settings.cache_clear()
    try:
        yield
    finally:
        for proc in psutil.process_iter(["cmdline"]):
            cmdline = proc.info["cmdline"] or []
            if "actsearch.search.ray_keeper" in cmdline and _keeps_ray_in(proc, root):
                local_ray.stop_group(int(cmdline[-2]))
                proc.kill()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        get_settings.cache_clear()
        shutil.rmtree(root, ignore_errors=True)


def _keeps_ray_in(keeper: psutil.Process, root: str) -> bool:
    try:
        return bool(keeper.environ().get("RAY_TMPDIR") == root)
    except psutil.Error:
        return False


def run_optuna(data: Dataset, trials: int, epochs: int, loop: Loop,
               seed: int) -> dict[str, Any]:
    counter = Counter()

    def objective(trial: optuna.Trial) -> float:
        acts, lr = _suggest(trial)
        acc = 0.0
        for epoch, (acc, seconds) in enumerate(loop(data, acts, lr, epochs), start=1):
            counter.add(seconds)
            trial.report(acc, epoch)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return acc

    start = time.perf_counter()
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed),
                                pruner=optuna.pruners.MedianPruner())
    study.optimize(objective, n_trials=trials, n_jobs=2)
    wall = time.perf_counter() - start
    return {"wall": wall, "epochs": counter.epochs, "epoch_seconds": counter.seconds,
            "best": study.best_value}


def run_tune(data: Dataset, trials: int, epochs: int, loop_name: str,
             workdir: Path) -> dict[str, Any]:
    import ray
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler
    from ray.tune.search.optuna import OptunaSearch

    loops = {"typical": typical_epochs, "actsearch": actsearch_epochs}

    def trainable(config: dict[str, Any]) -> None:
        torch.set_num_threads(1)
        acts = tuple(config[f"act_{i}"] for i in range(4))
        for acc, seconds in loops[loop_name](data, acts, config["lr"], epochs):
            tune.report({"val_acc": acc, "epoch_seconds": seconds})

    start = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        tuner = tune.Tuner(
            tune.with_resources(trainable, {"cpu": 1}),
            tune_config=tune.TuneConfig(
                search_alg=OptunaSearch(space=define_by_run, metric="val_acc", mode="max",
                                        seed=0),
                scheduler=ASHAScheduler(metric="val_acc", mode="max", max_t=epochs,
                                        grace_period=1),
                num_samples=trials, max_concurrent_trials=2),
            run_config=tune.RunConfig(storage_path=str(workdir / "tune"), verbose=0),
        )
        results = tuner.fit()
        wall = time.perf_counter() - start
    finally:
        ray.shutdown()
    frames = [r.metrics_dataframe for r in results if r.metrics_dataframe is not None]
    return {"wall": wall, "epochs": sum(len(f) for f in frames),
            "epoch_seconds": float(sum(f["epoch_seconds"].sum() for f in frames)),
            "best": max(float(f["val_acc"].max()) for f in frames)}


PACK = 8  # trials per worker in the packed rows
FIRST = "actsearch default, first search (starts a local Ray and keeps it; figures on)"
NEXT = "actsearch default, next search (joins the kept Ray; figures on)"
OWN = "actsearch, a Ray of its own per search (ACTSEARCH_RAY_KEEP_SECONDS=0; figures on)"


def measure_rows(data: Dataset, args: argparse.Namespace, work: Path,
                 seed: int) -> dict[str, dict[str, Any]]:
    n, epochs = args.trials, args.epochs
    rows: dict[str, dict[str, Any]] = {}
    # First what users get by default: a dashboard figure per trial, registered during the
    # search and drawn when first opened, and the local Ray the first search starts and keeps
    # for the next. Then like for like: the peers make no figures, so that row makes none.
    with local_ray_setting(keep_seconds=600):
        rows[FIRST] = run_actsearch(data, n, epochs, work, seed)
        rows[NEXT] = run_actsearch(data, n, epochs, work, seed)
        rows["actsearch, no figures (like for like), kept Ray"] = run_actsearch(
            data, n, epochs, work, seed, artifacts=False)
        rows[f"actsearch --trials-per-worker {PACK}, kept Ray"] = run_actsearch(
            data, n, epochs, work, seed, trials_per_worker=PACK)
    with local_ray_setting(keep_seconds=0):
        rows[OWN] = run_actsearch(data, n, epochs, work, seed)
    rows["plain Optuna n_jobs=2, user loop"] = run_optuna(data, n, epochs, typical_epochs,
                                                          seed)
    rows["plain Optuna n_jobs=2, actsearch loop"] = run_optuna(data, n, epochs,
                                                               actsearch_epochs, seed)
    if not args.skip_tune:
        rows["Ray Tune OptunaSearch+ASHA, user loop"] = run_tune(
            data, n, epochs, "typical", work)
        rows["Ray Tune OptunaSearch+ASHA, actsearch loop"] = run_tune(
            data, n, epochs, "actsearch", work)
    return rows


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Means over seeds; the best validation score also as its spread and per seed."""
    mean = {key: statistics.fmean(r[key] for r in runs)
            for key in ("wall", "epochs", "epoch_seconds", "best")}
    return {**mean, "best_sd": statistics.stdev(r["best"] for r in runs) if len(runs) > 1
            else 0.0, "runs": runs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=48)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--skip-tune", action="store_true", help="leave out Ray Tune (slow)")
    parser.add_argument("--smoke", action="store_true",
                        help="6 trials of 2 epochs, no Ray Tune: checks every row runs")
    parser.add_argument("--results-dir", type=Path, default=RESULTS)
    parser.add_argument("--seeds", type=int, default=1,
                        help="repeat every row with seeds 0..N-1 and report means")
    args = parser.parse_args()
    if args.smoke:
        args.trials, args.epochs, args.skip_tune = 6, 2, True
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    data = load_dataset("digits")
    # Per row, one measurement per seed (the sampler's and the trials' seed), rows of one
    # seed side by side.
    runs: dict[str, list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for seed in range(args.seeds):
            for name, row in measure_rows(data, args, work, seed).items():
                runs.setdefault(name, []).append(row)
    rows = {name: summarise(measured) for name, measured in runs.items()}
    for row in rows.values():
        row["overhead"] = row["wall"] / (row["epoch_seconds"] / 2)
    reference = rows["plain Optuna n_jobs=2, user loop"]["wall"]
    for row in rows.values():
        row["vs_optuna"] = row["wall"] / reference
    lines = [
        f"# Search overhead: digits, 4x64 MLP, 12 candidates per layer + lr, {args.epochs} "
        f"epochs, {args.trials} trials, 2 at a time"
        + (f", means over {args.seeds} seeds" if args.seeds > 1 else ""),
        "",
        "All rows measured one after another in one run on this machine. 'wall / epochs on 2 "
        "cores' is wall time divided by (sum of the trained epochs' seconds / 2): 1.00 means "
        "no orchestration cost at all; actsearch's figure includes starting Ray where the "
        "search starts one (several seconds here) and its workers (each imports torch). A "
        "packed worker's epoch seconds are its batched epoch shared equally among the trials "
        "it trained. Each seed's rows ran side by side: the first search in a Ray "
        "temporary directory of its own, the next three on the Ray it kept.",
        "",
        "| system | wall s | vs plain Optuna (user loop) | epochs trained | best val acc | "
        "wall / epochs on 2 cores |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, r in rows.items():
        best = f"{r['best']:.4f}" + (f" ± {r['best_sd']:.4f}" if args.seeds > 1 else "")
        lines.append(f"| {name} | {r['wall']:.1f} | {r['vs_optuna']:.2f} | {r['epochs']:.0f} "
                     f"| {best} | {r['overhead']:.2f} |")
    markdown = "\n".join(lines) + "\n"
    write_results("search_overhead", rows, markdown, args.results_dir)


if __name__ == "__main__":
    main()
