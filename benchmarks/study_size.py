"""Study size: what a driver and the API pay as a study grows to 1,000 and 10,000 trials.

For each size a SQLite study is filled with finished trials (as searches record them: params,
per-layer activations, telemetry summaries). Then, in a fresh process each:

- the driver: opening its study session (it mirrors every finished trial in memory) and the
  per-trial decision a search makes before training (the trial-budget check in the database,
  the sampler's ask on the mirror, writing the new trial, its end and state), averaged over
  50 trials, with the TPE sampler of the default space; its resident memory after opening;
- the API: ``GET /api/v1/studies/{name}`` (counts and the top 10 trials) through the real
  app in-process, 200 requests, p50 and p99.

Usage:
    python benchmarks/study_size.py [--sizes 1000 10000]

Writes benchmarks/results/study_size.md (and .json).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState
from results_file import write_results

from actsearch.store.database import open_storage
from actsearch.store.patience import Patient
from actsearch.store.studies import create_or_load_study

CHOICES = ["relu", "tanh", "gelu", "silu", "elu", "mish"]
DISTRIBUTIONS = {"depth": IntDistribution(1, 4), "width": CategoricalDistribution([32, 64]),
                 "lr": FloatDistribution(1e-4, 1e-1, log=True),
                 **{f"act_{i}": CategoricalDistribution(CHOICES) for i in range(4)}}
DECISIONS = 50
# What a search records about its study (a space digest: the study can be resumed).
META = {"dataset": "iris", "metric": "accuracy", "space_digest": "benchmark"}


def fill(url: str, size: int) -> None:
    storage = open_storage(url)
    study_id = create_or_load_study(storage, "big", META)
    rng = np.random.default_rng(0)
    for number in range(size):
        acts = [str(a) for a in rng.choice(CHOICES, 4)]
        params = {"depth": 4, "width": int(rng.choice([32, 64])),
                  "lr": float(10 ** rng.uniform(-4, -1)),
                  **{f"act_{i}": a for i, a in enumerate(acts)}}
        pruned = number % 3 == 0
        storage.create_new_trial(study_id, template_trial=optuna.trial.create_trial(
            state=TrialState.PRUNED if pruned else TrialState.COMPLETE,
            value=float(rng.uniform(0.8, 0.99)), params=params, distributions=DISTRIBUTIONS,
            intermediate_values={1: 0.8}, user_attrs={
                "activations": acts, "epochs": 30, "seconds": 1.0, "dead_fraction_max": 0.1,
                "saturation_mean": 0.2, "grad_norm_min": 0.01, "train_loss": 0.3}))
    storage.engine.dispose()


def driver(url: str, size: int) -> dict[str, Any]:
    from actsearch.search.session import StudySession

    storage = open_storage(url)
    mirror = optuna.create_study(direction="maximize",
                                 sampler=optuna.samplers.TPESampler(seed=0))
    start = time.perf_counter()
    session = StudySession(storage, "big", META, mirror,
                           Patient(url, 30, on_wait=print), max_retries=2)
    opened = time.perf_counter() - start
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    times = []
    for _ in range(DECISIONS):
        start = time.perf_counter()
        with session.slot(size + DECISIONS, 0) as room:
            assert room
            trial = mirror.ask(DISTRIBUTIONS)
            trial_id, _ = session.create_trial(trial, {"attempt": 1})
        mirror.tell(trial, 0.9)
        storage.set_trial_state_values(trial_id, TrialState.COMPLETE, [0.9])
        times.append(time.perf_counter() - start)
    return {"open_s": opened, "decision_ms": 1000 * statistics.mean(times),
            "decision_p99_ms": 1000 * float(np.percentile(times, 99)), "rss_mb": rss_mb}


def requests_for(size: int) -> int:
    """200 requests, fewer on a large study (each reads all its trials): at least 20."""
    return max(20, min(200, 200_000 // size))


def api(url: str, size: int) -> dict[str, Any]:
    from fastapi.testclient import TestClient

    from actsearch.api import create_app
    from actsearch.settings import Settings

    latencies = []
    with TestClient(create_app(Settings(storage=url))) as client:
        client.get("/api/v1/studies/big")  # the first request opens the storage
        for _ in range(requests_for(size)):
            start = time.perf_counter()
            response = client.get("/api/v1/studies/big")
            latencies.append(time.perf_counter() - start)
            response.raise_for_status()
    return {"p50_ms": 1000 * float(np.percentile(latencies, 50)),
            "p99_ms": 1000 * float(np.percentile(latencies, 99)), "requests": len(latencies)}


def _in_fresh_process(part: str, url: str, size: int) -> dict[str, Any]:
    out = subprocess.run([sys.executable, __file__, "--part", part, "--url", url, "--size",
                          str(size)], capture_output=True, text=True, check=True).stdout
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--part", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if args.part:
        part = (driver(args.url, args.size) if args.part == "driver"
                else api(args.url, args.size))
        print(json.dumps(part))
        return
    rows: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            url = f"sqlite:///{Path(tmp) / f'big{size}.db'}"
            start = time.perf_counter()
            fill(url, size)
            filled = time.perf_counter() - start
            # The API first: the driver part adds its decisions to the study.
            rows[str(size)] = {"fill_s": filled, **_in_fresh_process("api", url, size),
                               **_in_fresh_process("driver", url, size)}
            threading.Event().wait(0.5)
    lines = [
        "# Study size: a driver and the API on a study of " + " and ".join(
            f"{s:,}" for s in args.sizes) + " finished trials (SQLite)",
        "",
        "Each part in a fresh process, one after another in one run on this machine. "
        f"Decision: the budget check, the TPE sampler's ask on the mirror, writing the trial, "
        f"its end and state; mean and p99 over {DECISIONS} trials. Memory: the driver "
        "process's peak resident memory after opening its session (it mirrors every "
        "finished trial). API: `GET /api/v1/studies/{name}` in-process, 200 requests (20 on "
        "the largest study: each reads all its trials).",
        "",
        "| trials | session open s | decision ms | decision p99 ms | driver MB | "
        "API p50 ms | API p99 ms |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for size, r in rows.items():
        lines.append(f"| {int(size):,} | {r['open_s']:.2f} | {r['decision_ms']:.1f} | "
                     f"{r['decision_p99_ms']:.1f} | {r['rss_mb']:.0f} | {r['p50_ms']:.1f} | "
                     f"{r['p99_ms']:.1f} |")
    sizes = " ".join(str(s) for s in args.sizes)
    lines += ["", f"Command: `python benchmarks/study_size.py --sizes {sizes}`"]
    markdown = "\n".join(lines) + "\n"
    write_results("study_size", rows, markdown)


if __name__ == "__main__":
    main()
