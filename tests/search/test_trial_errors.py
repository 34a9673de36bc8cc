"""A trial whose worker raises ends FAILED with the error; a search whose every trial fails
that way stops with one line; nothing is left RUNNING."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from optuna.trial import TrialState

from actsearch import activations
from actsearch.errors import SearchFailedError
from actsearch.search.driver import FAILURES_TO_STOP
from actsearch.search.options import SearchOptions
from actsearch.service.searches import run_search
from tests.support import study_trials, write_space

pytestmark = pytest.mark.slow
SPACE = """
model: {{family: mlp, depth: 1, width: 8}}
activations: {{candidates: [{candidates}], per_layer: false}}
hyperparameters: {{lr: 0.02, epochs: 2}}
sampler: {{name: random}}
pruner: {{name: none}}
strategy: {{name: joint}}
"""


@pytest.fixture
def driver_only() -> Iterator[str]:
    """An activation registered in this process only: Ray's workers cannot build it, as a
    cluster's workers cannot build one that a user registered in their own script."""
    activations.register_activation("driver_only")(torch.nn.Tanh)
    try:
        yield "driver_only"
    finally:
        activations.unregister("driver_only")


def test_failing_trials_end_failed_with_their_error_and_the_search_goes_on(
        driver_only: str, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'mixed.db'}"
    result = run_search(SearchOptions(
        dataset="iris",
        space=write_space(tmp_path, SPACE.format(candidates=f"relu, {driver_only}")),
        trials=4, workers=1, storage_url=url, study="mixed", seed=0, compare_relu=False,
        artifacts=False))
    assert result.complete + result.pruned == 4
    trials = study_trials(url, "mixed")
    failed = [t for t in trials if t.state == TrialState.FAIL]
    assert failed and all(t.params["act"] == driver_only for t in failed)
    for t in failed:
        assert t.user_attrs["fail_reason"].startswith("error: UnknownActivationError")
        assert "driver_only" in t.user_attrs["fail_reason"]
    assert not [t for t in trials if t.user_attrs.get("retry_of") is not None]  # not retried
    assert TrialState.RUNNING not in {t.state for t in trials}


def test_a_search_whose_every_trial_fails_the_same_way_stops(
        driver_only: str, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'dead.db'}"
    with pytest.raises(SearchFailedError, match="trials all failed with UnknownActivationError"):
        run_search(SearchOptions(
            dataset="iris", space=write_space(tmp_path, SPACE.format(candidates=driver_only)),
            trials=10, workers=2, storage_url=url, study="dead", compare_relu=False,
            artifacts=False))
    trials = study_trials(url, "dead")
    assert 3 <= len(trials) <= 4  # stopped at the third failure (a fourth may be in flight)
    assert {t.state for t in trials} == {TrialState.FAIL}


def test_failures_in_a_pack_do_not_stop_a_search_whose_other_trials_train(
        driver_only: str, tmp_path: Path) -> None:
    """With 4 trials per worker, several failing trials arrive at once, beside healthy ones
    already training: that is not 'every trial fails'."""
    url = f"sqlite:///{tmp_path / 'packed.db'}"
    result = run_search(SearchOptions(
        dataset="iris",
        space=write_space(tmp_path, SPACE.format(candidates=f"relu, {driver_only}")),
        trials=6, workers=1, trials_per_worker=4, storage_url=url, study="packed", seed=0,
        compare_relu=False, artifacts=False))
    assert result.complete + result.pruned == 6
    failed = {t.number for t in study_trials(url, "packed") if t.state == TrialState.FAIL}
    # Seed 0 draws driver_only, relu, driver_only, driver_only for the first pack: its three
    # failures arrive together, beside the relu trial's first epoch.
    assert {0, 2, 3} <= failed and len({0, 2, 3}) == FAILURES_TO_STOP
