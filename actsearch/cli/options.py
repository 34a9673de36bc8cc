"""Options shared by several commands (light: importing them costs nothing at start-up)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

import typer

from actsearch.settings import DEFAULT_STORAGE, get_settings


class OutputFormat(StrEnum):
    table = "table"
    json = "json"


StorageOption = Annotated[
    str | None,
    typer.Option("--storage", envvar="ACTSEARCH_STORAGE", show_default=DEFAULT_STORAGE,
                 help="SQLAlchemy URL of the study database."),
]
FormatOption = Annotated[OutputFormat, typer.Option(
    "--format", help="table (for people) or json (for programs).")]
# The strategies a search space may name (actsearch.search.strategy); kept here as a plain
# choice so `--help` does not import the search machinery.
StrategyChoice = Literal["joint", "staged"]


def example(*lines: str) -> str:
    """A command's epilog, printed as written (Click does not rewrap a ``\\b`` paragraph)."""
    return "\b\nExample:\n" + "\n".join(f"  {line}" for line in lines)


def storage_url(value: str | None) -> str:
    return value or get_settings().storage
