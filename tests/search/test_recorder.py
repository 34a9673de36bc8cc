"""The recorder writes results and registers figures; the dashboard's store draws them when
opened, once, from what the trial recorded."""

from __future__ import annotations

from pathlib import Path

import pytest
from optuna.artifacts import get_all_artifact_meta
from optuna.artifacts.exceptions import ArtifactNotFound
from optuna.trial import TrialState

from actsearch.search.figures import LazyFigureStore
from actsearch.search.recorder import EndedTrial, TrialRecorder
from actsearch.store.database import open_storage
from actsearch.store.patience import Patient
from actsearch.store.studies import create_or_load_study

PNG = b"\x89PNG\r\n\x1a\n"
TELEMETRY = [{"dead_fraction": 0.0, "saturation": 0.25, "grad_norm": 0.1},
             {"dead_fraction": 0.5, "saturation": None, "grad_norm": 0.0}]


def test_ended_trials_are_written_with_a_figure_drawn_only_when_opened(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'r.db'}"
    storage = open_storage(url)
    study_id = create_or_load_study(storage, "r", {"dataset": "iris", "metric": "accuracy"})
    ids = [storage.create_new_trial(study_id) for _ in range(3)]
    recorder = TrialRecorder(storage, study_id, "iris", True, Patient(url, 10, on_wait=print))
    for trial_id, state in zip(ids, (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL),
                               strict=True):
        values = None if state == TrialState.FAIL else [0.9]
        recorder.put(EndedTrial(trial_id, state, values, {
            "epochs": 3, "activations": ["relu", "tanh"], "telemetry": TELEMETRY},
            ["relu", "tanh"], improved=False))
    recorder.close()
    trials = storage.get_all_trials(study_id)
    assert [t.state for t in trials] == [TrialState.COMPLETE, TrialState.PRUNED,
                                         TrialState.FAIL]
    metas = [get_all_artifact_meta(t, storage=storage) for t in trials]
    assert [len(m) for m in metas] == [1, 1, 0]  # a failed trial has nothing to show
    assert metas[0][0].mimetype == "image/png"
    figures = tmp_path / "figures"
    assert not figures.exists()  # the search drew nothing

    store = LazyFigureStore(figures, storage)
    with store.open_reader(metas[0][0].artifact_id) as reader:
        png = reader.read()
    assert png.startswith(PNG)
    drawn = list(figures.iterdir())
    assert len(drawn) == 1  # kept: the next view reads the file
    with store.open_reader(metas[0][0].artifact_id) as reader:
        assert reader.read() == png
    assert list(figures.iterdir()) == drawn
    with pytest.raises(ArtifactNotFound):  # anything else is served only if it exists
        store.open_reader("someone-elses-artifact")


def test_no_figures_are_registered_when_they_are_off(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'r.db'}"
    storage = open_storage(url)
    study_id = create_or_load_study(storage, "r", {"dataset": "iris"})
    trial_id = storage.create_new_trial(study_id)
    recorder = TrialRecorder(storage, study_id, "iris", False, Patient(url, 10, on_wait=print))
    recorder.put(EndedTrial(trial_id, TrialState.COMPLETE, [0.9], {"epochs": 3}, ["relu"],
                            improved=False))
    recorder.close()
    assert get_all_artifact_meta(storage.get_trial(trial_id), storage=storage) == []
