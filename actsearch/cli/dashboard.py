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

    url = storage_url(storage)
    # A database server may hold no studies yet (a new cluster): the dashboard shows searches
    # as they start. A bad URL, a server that is down or a missing local file fail here.
    reader = service.ReaderStorage(url, must_exist=True)
    store = reader.deferred()
    # Searches record the absolute folder for their figures; figures are drawn there on
    # first view. Without one (no search yet, or studies from before), a temporary folder:
    # never the directory the dashboard happens to start in.
    recorded = service.recorded_artifacts_dir(reader.get())
    folder = artifacts_dir or (Path(recorded) if recorded else
                               Path(tempfile.mkdtemp(prefix="actsearch-figures-")))
    if not reader.has_studies:
        typer.echo("no studies in the database yet: searches appear here as they start")
    typer.echo(f"optuna-dashboard on http://{host}:{port} (trial figures in {folder})")
    optuna_dashboard.run_server(store, host=host, port=port,
                                artifact_store=service.LazyFigureStore(folder, store))
