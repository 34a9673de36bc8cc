"""``actsearch dashboard``: optuna-dashboard on the study database and trial artifacts."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated

import typer

from actsearch.cli.options import StorageOption, storage_url
from actsearch.errors import UsageError


def dashboard(
    storage: StorageOption = None,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8080,
    artifacts_dir: Annotated[Path | None, typer.Option(
        envvar="ACTSEARCH_ARTIFACTS_DIR", help="Where searches store trial figures.",
        show_default="the folder the newest search recorded")] = None,
) -> None:
    """Open the searches in optuna-dashboard: trials, importance, notes and trial figures."""
    try:
        import optuna_dashboard
    except ImportError:
        raise UsageError("actsearch dashboard needs the api extra (optuna-dashboard is "
                         "missing): pip install 'actsearch[api]'") from None
    from actsearch import service

    store = service.open_storage(storage_url(storage), create=False)
    # Searches record the absolute folder for their figures; figures are drawn there on
    # first view. Without one (studies from before), a temporary folder: never the
    # directory the dashboard happens to start in.
    recorded = service.recorded_artifacts_dir(store)
    folder = artifacts_dir or (Path(recorded) if recorded else
                               Path(tempfile.mkdtemp(prefix="actsearch-figures-")))
    typer.echo(f"optuna-dashboard on http://{host}:{port} (trial figures in {folder})")
    optuna_dashboard.run_server(store, host=host, port=port,
                                artifact_store=service.LazyFigureStore(folder, store))
