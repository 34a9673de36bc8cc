"""``actsearch export``: the recommended network, trained, as files to take away."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from actsearch.cli.options import StorageOption, storage_url


def export(
    name: Annotated[str, typer.Argument(help="A study (its best trial) or a studied dataset "
                                             "(its recommended configuration).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder to write into.")],
    storage: StorageOption = None,
    seed: Annotated[int, typer.Option(help="Training seed.")] = 0,
    data_dir: Annotated[Path | None, typer.Option(
        help="Where image datasets live.", show_default="ACTSEARCH_DATA_DIR")] = None,
) -> None:
    """Train the network on the training split and write model.pt2 (runs with torch alone,
    on raw feature rows), model_state.pt, config.json and rebuild.py."""
    from actsearch import service

    done = service.export(storage_url(storage), name, output, seed=seed, data_dir=data_dir)
    typer.echo(f"validation {done.val:.4f}, test {done.test:.4f} (trained once, seed {seed})")
    for path in done.files:
        typer.echo(f"wrote {path}")
    typer.echo(f"load it with torch alone: torch.export.load('{done.files[0]}').module()")
