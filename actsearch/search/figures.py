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


LINE_STYLES = ("-", "--", ":", "-.")


def trial_figure(activations: Sequence[str], telemetry: Sequence[dict[str, Any]],
                 path: str | Path, title: str = "") -> Path:
    """The layers' activation curves beside their telemetry, as one PNG (1000x420).

    Curves of the same shape stay apart (a line style and width each); every telemetry value
    is written on its bar, so a 0 reads as 0; layers are categories, so gradient norms are
    points, not a line.
    """
    figure = Figure(figsize=(10.0, 4.2), layout="constrained")
    if title:
        figure.suptitle(title, fontsize="large", fontweight="bold")
    left, right = figure.subplots(1, 2, width_ratios=(1.0, 1.15))
    for k, name in enumerate(dict.fromkeys(activations)):  # each distinct function once
        layers = ",".join(str(i) for i, a in enumerate(activations) if a == name)
        try:
            x, y, _ = curve(name, (-4.0, 4.0), points=161)
            left.plot(x.numpy(), y.numpy(), label=f"{name} (layer {layers})",
                      linestyle=LINE_STYLES[k % len(LINE_STYLES)], linewidth=3.0 - 0.5 * (k % 4))
        except Exception:  # maxout/softmax have no curve; the legend still lists them
            left.plot([], [], label=f"{name} (layer {layers}, not element-wise)")
    left.set_title("activation of each layer")
    left.set_xlabel("input")
    left.axhline(0, color="0.7", linewidth=0.8)
    left.axvline(0, color="0.7", linewidth=0.8)
    left.legend(fontsize="small", loc="upper left", framealpha=0.9)
    if telemetry:
        idx = np.arange(len(telemetry))
        dead = [t["dead_fraction"] for t in telemetry]
        sat = [t["saturation"] if t["saturation"] is not None else 0.0 for t in telemetry]
        bars = right.bar(idx - 0.2, dead, width=0.4, label="dead units", color="tab:red")
        right.bar_label(bars, labels=[f"{v:.0%}" for v in dead], fontsize="small")
        bars = right.bar(idx + 0.2, sat, width=0.4, label="saturated", color="tab:orange")
        right.bar_label(bars, labels=[f"{v:.0%}" for v in sat], fontsize="small")
        right.set_ylim(0, 1.15)
        right.set_xticks(idx, [f"layer {i}\n{a}" for i, a in zip(idx, activations,
                                                                    strict=False)])
        grads = right.twinx()
        norms = [t["grad_norm"] for t in telemetry]
        grads.plot(idx, norms, "ko", markersize=7, label="grad norm")
        for i, norm in enumerate(norms):  # a log axis cannot show 0: say it
            if norm == 0:
                right.text(i, 1.07, "no gradient", ha="center", fontsize="small")
        if any(n > 0 for n in norms):  # all zero (dead layers) cannot be log-scaled
            grads.set_yscale("log")
        grads.set_ylabel("weight-gradient norm (points)")
        right.set_ylabel("share of units (bars)")
        right.legend(fontsize="small", loc="upper left", ncols=2, framealpha=0.9)
    right.set_title("telemetry of each layer (last epoch)")
    target = Path(path)
    figure.savefig(target, dpi=100)
    return target


def render_trial_png(activations: Sequence[str], telemetry: Sequence[dict[str, Any]],
                     title: str = "") -> bytes:
    """The trial figure as PNG bytes (runs in a renderer process, see :class:`Renderer`)."""
    with tempfile.TemporaryDirectory() as tmp:
        return trial_figure(activations, telemetry, Path(tmp) / "layers.png",
                            title).read_bytes()


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

    def png(self, activations: Sequence[str], telemetry: Sequence[dict[str, Any]],
            title: str = "") -> bytes:
        if self._pool is None:  # started on first use: searches without figures pay nothing
            self._pool = ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn"),
                                             initializer=_start_figure_process)
        return self._pool.submit(render_trial_png, list(activations), list(telemetry),
                                 title).result()

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
