"""``actsearch activations ...`` through Typer's CliRunner, plus the installed console script."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from actsearch import activations
from actsearch.cli import app

runner = CliRunner()
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_list_json_has_every_function_with_required_fields() -> None:
    result = runner.invoke(app, ["activations", "list", "--format", "json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [r["name"] for r in rows] == activations.names()
    for row in rows:
        for key in ("name", "aliases", "formula", "learnable", "range", "monotonic", "smooth",
                    "zero_centered"):
            assert key in row
    relu = next(r for r in rows if r["name"] == "relu")
    assert relu["range"] == [0.0, None]
    assert relu["monotonic"] is True
    assert relu["smooth"] is False
    silu = next(r for r in rows if r["name"] == "silu")
    assert silu["aliases"] == ["swish"]


def test_list_table_and_family_filter() -> None:
    result = runner.invoke(app, ["activations", "list", "--family", "gated"])
    assert result.exit_code == 0
    for name in activations.names("gated"):
        assert name in result.stdout
    assert "sigmoid" not in result.stdout.replace("hardsigmoid", "")
    bad = runner.invoke(app, ["activations", "list", "--family", "nope"])
    assert bad.exit_code == 2
    assert "no activation in family 'nope'" in bad.stderr


def test_show_prints_metadata_and_description() -> None:
    result = runner.invoke(app, ["activations", "show", "swish"])
    assert result.exit_code == 0
    for text in ("silu", "x σ(x)", "Elfwing", "Self-gated"):
        assert text in result.stdout
    as_json = runner.invoke(app, ["activations", "show", "maxout", "--format", "json"])
    assert json.loads(as_json.stdout)["width_factor"] == 2


@pytest.mark.parametrize(("args", "message"), [
    (["activations", "show", "lealy_relu"], "did you mean leaky_relu"),
    (["activations", "plot", "maxout", "-o", "{tmp}/m.png"], "not element-wise"),
    (["activations", "plot", "x.__class__", "-o", "{tmp}/m.png"], "attribute access"),
    (["activations", "plot", "relu", "--range", "3", "1", "-o", "{tmp}/m.png"], "is empty"),
    (["activations", "plot", "relu", "-o", "{tmp}/missing/dir/m.png"], "cannot write plot"),
])
def test_bad_input_exits_2_with_one_line_and_no_traceback(args: list[str], message: str,
                                                          tmp_path: Path) -> None:
    result = runner.invoke(app, [a.replace("{tmp}", str(tmp_path)) for a in args])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: ")
    assert message in lines[0]
    assert "Traceback" not in result.output
    assert not (tmp_path / "m.png").exists()


def test_verbose_shows_the_traceback() -> None:
    result = runner.invoke(app, ["--verbose", "activations", "show", "nope"])
    assert result.exit_code == 2
    assert "Traceback" in result.stderr
    assert "UnknownActivationError" in result.stderr


def test_plot_writes_png_with_derivatives_and_negative_range(tmp_path: Path) -> None:
    out = tmp_path / "curves.png"
    result = runner.invoke(app, ["activations", "plot", "relu", "gelu", "x * sigmoid(1.5 * x)",
                                 "--derivative", "--range", "-6", "6", "-o", str(out)])
    assert result.exit_code == 0, result.output
    data = out.read_bytes()
    assert data.startswith(PNG_MAGIC)
    single = tmp_path / "single.png"
    runner.invoke(app, ["activations", "plot", "relu", "-o", str(single)])
    # Two panels (function and derivative) make a wider image than one.
    width = int.from_bytes(data[16:20], "big")
    assert width > int.from_bytes(single.read_bytes()[16:20], "big")


def test_console_script_runs_and_reports_errors() -> None:
    ok = subprocess.run([sys.executable, "-m", "actsearch", "activations", "list", "--format",
                         "json"], capture_output=True, text=True, check=False)
    assert ok.returncode == 0
    assert json.loads(ok.stdout)
    bad = subprocess.run([sys.executable, "-m", "actsearch", "activations", "show", "nope"],
                         capture_output=True, text=True, check=False)
    assert bad.returncode == 2
    assert bad.stderr.strip().startswith("error: unknown activation 'nope'")
    assert "Traceback" not in bad.stderr
