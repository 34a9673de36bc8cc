"""Trials per second on one GPU: packing several trials on it, with and without AMP.

actsearch has two ways to train several trials on one GPU at once:

- fractional GPUs: ``--gpus-per-trial 1/N`` with ``--workers N`` puts N Ray workers (each its
  own process and CUDA context) on the GPU, one trial each;
- packs: ``--trials-per-worker 8`` has one worker train 8 trials at once, those of one shape
  as one batched network (MLPs only; CNNs train one after another inside the worker).

The rows, on one GPU, for each space and with AMP on and off (``--amp`` / ``--no-amp``):

- 1, 2, 4 and 8 trials per GPU: ``gpus_per_trial`` = 1, 0.5, 0.25, 0.125 with ``workers`` =
  1, 2, 4, 8 (``trials_per_worker`` = 1);
- MLP only: ``gpus_per_trial`` = 1, ``workers`` = 1, ``trials_per_worker`` = 8.

AMP on is float16 with loss scaling for a trial trained alone, bfloat16 for a pack's batched
network (as actsearch does it); off is float32.

The spaces, both on sklearn digits (60/20/20, standardised; 8x8 images for the CNN, no
download):

- mlp: 4x64 MLP, one activation per layer among 12, lr (log 1e-4..1e-1), Adam, batch 64, joint
  strategy, TPE (10 startup trials), median pruning (as ``search_overhead.py``);
- cnn: ``search_spaces/cnn.yaml`` (1-2 conv blocks of 8-32 channels, a dense layer, 8
  candidates per layer, lr, batch 64/128, Adam/AdamW), TPE, median pruning and, as there,
  the default staged strategy (ReLU first, then activations on the best shape so far).

Best validation accuracy is not a like-for-like column: with more trials at once the sampler
(and a staged search's choice of shape) sees fewer finished trials when it asks, so the rows
try different configurations.

Every search: ``--trials`` trials of ``--epochs`` epochs, its own SQLite file in a temporary
directory, ``compare_relu=False``, ``artifacts=False``, seed 0, and a Ray of its own
(``address="local"``: it never joins a Ray that is already running on the machine), started
and stopped by the search. ``cpus_per_trial`` is 1, or less where the workers would otherwise
ask for more CPUs than the machine has. All rows run one after another in this process.

Reported per row:

- wall s: the whole ``run_search`` call (Ray start, workers, search, closing report);
- start s: Ray's start and the workers' creation (the driver's "starting Ray" phase, up to
  its "searching" phase);
- search s: from the first trial's start to the last trial's end, as the study records them
  (``datetime_start`` / ``datetime_complete``): Ray's start is left out;
- trials/s: finished (complete + pruned) trials / search s, and its ratio to the row with one
  trial per GPU of the same space and AMP setting;
- epochs trained, best validation accuracy;
- peak GPU MiB: the highest ``nvidia-smi --query-gpu=memory.used`` read every half second
  during the row (the whole GPU, every process on it; n/a where nvidia-smi is missing).

Usage:
    python benchmarks/gpu_packing.py [--trials 32] [--epochs 10]   # needs a GPU
    python benchmarks/gpu_packing.py --smoke                       # any machine, CPU only

A GPU run writes gpu_packing.md (and .json) in ``--results-dir`` (default benchmarks/results).
``--smoke`` runs the same table on the CPU (``gpus_per_trial=0``, 1 and 2 workers, the pack
row, AMP on and off passed through although AMP only applies on CUDA) with 4 trials of 1
epoch, to check the code path and the table; it writes gpu_packing_smoke.md (and .json).
"""

from __future__ import annotations

import argparse
import datetime
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import optuna
import torch
from results_file import RESULTS, write_results

from actsearch.search.options import Progress, SearchOptions
from actsearch.service.searches import run_search

CANDIDATES = ["relu", "leaky_relu", "elu", "selu", "gelu", "silu", "mish", "tanh", "sigmoid",
              "softplus", "softsign", "prelu"]
MLP_SPACE = f"""
description: 4x64 MLP on digits, 12 candidates per layer + lr
model: {{family: mlp, depth: 4, width: 64}}
activations: {{candidates: [{", ".join(CANDIDATES)}]}}
hyperparameters: {{lr: {{low: 1.0e-4, high: 1.0e-1, log: true}}, batch_size: 64, epochs: EPOCHS}}
sampler: {{name: tpe, n_startup_trials: 10}}
pruner: {{name: median, n_startup_trials: 5, n_warmup_steps: 0}}
strategy: {{name: joint}}
"""
# search_spaces/cnn.yaml with the epochs of this benchmark.
CNN_SPACE = """
description: small CNN, one activation per conv block and dense layer
model:
  family: cnn
  conv_depth: {low: 1, high: 2}
  channels: {choices: [8, 16, 32]}
  dense_depth: 1
  dense_width: {choices: [64, 128]}
activations:
  per_layer: true
  candidates: [relu, leaky_relu, elu, gelu, silu, mish, tanh, maxout]
hyperparameters:
  lr: {low: 1.0e-4, high: 3.0e-2, log: true}
  batch_size: {choices: [64, 128]}
  optimizer: {choices: [adam, adamw]}
  epochs: EPOCHS
sampler: {name: tpe, n_startup_trials: 6}
pruner: {name: median, n_startup_trials: 3, n_warmup_steps: 2}
"""
SPACES = {"mlp": MLP_SPACE, "cnn": CNN_SPACE}
PACK = 8  # trials per worker in the pack rows (MLP only)


