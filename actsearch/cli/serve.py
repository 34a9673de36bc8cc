"""``actsearch serve``: the HTTP API under uvicorn."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from actsearch.cli.options import StorageOption, storage_url
from actsearch.errors import UsageError
from actsearch.settings import get_settings

# The app is loaded by uvicorn from its import string: the CLI face never imports the API.
API_FACTORY = "actsearch.api:create_app"


def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    storage: StorageOption = None,
) -> None:
    """Serve recommendations, studies and the catalogue over HTTP (FastAPI + uvicorn)."""
    from actsearch import service

    try:
        import fastapi  # noqa: F401  (only checked: the api extra is installed)
        import uvicorn
    except ImportError as exc:
        raise UsageError(f"actsearch serve needs the api extra ({exc.name} is missing): "
                         "pip install 'actsearch[api]'") from None
    url = storage_url(storage)
    service.ReaderStorage(url).dispose()  # a bad URL or a server that is down fails here
    os.environ["ACTSEARCH_STORAGE"] = url  # what the app factory reads its settings from
    get_settings.cache_clear()
    uvicorn.run(API_FACTORY, factory=True, host=host, port=port, log_level="warning",
                access_log=False)
