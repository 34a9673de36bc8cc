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
from actsearch.recommend import Recommendation
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
    print_recommendation(rec)


def print_recommendation(rec: Recommendation) -> None:
    table = Table(title=f"recommendation for {rec.dataset}", show_header=False,
                  title_justify="left")
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    for i, act in enumerate(rec.activations):
        table.add_row(f"layer {i}", act)
    hyper = {k: v for k, v in rec.params.items() if not k.startswith("act")}
    table.add_row("hyperparameters", ", ".join(f"{k}={v:.4g}" if isinstance(v, float)
                                               else f"{k}={v}" for k, v in hyper.items()))
    table.add_row(f"validation {rec.metric}", f"{rec.value:.4f} (search, one run)")
    table.add_row("from", f"study {rec.study}, trial #{rec.trial}, {rec.n_trials} finished "
                          "trials")
    c = rec.confirmation
    if c:
        table.add_row(f"test {rec.metric}", f"{c['mean']:.4f} ± {c['std']:.4f} over {c['n']} "
                                            f"seeds; all-ReLU {c['relu_mean']:.4f} ± "
                                            f"{c['relu_std']:.4f}")
        table.add_row("difference", f"{c['difference']:+.4f} (95% CI {c['ci_low']:+.4f} .. "
                                    f"{c['ci_high']:+.4f}), Welch p = {c['p_value']:.3g}")
    table.add_row("verdict", rec.verdict)
    if rec.importance:
        acts = sum(v for k, v in rec.importance.items() if k.startswith("act"))
        top = ", ".join(f"{k} {v:.2f}" for k, v in list(rec.importance.items())[:5])
        table.add_row("importance", f"activations {acts:.2f} of the total; {top}")
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
