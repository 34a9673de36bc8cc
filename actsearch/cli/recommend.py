"""``actsearch recommend`` and ``actsearch datasets``."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from actsearch.cli.activations import OutputFormat
from actsearch.cli.options import StorageOption, storage_url
from actsearch.data import dataset_names
from actsearch.recommend import recommend as recommend_for
from actsearch.storage import open_storage

console = Console()
datasets_app = typer.Typer(help="Datasets actsearch can load by name.", no_args_is_help=True)


def recommend(
    dataset: Annotated[str, typer.Argument(help="Dataset name (as searched).")],
    storage: StorageOption = None,
    fmt: Annotated[OutputFormat, typer.Option("--format")] = OutputFormat.table,
) -> None:
    """The best per-layer activations and hyperparameters found so far for a dataset."""
    rec = recommend_for(open_storage(storage_url(storage), create=False), dataset)
    if fmt is OutputFormat.json:
        typer.echo(json.dumps(rec.to_dict(), indent=2))
        return
    table = Table(title=f"recommendation for {dataset}", show_header=False, title_justify="left")
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    for i, act in enumerate(rec.activations):
        table.add_row(f"layer {i}", act)
    hyper = {k: v for k, v in rec.params.items() if not k.startswith("act")}
    table.add_row("hyperparameters", ", ".join(f"{k}={v:.4g}" if isinstance(v, float)
                                               else f"{k}={v}" for k, v in hyper.items()))
    table.add_row(f"validation {rec.metric}", f"{rec.value:.4f}")
    table.add_row("from", f"study {rec.study}, trial #{rec.trial}, {rec.n_trials} finished "
                          "trials")
    if rec.final:
        best, relu = rec.final.get("best", {}), rec.final.get("relu", {})
        table.add_row("test (best / all-ReLU)", f"{best.get('test', float('nan')):.4f} / "
                                                f"{relu.get('test', float('nan')):.4f}")
    table.add_row("confirmed", "no: one run per configuration (see `actsearch confirm`)")
    console.print(table)


@datasets_app.command("list")
def list_datasets() -> None:
    """Built-in datasets (and torchvision image sets)."""
    table = Table(title="datasets")
    table.add_column("name", no_wrap=True, style="bold")
    table.add_column("description")
    for name, description in dataset_names().items():
        table.add_row(name, description)
    console.print(table)
