"""Storage conformance: the same suite on SQLite and on the real PostgreSQL server."""

from __future__ import annotations

from pathlib import Path

import pytest
from optuna.trial import TrialState

from actsearch.errors import UsageError
from actsearch.recommend.recommendation import delete_study, recommend
from actsearch.store.database import ReaderStorage, masked, open_storage
from actsearch.store.studies import create_or_load_study, list_studies
from tests.conftest import add_trial

META = {"dataset": "iris", "fingerprint": "f1", "space": "default", "space_digest": "d1",
        "metric": "accuracy"}


def _trial(storage, study_id, state, value=None, attrs=None, act="relu"):  # type: ignore[no-untyped-def]
    return add_trial(storage, study_id, {"act_0": act}, value, state=state,
                     choices=["relu", "tanh"], user_attrs={"activations": [act], **(attrs or {})})


def test_create_once_then_load(storage_url: str) -> None:
    storage = open_storage(storage_url)
    first = create_or_load_study(storage, "s", META)
    assert create_or_load_study(open_storage(storage_url), "s", META) == first
    with pytest.raises(UsageError, match="another search space"):
        create_or_load_study(storage, "s", {**META, "space_digest": "other"})
    with pytest.raises(UsageError, match="another dataset"):
        create_or_load_study(storage, "s", {**META, "fingerprint": "other"})


def test_list_recommend_and_delete(storage_url: str) -> None:
    storage = open_storage(storage_url)
    a = create_or_load_study(storage, "iris-a", META)
    b = create_or_load_study(storage, "iris-b", META)
    _trial(storage, a, TrialState.COMPLETE, 0.90, act="relu")
    _trial(storage, b, TrialState.COMPLETE, 0.95, act="tanh")
    _trial(storage, b, TrialState.PRUNED, 0.99, act="relu")  # pruned trials never win
    infos = {i.name: i for i in list_studies(storage)}
    assert infos["iris-b"].n_complete == 1 and infos["iris-b"].n_pruned == 1
    assert infos["iris-b"].best_value == pytest.approx(0.95)
    rec = recommend(storage, "iris")
    assert (rec.study, rec.activations, rec.n_trials) == ("iris-b", ["tanh"], 3)
    assert rec.value == pytest.approx(0.95)
    with pytest.raises(UsageError, match=r"no study of dataset 'wine'.*studied: iris"):
        recommend(storage, "wine")
    delete_study(storage, "iris-b")
    assert recommend(storage, "iris").study == "iris-a"
    with pytest.raises(UsageError, match="no study named"):
        delete_study(storage, "iris-b")


def test_read_only_open_never_creates(storage_url: str) -> None:
    with pytest.raises(UsageError, match=r"(does not exist yet|holds no studies)"):
        open_storage(storage_url, create=False)


def test_unreachable_and_malformed_urls() -> None:
    with pytest.raises(UsageError, match="cannot open storage postgresql"):
        open_storage("postgresql+psycopg://postgres:secret@127.0.0.1:1/none")
    with pytest.raises(UsageError, match="is not a database URL"):
        open_storage("not a url")
    assert "secret" not in masked("postgresql+psycopg://postgres:secret@h/db")


def test_deferred_storage_reads_the_database_once_a_search_has_made_it(
        storage_url: str) -> None:
    """The dashboard's one storage: empty (and refusing writes, which the stand-in would
    lose) until the tables exist, then the study database itself, without reopening."""
    from optuna.study import StudyDirection

    deferred = ReaderStorage(storage_url).deferred()
    assert deferred.get_all_studies() == []
    with pytest.raises(UsageError, match="no search has created the study database yet"):
        deferred.create_new_study([StudyDirection.MAXIMIZE], "from-the-dashboard")
    writer = open_storage(storage_url)  # what a search does first
    study_id = writer.create_new_study([StudyDirection.MAXIMIZE], "s")
    _trial(writer, study_id, TrialState.COMPLETE, 0.9)
    assert [s.study_name for s in deferred.get_all_studies()] == ["s"]
    assert deferred.get_best_trial(study_id).value == 0.9


def _open_when_released(url: str, release: str) -> str:
    """Open ``url`` once the file ``release`` exists (so several processes open at once)."""
    import os
    import time

    while not os.path.exists(release):
        time.sleep(0.001)
    try:
        open_storage(url).engine.dispose()
    except UsageError as exc:
        return str(exc)
    return "ok"


def _open_together(urls: list[str], release: Path, processes: int = 4) -> list[str]:
    import multiprocessing
    import time

    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        outcomes = []
        for i, url in enumerate(urls):
            gate = release.with_suffix(f".{i}")
            pending = pool.starmap_async(_open_when_released, [(url, str(gate))] * processes)
            time.sleep(0.3)  # every process waits at the gate
            gate.touch()
            outcomes += pending.get(120)
    return outcomes


def test_drivers_opening_a_new_sqlite_file_together_all_succeed(tmp_path: Path) -> None:
    # Two searches started together on a new file: one used to stop with "table trials
    # already exists" (about half of the openings did, four at a time).
    urls = [f"sqlite:///{tmp_path / f'new{i}.db'}" for i in range(8)]
    outcomes = _open_together(urls, tmp_path / "go")
    assert outcomes == ["ok"] * 32, [o for o in outcomes if o != "ok"][:2]
    storage = open_storage(urls[0])
    assert create_or_load_study(storage, "s", META) == create_or_load_study(storage, "s", META)


def test_drivers_opening_a_new_postgresql_schema_together_all_succeed(
        postgres_url: str, tmp_path: Path) -> None:
    assert _open_together([postgres_url], tmp_path / "go") == ["ok"] * 4
