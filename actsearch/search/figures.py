"""Trial figures for the dashboard: a trial's per-layer activation functions (curves) beside
its per-layer telemetry (dead-unit and saturation fractions, gradient norms).

Drawn when someone opens one, not during the search: matplotlib costs ~0.2 s of CPU a figure,
which on a machine whose cores all train would slow every trial for figures nobody opens.
A search only registers each finished trial's figure (an artifact entry, a database write);
``actsearch dashboard`` serves artifacts through :class:`LazyFigureStore`, which draws a
figure from the trial's stored activations and telemetry on first request and keeps it.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
from matplotlib.figure import Figure
from optuna.artifacts import ArtifactMeta, FileSystemArtifactStore
from optuna.artifacts.exceptions import ArtifactNotFound
from optuna.storages import BaseStorage, RDBStorage

from actsearch.activations.plot import curve
from actsearch.store.studies import metric_value

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
    """The trial figure as PNG bytes."""
    with tempfile.TemporaryDirectory() as tmp:
        return trial_figure(activations, telemetry, Path(tmp) / "layers.png",
                            title).read_bytes()


# Artifact ids are hex digits and dashes (optuna-dashboard's routes accept nothing else): a
# fixed marker, then the study's and the trial's ids in hex.
FIGURE_PREFIX = "ac75ea4c-f19e-"


def figure_artifact_id(study_id: int, trial_id: int) -> str:
    return f"{FIGURE_PREFIX}{study_id:x}-{trial_id:x}"


def _figure_ids(artifact_id: str) -> tuple[int, int] | None:
    """The study and trial ids of a figure's artifact id (None for other artifacts)."""
    if not artifact_id.startswith(FIGURE_PREFIX):
        return None
    try:
        study, trial = artifact_id.removeprefix(FIGURE_PREFIX).split("-")
        return int(study, 16), int(trial, 16)
    except ValueError:
        return None


def register_trial_figure(storage: RDBStorage, study_id: int, trial_id: int) -> None:
    """List the trial's figure among its artifacts (while it is RUNNING: Optuna refuses
    attributes on finished trials); it is drawn when first opened."""
    artifact_id = figure_artifact_id(study_id, trial_id)
    meta = ArtifactMeta(artifact_id=artifact_id, filename=f"trial-{trial_id}-layers.png",
                        mimetype="image/png", encoding=None)
    # The key and JSON body upload_artifact writes (read by get_all_artifact_meta).
    storage.set_trial_system_attr(trial_id, f"artifacts:{artifact_id}",
                                  json.dumps(asdict(meta)))


class LazyFigureStore:
    """An Optuna artifact store that draws registered trial figures on first read.

    Other artifacts (uploaded by the user) are served from ``folder`` as they are.
    """

    def __init__(self, folder: str | Path, storage: BaseStorage) -> None:
        self.files = artifact_store(folder)
        self.storage = storage
        self._lock = threading.Lock()  # one drawing at a time: the server has threads

    def open_reader(self, artifact_id: str) -> BinaryIO:
        try:
            return self.files.open_reader(artifact_id)
        except ArtifactNotFound:
            ids = _figure_ids(artifact_id)
            if ids is None:
                raise
        with self._lock:
            with contextlib.suppress(ArtifactNotFound):  # drawn meanwhile
                return self.files.open_reader(artifact_id)
            png = self._draw(*ids)
            self.files.write(artifact_id, io.BytesIO(png))
        return self.files.open_reader(artifact_id)

    def write(self, artifact_id: str, content_body: BinaryIO) -> None:
        self.files.write(artifact_id, content_body)

    def remove(self, artifact_id: str) -> None:
        self.files.remove(artifact_id)

    def _draw(self, study_id: int, trial_id: int) -> bytes:
        trial = self.storage.get_trial(trial_id)
        meta = self.storage.get_study_user_attrs(study_id).get("actsearch") or {}
        value = metric_value(trial)
        score = ("no score" if value is None
                 else f"{meta.get('metric', 'value')} {value:.4f}")
        title = (f"trial #{trial.number}: {score} ({trial.state.name.lower()} after "
                 f"{trial.user_attrs.get('epochs', '?')} epochs)")
        return render_trial_png(trial.user_attrs.get("activations", []),
                                trial.user_attrs.get("telemetry") or [], title)
