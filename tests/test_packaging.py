"""The wheel is complete and works on its own: built, installed in a fresh virtualenv, run.

The suite otherwise runs against the editable install, which reads modules and data files
straight from the source tree, so a module or data file missing from pyproject.toml's package
list would go unnoticed until someone installed the wheel (or the Docker image). Here the
wheel is built offline (--no-build-isolation, with the setuptools of this interpreter),
installed with --no-deps into a new virtualenv that sees this environment's dependencies but
not its editable actsearch, and a real search is run from an empty directory.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import sysconfig
import zipfile
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
# Build outputs and local state that must not reach the build copy (a stale build/lib would
# put deleted modules back into the wheel).
NOT_COPIED = shutil.ignore_patterns(".git", ".venv", "build", "dist", "*.egg-info",
                                    "__pycache__", ".*_cache", "actsearch-artifacts", "*.db")


def _setuptools_major() -> int:
    try:
        return int(version("setuptools").split(".")[0])
    except (PackageNotFoundError, ValueError):
        return 0


def _run(args: list[str | Path], *, timeout: float = 120, cwd: Path | None = None,
         env: dict[str, str] | None = None) -> str:
    done = subprocess.run([str(a) for a in args], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd, env=env, check=False)
    assert done.returncode == 0, f"{args} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return str(done.stdout)


def _clean_env(**extra: str) -> dict[str, str]:
    """This environment without what could make the new venv import anything else."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "RAY_ADDRESS")
           and not k.startswith(("ACTSEARCH_", "PIP_"))}
    return {**env, **extra}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project's wheel, built from a clean copy of the working tree."""
    source = tmp_path_factory.mktemp("source") / "actsearch"
    shutil.copytree(ROOT, source, ignore=NOT_COPIED)
    out = tmp_path_factory.mktemp("wheel")
    args: list[str | Path] = [sys.executable, "-m", "pip", "wheel", "--no-deps",
                              "--disable-pip-version-check", "-w", out, source]
    if _setuptools_major() >= 77:  # as pyproject.toml's build-system requires: offline build
        args[4:4] = ["--no-build-isolation", "--no-index"]
    # else pip fetches setuptools>=77 into an isolated build environment (needs the network).
    _run(args, timeout=300, env=_clean_env())
    (built,) = out.glob("actsearch-*.whl")
    return built


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new virtualenv holding the wheel, with this environment's site-packages on its path.

    The .pth file only appends that directory to sys.path; Python does not process the .pth
    files inside it, so the editable install's finder (__editable__*.pth) stays inactive.
    """
    root = tmp_path_factory.mktemp("venv") / "env"
    _run([sys.executable, "-m", "venv", "--without-pip", root])
    python = root / "bin" / "python"
    # Installed before the .pth exists, so pip sees an empty environment.
    _run([sys.executable, "-m", "pip", "--python", python, "install", "--no-deps",
          "--no-index", "--disable-pip-version-check", wheel], env=_clean_env())
    site = Path(_run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                     env=_clean_env()).strip())
    deps = dict.fromkeys([sysconfig.get_path("purelib"), sysconfig.get_path("platlib")])
    (site / "_actsearch_test_deps.pth").write_text("\n".join(deps) + "\n")
    return root


def _expected_files() -> set[str]:
    files = {p.relative_to(ROOT).as_posix() for p in (ROOT / "actsearch").rglob("*.py")}
    files |= {f"actsearch/search_spaces/{p.name}" for p in (ROOT / "search_spaces").iterdir()
              if p.suffix in (".py", ".yaml")}
    files.add("actsearch/recommend/knowledge_base.json")
    return files


def test_wheel_holds_every_module_and_data_file(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        (dist_info,) = {n.split("/")[0] for n in names if ".dist-info/" in n}
        entry_points = archive.read(f"{dist_info}/entry_points.txt").decode()
    expected = _expected_files()
    assert expected - names == set(), "missing from the wheel (see pyproject.toml's packages)"
    # Nothing else: no stale module of an old layout, no stray package.
    shipped = {n for n in names if n.startswith("actsearch/") and n.endswith(".py")}
    assert shipped == {n for n in expected if n.endswith(".py")}
    assert "actsearch = actsearch.cli:main" in entry_points


def test_installed_wheel_is_what_runs_and_lists_the_built_in_spaces(venv: Path) -> None:
    code = ("import json, actsearch\n"
            "from importlib import resources\n"
            "from actsearch.search.spaces import available_spaces\n"
            "kb = resources.files('actsearch.recommend').joinpath('knowledge_base.json')\n"
            "print(json.dumps({'file': actsearch.__file__, 'version': actsearch.__version__,\n"
            "                  'spaces': sorted(available_spaces()),\n"
            "                  'knowledge_base': kb.is_file()}))\n")
    out = _run([venv / "bin" / "python", "-c", code], cwd=venv, env=_clean_env())
    found = json.loads(out.strip().splitlines()[-1])
    assert Path(found["file"]).is_relative_to(venv), f"not the wheel's copy: {found['file']}"
    assert found["version"] == "0.1.0"
    assert found["spaces"] == sorted(p.stem for p in (ROOT / "search_spaces").glob("*.yaml"))
    assert found["knowledge_base"]


def test_installed_cli_runs_a_search_from_an_empty_directory(
        venv: Path, tmp_path: Path) -> None:
    work = tmp_path / "cwd"
    work.mkdir()
    db = tmp_path / "s.db"
    # A Ray of its own, stopped when the search ends: a kept one would outlive the suite.
    env = _clean_env(ACTSEARCH_ARTIFACTS_DIR=str(tmp_path / "artifacts"),
                     ACTSEARCH_DATA_DIR=str(tmp_path / "data"), ACTSEARCH_RAY_KEEP_SECONDS="0")
    run = subprocess.run([str(venv / "bin" / "actsearch"), "search", "--dataset", "iris",
                          "--trials", "2", "--epochs", "2", "--storage", f"sqlite:///{db}"],
                         cwd=work, env=env, capture_output=True, text=True, timeout=300,
                         check=False)
    assert run.returncode == 0, f"{run.stdout}\n{run.stderr}"
    assert "iris-default" in run.stdout
    with sqlite3.connect(db) as conn:
        (finished,) = conn.execute(
            "SELECT count(*) FROM trials JOIN studies USING (study_id) "
            "WHERE study_name = 'iris-default' AND state IN ('COMPLETE', 'PRUNED')").fetchone()
    assert finished == 2
    assert not list(work.iterdir()), "the search wrote into its working directory"
