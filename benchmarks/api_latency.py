"""Latency of GET /api/v1/recommendations/{dataset} under 50 concurrent clients on loopback.

A database of 50 studies x 200 trials (10 datasets, 5 studies each) is built with Optuna's
storage API, `actsearch serve` runs it under uvicorn in its own process, and 50 concurrent
connections send requests round-robin over the datasets: with wrk (Debian package `wrk`,
one thread, so client and server get one core each) when it is installed, otherwise with
asyncio httpx clients in this process. Reported: p50, p99 and requests per second; for
scale, the same run times computing one recommendation from the trials (what serving would
cost without the precomputed row), side by side.

Usage:
    python benchmarks/api_latency.py [--requests 5000] [--clients 50]

Writes benchmarks/results/api_latency.md (and .json).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import optuna
from optuna.distributions import CategoricalDistribution, FloatDistribution
from optuna.trial import TrialState

from actsearch.recommend.recommendation import build_recommendation, refresh_recommendation
from actsearch.store.database import open_storage
from actsearch.store.studies import create_or_load_study

RESULTS = Path(__file__).parent / "results"
CHOICES = ["relu", "tanh", "gelu", "silu", "elu", "mish"]
DATASETS = [f"data{i}" for i in range(10)]


def build_database(url: str, studies: int, trials: int) -> None:
    storage = open_storage(url)
    rng = np.random.default_rng(0)
    dists = {f"act_{i}": CategoricalDistribution(CHOICES) for i in range(4)}
    dists["lr"] = FloatDistribution(1e-4, 1e-1, log=True)
    for s in range(studies):
        dataset = DATASETS[s % len(DATASETS)]
        study_id = create_or_load_study(storage, f"{dataset}-s{s}", {
            "dataset": dataset, "metric": "accuracy",
            "meta": {"samples": 1000 + s, "features": 10, "classes": 3, "class_balance": 0.9,
                     "task": "multiclass"}})
        for _ in range(trials):
            acts = [str(a) for a in rng.choice(CHOICES, 4)]
            storage.create_new_trial(study_id, template_trial=optuna.trial.create_trial(
                state=TrialState.COMPLETE, value=float(rng.uniform(0.8, 0.99)),
                params={**{f"act_{i}": a for i, a in enumerate(acts)},
                        "lr": float(10 ** rng.uniform(-4, -1))},
                distributions=dists, user_attrs={"activations": acts, "epochs": 30}))
    for dataset in DATASETS:
        refresh_recommendation(storage, dataset)
    storage.engine.dispose()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def load(base: str, total: int, clients: int) -> tuple[list[float], float]:
    latencies: list[float] = []
    counter = iter(range(total))

    async def client() -> None:
        async with httpx.AsyncClient(base_url=base, timeout=30) as http:
            for i in counter:
                start = time.perf_counter()
                response = await http.get(f"/api/v1/recommendations/{DATASETS[i % 10]}")
                latencies.append(time.perf_counter() - start)
                response.raise_for_status()

    start = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    return latencies, time.perf_counter() - start


ROTATE = """
local i = 0
request = function()
  i = i + 1
  return wrk.format("GET", "/api/v1/recommendations/data" .. (i % 10))
end
"""


def _ms(text: str) -> float:
    value = float(text.rstrip("usm"))
    return value / 1000 if text.endswith("us") else value if text.endswith("ms") else value * 1000


def load_wrk(base: str, clients: int, seconds: int, workdir: Path) -> dict[str, float]:
    script = workdir / "rotate.lua"
    script.write_text(ROTATE)
    out = subprocess.run(["wrk", "-t1", f"-c{clients}", f"-d{seconds}s", "--latency", "-s",
                          str(script), base], capture_output=True, text=True, check=True).stdout
    lines = {ln.split()[0]: ln.split()[1] for ln in out.splitlines()
             if ln.strip().endswith(("us", "ms", "s")) and ln.strip().split()[0].endswith("%")}
    rps = float(next(ln for ln in out.splitlines() if ln.startswith("Requests/sec")).split()[1])
    total = int(next(ln for ln in out.splitlines() if "requests in" in ln).split()[0])
    errors = [ln for ln in out.splitlines() if "Non-2xx" in ln or "Socket errors" in ln]
    if errors:
        raise RuntimeError(f"wrk saw errors: {errors}")
    return {"p50_ms": _ms(lines["50%"]), "p99_ms": _ms(lines["99%"]), "rps": rps,
            "requests": total}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--studies", type=int, default=50)
    parser.add_argument("--trials", type=int, default=200)
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        t0 = time.perf_counter()
        build_database(url, args.studies, args.trials)
        build_s = time.perf_counter() - t0
        storage = open_storage(url, create=False)
        compute = []
        for dataset in DATASETS * 3:
            t = time.perf_counter()
            build_recommendation(storage, dataset)
            compute.append(time.perf_counter() - t)
        port = _free_port()
        server = subprocess.Popen([sys.executable, "-m", "actsearch", "serve", "--port",
                                   str(port), "--storage", url])
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(300):
                try:
                    if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.1)
            asyncio.run(load(base, 200, args.clients))  # warm-up
            if shutil.which("wrk"):
                measured: dict[str, Any] = {"client": "wrk -t1",
                                            **load_wrk(base, args.clients, 15, Path(tmp))}
            else:
                latencies, wall = asyncio.run(load(base, args.requests, args.clients))
                ms = np.array(latencies) * 1e3
                measured = {"client": "httpx asyncio (same process as the build)",
                            "p50_ms": float(np.percentile(ms, 50)),
                            "p99_ms": float(np.percentile(ms, 99)), "rps": len(ms) / wall,
                            "requests": len(ms)}
        finally:
            server.terminate()
            server.wait(timeout=10)
    result: dict[str, Any] = {
        "studies": args.studies, "trials_per_study": args.trials, "clients": args.clients,
        **measured, "database_build_s": build_s,
        "compute_from_trials_ms": statistics.median(compute) * 1e3,
    }
    markdown = "\n".join([
        f"# API latency: GET /api/v1/recommendations/{{dataset}}, {args.clients} concurrent "
        f"clients, loopback",
        "",
        f"Database: {args.studies} studies x {args.trials} trials (SQLite), one uvicorn worker; "
        f"client ({result['client']}) and server share this 2-core machine.",
        "",
        "| requests | p50 ms | p99 ms | requests/s |",
        "|---:|---:|---:|---:|",
        f"| {result['requests']} | {result['p50_ms']:.1f} | {result['p99_ms']:.1f} | "
        f"{result['rps']:.0f} |",
        "",
        f"Computing one recommendation from its 5 studies' trials instead of reading the stored "
        f"row: median {result['compute_from_trials_ms']:.1f} ms (in process, no HTTP).",
    ]) + "\n"
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "api_latency.json").write_text(json.dumps(result, indent=2))
    (RESULTS / "api_latency.md").write_text(markdown)
    print(markdown)


if __name__ == "__main__":
    main()
