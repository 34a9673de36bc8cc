"""``actsearch serve``: the HTTP API under uvicorn."""

from __future__ import annotations

from typing import Annotated

import typer

from actsearch.cli.options import StorageOption, storage_url
from actsearch.errors import UsageError
from actsearch.settings import get_settings


def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    storage: StorageOption = None,
) -> None:
    """Serve recommendations, studies and the catalogue over HTTP (FastAPI + uvicorn)."""
    try:
        import uvicorn

        from actsearch.api import create_app
    except ImportError as exc:
        raise UsageError(f"actsearch serve needs the api extra ({exc.name} is missing): "
                         "pip install 'actsearch[api]'") from None

    settings = get_settings().model_copy(update={"storage": storage_url(storage)})
    app = create_app(settings)  # opens the storage now: a bad URL fails before listening
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
