"""The recorder writes results first: figures are drawn only when no result is waiting."""

from __future__ import annotations

from pathlib import Path

from optuna.artifacts import get_all_artifact_meta
from optuna.trial import TrialState

from actsearch.search.figures import artifact_store
from actsearch.search.recorder import EndedTrial, TrialRecorder
from actsearch.store.database import open_storage
from actsearch.store.patience import Patient
from actsearch.store.studies import create_or_load_study


def test_a_backlog_of_figures_never_holds_back_results(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'r.db'}"
    storage = open_storage(url)
    study_id = create_or_load_study(storage, "r", {"dataset": "iris"})
    ids = [storage.create_new_trial(study_id) for _ in range(6)]
    recorder = TrialRecorder(storage, "iris", artifact_store(tmp_path / "artifacts"),
                             Patient(url, 10, on_wait=print))
    for trial_id in ids:  # six trials end at once
        recorder.put(EndedTrial(trial_id, TrialState.COMPLETE, [0.9], {"epochs": 3}, ["relu"],
                                improved=False))
    recorder.close()
    trials = storage.get_all_trials(study_id)
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 6
    skipped = [t for t in trials if t.user_attrs.get("figure", "").startswith("skipped")]
    assert len(skipped) >= 4  # written without waiting for figures
    last = trials[-1]  # nothing waited behind it: it got its figure
    assert "figure" not in last.user_attrs
    assert get_all_artifact_meta(last, storage=storage)
    assert not any(get_all_artifact_meta(t, storage=storage) for t in skipped)
