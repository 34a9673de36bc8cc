"""Trial figures for the dashboard: each finished trial gets a PNG artifact, its per-layer
activation functions (curves) beside its per-layer telemetry (dead-unit and saturation
fractions, gradient norms), read by ``actsearch dashboard`` (optuna-dashboard)."""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import tempfile
import threading
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from optuna.artifacts import FileSystemArtifactStore, upload_artifact
from optuna.storages import RDBStorage

from actsearch.activations.plot import curve

log = logging.getLogger(__name__)


def artifact_store(path: str | Path) -> FileSystemArtifactStore:
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    return FileSystemArtifactStore(str(folder))


def trial_figure(activations: Sequence[str], telemetry: Sequence[dict[str, Any]],
                 path: str | Path) -> Path:
    """Curves of the layers' activations beside their telemetry, as one small PNG."""
    figure = Figure(figsize=(9.0, 3.4), layout="constrained")
    left, right = figure.subplots(1, 2)
    for name in dict.fromkeys(activations):  # each distinct function once
        try:
            x, y, _ = curve(name, (-4.0, 4.0), points=161)
            layers = ",".join(str(i) for i, a in enumerate(activations) if a == name)
            left.plot(x.numpy(), y.numpy(), label=f"{name} (layer {layers})", linewidth=1.6)
        except Exception:  # maxout/softmax have no curve; the legend still lists them
            left.plot([], [], label=f"{name} (not element-wise)")
    left.set_title("activations per layer")
    left.axhline(0, color="0.7", linewidth=0.8)
    left.legend(fontsize="x-small")
    if telemetry:
        idx = np.arange(len(telemetry))
        dead = [t["dead_fraction"] for t in telemetry]
        sat = [t["saturation"] if t["saturation"] is not None else 0.0 for t in telemetry]
        right.bar(idx - 0.2, dead, width=0.4, label="dead units")
        right.bar(idx + 0.2, sat, width=0.4, label="saturated")
        right.set_ylim(0, 1)
        right.set_xticks(idx, [f"layer {i}" for i in idx])
        grads = right.twinx()
        norms = [t["grad_norm"] for t in telemetry]
        grads.plot(idx, norms, "k.-", label="grad norm")
        if any(n > 0 for n in norms):  # all zero (dead layers) cannot be log-scaled
            grads.set_yscale("log")
        grads.set_ylabel("weight-gradient norm (line)")
        right.set_ylabel("fraction (bars)")
        right.legend(fontsize="x-small", loc="upper left")
    right.set_title("telemetry per layer")
    target = Path(path)
    figure.savefig(target, dpi=80)
    return target


def render_trial_png(activations: Sequence[str], telemetry: Sequence[dict[str, Any]]) -> bytes:
    """The trial figure as PNG bytes (runs in a renderer process, see :class:`Renderer`)."""
    with tempfile.TemporaryDirectory() as tmp:
        return trial_figure(activations, telemetry, Path(tmp) / "layers.png").read_bytes()


def _start_figure_process() -> None:
    os.nice(10)  # figures wait; training does not
    # Ctrl-C reaches the whole process group: the driver handles it, this process must not
    # die with a traceback of its own.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # A driver killed outright (SIGKILL, the OOM killer) cannot shut this process down, and
    # its pipe alone does not end it: it ends when its parent does.
    parent = multiprocessing.parent_process()
    if parent is not None:
        threading.Thread(target=_exit_with, args=(parent,), daemon=True).start()


def _exit_with(parent: multiprocessing.process.BaseProcess) -> None:
    parent.join()
    os._exit(0)


class Renderer:
    """Draws trial figures in one low-priority process.

    Matplotlib holds the GIL for a tenth of a second per figure; drawn in the driver it
    would stall the search loop (and through it the workers), so it is drawn elsewhere.
    """

    def __init__(self) -> None:
        self._pool: ProcessPoolExecutor | None = None

    def png(self, activations: Sequence[str], telemetry: Sequence[dict[str, Any]]) -> bytes:
        if self._pool is None:  # started on first use: searches without figures pay nothing
            self._pool = ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn"),
                                             initializer=_start_figure_process)
        return self._pool.submit(render_trial_png, list(activations), list(telemetry)).result()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()


def upload_trial_figure(storage: RDBStorage, store: FileSystemArtifactStore, trial_id: int,
                        png: bytes) -> str:
    """Attach a rendered figure to a trial (which must still be RUNNING)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "layers.png"
        path.write_bytes(png)
        return upload_artifact(artifact_store=store, file_path=str(path),
                               study_or_trial=storage.get_trial(trial_id), storage=storage,
                               mimetype="image/png")
