"""Options shared by several commands."""

from __future__ import annotations

from typing import Annotated

import typer

from actsearch.settings import get_settings

StorageOption = Annotated[
    str | None,
    typer.Option("--storage", envvar="ACTSEARCH_STORAGE",
                 help="SQLAlchemy URL of the study database [default: sqlite:///actsearch.db]."),
]


def storage_url(value: str | None) -> str:
    return value or get_settings().storage