@dataclass(frozen=True)
class Packing:
    """How trials share the GPU in one row."""

    gpus_per_trial: float
    workers: int
    trials_per_worker: int = 1

    @property
    def at_once(self) -> int:
        """Trials training at the same time (on the one GPU, in GPU mode)."""
        return self.workers * self.trials_per_worker

    @property
    def reference(self) -> bool:
        """The row the others are compared with: one trial on the GPU at a time."""
        return self.at_once == 1


def packings(space: str, smoke: bool) -> list[Packing]:
    if smoke:  # CPU: the same options with no GPU, 1 and 2 workers
        rows = [Packing(0.0, 1), Packing(0.0, 2)]
        gpu = 0.0
    else:
        rows = [Packing(1 / n, n) for n in (1, 2, 4, 8)]
        gpu = 1.0
    if space == "mlp":
        rows.append(Packing(gpu, 1, PACK))
    return rows


class GpuMemory:
    """The peak of ``nvidia-smi --query-gpu=memory.used`` (MiB, first GPU) over a block."""

    def __init__(self, every: float = 0.5) -> None:
        self.every = every
        self.peak: int | None = None
        self.stop = threading.Event()
        self.thread: threading.Thread | None = None
        self.smi = shutil.which("nvidia-smi")

    def read(self) -> int | None:
        if self.smi is None:
            return None
        try:
            out = subprocess.run(
                [self.smi, "--query-gpu=memory.used", "--format=csv,noheader,nounits"],
                capture_output=True, text=True, timeout=5, check=True).stdout
            return int(out.split()[0])
        except (OSError, subprocess.SubprocessError, ValueError, IndexError):
            return None

    def _poll(self) -> None:
        while not self.stop.is_set():
            used = self.read()
            if used is not None:
                self.peak = used if self.peak is None else max(self.peak, used)
            self.stop.wait(self.every)

    def __enter__(self) -> GpuMemory:
        if self.smi is not None:
            self.thread = threading.Thread(target=self._poll, daemon=True)
            self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        if self.thread is not None:
            self.thread.join()


class Phases:
    """When the driver first entered each phase (``time.perf_counter()``)."""

    def __init__(self) -> None:
        self.entered: dict[str, float] = {}

    def __call__(self, progress: Progress) -> None:
        self.entered.setdefault(progress.phase, time.perf_counter())


def trial_span(storage: str, study: str) -> float | None:
    """Seconds from the first trial's start to the last trial's end, as the study records
    them (the driver stamps both)."""
    trials = optuna.load_study(study_name=study, storage=storage).get_trials(deepcopy=False)
    starts = [t.datetime_start for t in trials if t.datetime_start is not None]
    ends = [t.datetime_complete for t in trials if t.datetime_complete is not None]
    if not starts or not ends:
        return None
    return (max(ends) - min(starts)).total_seconds()


def run_row(space: str, packing: Packing, amp: bool, args: argparse.Namespace,
            work: Path) -> dict[str, Any]:
    """One search; its measurements."""
    path = work / f"{space}.yaml"
    path.write_text(SPACES[space].replace("EPOCHS", str(args.epochs)))
    storage = f"sqlite:///{work / f'{time.monotonic_ns()}.db'}"
    cpus = min(1.0, (os.cpu_count() or 1) / packing.workers)
    options = SearchOptions(
        dataset="digits", space=str(path), trials=args.trials, workers=packing.workers,
        epochs=args.epochs, storage_url=storage, study="bench", address="local",
        cpus_per_trial=cpus, gpus_per_trial=packing.gpus_per_trial,
        trials_per_worker=packing.trials_per_worker, amp=amp, seed=0, compare_relu=False,
        artifacts=False)
    phases = Phases()
    row: dict[str, Any] = {"space": space, **asdict(packing), "at_once": packing.at_once,
                           "cpus_per_trial": cpus, "amp": amp}
    with GpuMemory() as memory:
        start = time.perf_counter()
        try:
            result = run_search(options, on_progress=phases)
        except Exception as exc:  # one row failing must not lose the others
            traceback.print_exc()
            return {**row, "error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}"}
        wall = time.perf_counter() - start
    ray_start = None
    if "starting Ray" in phases.entered and "searching" in phases.entered:
        ray_start = phases.entered["searching"] - phases.entered["starting Ray"]
    search = trial_span(storage, "bench")
    finished = result.complete + result.pruned
    return {
        **row, "complete": result.complete, "pruned": result.pruned, "failed": result.failed,
        "finished": finished, "wall": wall, "start": ray_start, "search": search,
        "trials_per_s": finished / search if search else None,
        "epochs": result.epochs_trained, "best": result.best_value,
        "peak_gpu_mib": memory.peak,
    }


