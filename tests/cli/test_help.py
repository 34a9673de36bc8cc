"""Help a newcomer can read: every default and an example per command, in 80 columns, fast."""

from __future__ import annotations

import subprocess
import sys

import pytest
import typer.main
from typer.core import TyperGroup
from typer.testing import CliRunner

from actsearch.cli.app import app

ROOT = typer.main.get_command(app)


def _commands(group: TyperGroup, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = []
    for name, command in group.commands.items():
        path = (*prefix, name)
        if isinstance(command, TyperGroup):
            found += _commands(command, path)
        else:
            found.append(path)
    return found


def _block(text: str, option: str) -> str:
    """An option's help in Click's layout: its line and the indented lines after it."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines)
                 if line.startswith("  -") and option in line.replace(",", " ").split()[:4])
    block = [lines[start]]
    for line in lines[start + 1:]:
        if not line.startswith("   "):
            break
        block.append(line)
    return " ".join(" ".join(block).split())


COMMANDS = _commands(ROOT)  # type: ignore[arg-type]


def test_every_command_is_covered() -> None:
    assert {("search",), ("confirm",), ("recommend",), ("studies", "show"),
            ("activations", "list"), ("datasets", "list")} <= set(COMMANDS)


@pytest.mark.parametrize("path", COMMANDS, ids=" ".join)
def test_help_shows_every_default_and_an_example_in_80_columns(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(app, [*path, "--help"], terminal_width=80)
    assert result.exit_code == 0, result.output
    text = result.output
    command = ROOT
    for name in path:
        command = command.commands[name]  # type: ignore[attr-defined]
    for param in command.params:
        if param.param_type_name != "option" or param.name == "help":
            continue
        if getattr(param, "is_flag", False) and not getattr(param, "secondary_opts", None):
            continue  # a lone flag (--yes) is off unless given
        if param.default is not None or isinstance(getattr(param, "show_default", None), str):
            assert "default:" in _block(text, param.opts[-1]), (path, param.opts[-1])
    assert "Example" in text, path
    assert max(len(line) for line in text.splitlines()) <= 80, path


def test_search_help_states_the_defaults_it_resolves_later() -> None:
    text = CliRunner().invoke(app, ["search", "--help"], terminal_width=80).output
    flat = " ".join(text.split())
    for default in ("(digits, unless --data)", "[default: 20]", "(the space's)",
                    "(sqlite:///actsearch.db)", "(DATASET-SPACE)",
                    "(the local Ray that is up, else a new one kept for the next searches "
                    "(ACTSEARCH_RAY_KEEP_SECONDS))"):
        assert default in flat, default


def test_help_imports_none_of_the_heavy_libraries() -> None:
    # What makes `--help` fast: the commands import the library when they run.
    code = ("import sys, actsearch.cli.app; print(sorted(m for m in ('torch', 'ray', 'optuna', "
            "'sqlalchemy', 'scipy', 'sklearn', 'matplotlib', 'pandas') if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert loaded.stdout.strip() == "[]"
