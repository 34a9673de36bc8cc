"""Datasets: built-ins, files, splits, standardisation, fingerprints and clear errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from actsearch.errors import UsageError
from actsearch.train.data import BUILTIN, load_dataset, prepare


@pytest.mark.parametrize("name", sorted(BUILTIN))
def test_builtin_datasets_split_60_20_20_without_overlap(name: str) -> None:
    data = load_dataset(name)
    sizes = [len(data.x_train), len(data.x_val), len(data.x_test)]
    total = sum(sizes)
    assert total == data.meta["samples"]
    assert abs(sizes[0] / total - 0.6) < 0.01 and abs(sizes[1] / total - 0.2) < 0.01
    rows = {tuple(r) for r in torch.cat([data.x_train, data.x_val, data.x_test]).tolist()}
    assert len(rows) >= total - 5  # (a few datasets hold duplicate rows themselves)
    expected_task = {"diabetes": "regression", "periodic": "regression"}.get(
        name, "binary" if data.n_classes == 2 else "multiclass")
    assert data.task == expected_task


def test_standardised_with_training_statistics_only() -> None:
    data = load_dataset("wine")
    torch.testing.assert_close(data.x_train.mean(0), torch.zeros(13), atol=1e-5, rtol=0)
    torch.testing.assert_close(data.x_train.std(0, unbiased=False), torch.ones(13), atol=1e-4,
                               rtol=0)
    assert data.x_val.mean(0).abs().max() > 1e-3  # validation was not standardised on itself


def test_split_is_stratified_and_fixed() -> None:
    first, second = load_dataset("digits"), load_dataset("digits")
    assert torch.equal(first.x_test, second.x_test)
    assert first.fingerprint == second.fingerprint
    for split in (first.y_train, first.y_val, first.y_test):
        share = torch.bincount(split, minlength=10).float() / len(split)
        assert share.min() > 0.08 and share.max() < 0.12


def test_fingerprint_changes_with_content() -> None:
    x = np.random.default_rng(0).normal(size=(60, 3))
    y = (x[:, 0] > 0).astype(int)
    a = prepare("a", x, y)
    x2 = x.copy()
    x2[0, 0] += 1e-9
    assert prepare("a", x2, y).fingerprint != a.fingerprint
    assert a.meta == {"samples": 60, "features": 3, "task": "binary", "classes": 2,
                      "class_balance": pytest.approx(min(np.bincount(y)) / max(np.bincount(y)))}


def test_csv_with_string_labels(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    lines = ["a,b,kind"] + [f"{u:.3f},{v:.3f},{'cat' if u > 0 else 'dog'}"
                            for u, v in rng.normal(size=(80, 2))]
    path = tmp_path / "pets.csv"
    path.write_text("\n".join(lines))
    data = load_dataset(path=path, target="kind")
    assert data.task == "binary" and data.classes == ("cat", "dog") and data.name == "pets"
    assert data.y_train.dtype == torch.int64


@pytest.mark.parametrize(("content", "target", "message"), [
    ("a,b,y\n1,x,0\n", "y", "non-numeric feature column"),
    ("a,b,y\n1,2,0\n", "label", "has no column 'label'"),
    ("a,b,y\n1,2,0\n", None, "needs --target"),
    ("a,b,y\n1,,0\n2,3,1\n", "y", "missing feature values"),
])
def test_bad_csv_gives_clear_errors(tmp_path: Path, content: str, target: str | None,
                                    message: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(UsageError, match=message):
        load_dataset(path=path, target=target)


def test_npz_files(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    np.savez(tmp_path / "ok.npz", X=rng.normal(size=(50, 4)), y=rng.normal(size=50))
    data = load_dataset(path=tmp_path / "ok.npz")
    assert data.task == "regression" and data.metric == "r2"
    np.savez(tmp_path / "bad.npz", features=rng.normal(size=(50, 4)))
    with pytest.raises(UsageError, match=r"lacks array\(s\) \['X', 'y'\]"):
        load_dataset(path=tmp_path / "bad.npz")


def test_missing_file_and_unknown_name() -> None:
    with pytest.raises(UsageError, match="does not exist"):
        load_dataset(path="/no/such/file.csv", target="y")
    with pytest.raises(UsageError, match="did you mean digits"):
        load_dataset("digit")


def test_image_sets_without_torchvision_or_network_give_a_clear_error(tmp_path: Path) -> None:
    try:
        import torchvision  # noqa: F401
    except ImportError:
        with pytest.raises(UsageError, match="needs torchvision"):
            load_dataset("mnist", data_dir=tmp_path)
        return
    with pytest.raises(UsageError, match="could not be downloaded"):
        load_dataset("mnist", data_dir=tmp_path, download=False)