def _num(value: float | None, digits: int) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def table(rows: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| space | gpus/trial | workers | trials/worker | trials at once | amp | finished "
        "(pruned) | failed | wall s | start s | search s | trials/s | vs 1 at once | "
        "epochs trained | best val acc | peak GPU MiB |",
        "|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        head = (f"| {r['space']} | {r['gpus_per_trial']:g} | {r['workers']} | "
                f"{r['trials_per_worker']} | {r['at_once']} | {'on' if r['amp'] else 'off'} |")
        if "error" in r:
            lines.append(f"{head} failed: {r['error']} |" + " |" * 9)
            continue
        lines.append(
            f"{head} {r['finished']} ({r['pruned']}) | {r['failed']} | {r['wall']:.1f} | "
            f"{_num(r['start'], 1)} | {_num(r['search'], 1)} | {_num(r['trials_per_s'], 3)} | "
            f"{_num(r['vs_reference'], 2)} | {r['epochs']} | {_num(r['best'], 4)} | "
            f"{'n/a' if r['peak_gpu_mib'] is None else r['peak_gpu_mib']} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--results-dir", type=Path, default=RESULTS)
    parser.add_argument("--smoke", action="store_true",
                        help="CPU only, 4 trials of 1 epoch, 1 and 2 workers: checks the code "
                             "path and the table (no GPU needed)")
    args = parser.parse_args()
    if not args.smoke and not torch.cuda.is_available():
        print("gpu_packing.py: no GPU available (torch.cuda.is_available() is false): run it "
              "on a GPU machine, or with --smoke for the CPU check", file=sys.stderr)
        sys.exit(2)
    if args.smoke:
        args.trials, args.epochs = 4, 1
    command = "python benchmarks/gpu_packing.py " + " ".join(sys.argv[1:])
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    started = time.perf_counter()
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for space in SPACES:
            for amp in (True, False):
                for packing in packings(space, args.smoke):
                    print(f"{space}, amp {'on' if amp else 'off'}, {packing}", flush=True)
                    rows.append(run_row(space, packing, amp, args, Path(tmp)))
    for r in rows:
        ref = next((x for x in rows if x["space"] == r["space"] and x["amp"] == r["amp"]
                    and x["at_once"] == 1 and x["trials_per_worker"] == 1
                    and x.get("trials_per_s")), None)
        r["vs_reference"] = (r["trials_per_s"] / ref["trials_per_s"]
                             if ref and r.get("trials_per_s") else None)
    total = time.perf_counter() - started
    # Only now, after every row: asking for the name creates a CUDA context in this process,
    # which would otherwise count in every row's GPU memory.
    device = "CPU smoke" if args.smoke else torch.cuda.get_device_name(0)
    title = (f"# GPU packing: trials per second on one GPU, {args.trials} trials of "
             f"{args.epochs} epoch{'s' if args.epochs != 1 else ''} on digits")
    lines = [title, ""]
    if args.smoke:
        lines += [
            "**CPU smoke run** (`--smoke`): `gpus_per_trial=0`, 1 and 2 workers and the pack "
            "row, 4 trials of 1 epoch, AMP on/off passed through (it applies only on CUDA, so "
            "it changes nothing here). It checks the code path and the table only: its "
            "seconds are dominated by start-up and say nothing about GPU packing.",
            "",
            "**GPU table: not measured: no GPU available.**",
            "",
        ]
    lines += [
        f"Command: `{command.strip()}`  ",
        f"Date: {datetime.date.today().isoformat()}  ",
        f"Device: {device}  ",
        f"Rows ran one after another in one process ({total:.0f} s in all); each search "
        "started and stopped a Ray of its own, with its own SQLite study, no figures "
        "(`artifacts=False`) and no ReLU retraining (`compare_relu=False`).",
        "",
        "wall s: the whole search call; start s: Ray's start and the workers' creation; "
        "search s: first trial's start to last trial's end (Ray's start left out); trials/s: "
        "finished (complete + pruned) trials / search s; vs 1 at once: trials/s over the row "
        "with one trial at a time (same space and AMP); peak GPU MiB: highest `nvidia-smi` "
        "memory.used during the row (whole GPU). Best val acc differs between rows also "
        "because with more trials at once the sampler sees fewer finished trials when it asks "
        "(the rows try different configurations).",
        "",
        *table(rows),
    ]
    markdown = "\n".join(lines) + "\n"
    body = {"command": command.strip(), "date": datetime.date.today().isoformat(),
            "device": device, "smoke": args.smoke, "trials": args.trials,
            "epochs": args.epochs, "total_seconds": total, "rows": rows}
    write_results("gpu_packing_smoke" if args.smoke else "gpu_packing", body, markdown,
                  args.results_dir)
    if any("error" in r for r in rows):
        sys.exit(1)


if __name__ == "__main__":
    main()
