"""``actsearch studies``: list, show and delete studies."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Annotated

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from actsearch.cli.options import FormatOption, OutputFormat, StorageOption, example, storage_url

app = typer.Typer(help="Studies in the database: list, show and delete.", no_args_is_help=True)
console = Console()


@app.command("list", epilog=example("actsearch studies list --format json"))
def list_(storage: StorageOption = None,
          fmt: FormatOption = OutputFormat.table) -> None:
    """List studies with their trial counts and best value."""
    from actsearch import service

    infos = service.list_studies(service.open_storage(storage_url(storage), create=False))
    if fmt is OutputFormat.json:
        typer.echo(json.dumps([{**i.__dict__} for i in infos], indent=2, default=str))
        return
    table = Table(title=f"{len(infos)} studies")
    for column in ("study", "dataset", "space", "complete", "pruned", "failed", "running",
                   "best"):
        table.add_column(column, no_wrap=column == "study")
    for i in infos:
        best = f"{i.best_value:.4f}" if i.best_value is not None else "-"
        table.add_row(i.name, i.dataset or "?", i.space or "?", str(i.n_complete),
                      str(i.n_pruned), str(i.n_failed), str(i.n_running), best)
    console.print(table)


@app.command(epilog=example("actsearch studies show wine-default --top 5"))
def show(name: Annotated[str, typer.Argument(help="Study name.")],
         storage: StorageOption = None,
         top: Annotated[int, typer.Option(help="How many trials to show.")] = 10,
         fmt: FormatOption = OutputFormat.table) -> None:
    """The top trials: per-layer activations, hyperparameters, scores and telemetry."""
    from actsearch import service

    detail = service.show_study(service.open_storage(storage_url(storage), create=False), name,
                                top=top)
    rows = [{**asdict(r), "state": r.state.upper(), "params": r.hyperparameters}
            for r in detail.trials]
    if fmt is OutputFormat.json:
        typer.echo(json.dumps({"study": name, "trials": rows}, indent=2))
        return
    table = Table(title=f"study {name}: top {len(rows)} of {detail.finished} finished trials",
                  box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True,
                  title_justify="left")
    for column in ("#", "state", "value", "layers", "hyperparameters", "ep", "dead", "sat",
                   "grad", "µs"):
        # Every cell is one short line: a layer or a hyperparameter per line, never split.
        table.add_column(column, no_wrap=True, overflow="ellipsis")
    for r in detail.trials:
        table.add_row(str(r.number), r.state, f"{r.value:.4f}",
                      "\n".join(f"{i}: {a}" for i, a in enumerate(r.activations)),
                      "\n".join(f"{k}={_short(v)}" for k, v in r.hyperparameters.items()),
                      str(r.epochs), _short(r.dead_fraction_max, 2),
                      _short(r.saturation_mean, 2), _short(r.grad_norm_min, 2),
                      _short(1000 * r.cost["latency_ms"], 2) if r.cost else "-")
    console.print(table)
    console.print("dead: largest share of dead units in a layer; sat: mean saturation; grad: "
                  "smallest weight-gradient norm (last epoch); µs: inference microseconds per "
                  "example (median, batches of 256, where it trained; --format json adds "
                  "parameters and FLOPs)", style="dim",
                  highlight=False)


def _short(value: object, digits: int = 3) -> str:
    if value is None:
        return "-"
    return f"{value:.{digits}g}" if isinstance(value, float) else str(value)


@app.command(epilog=example("actsearch studies delete wine-default --yes"))
def delete(name: Annotated[str, typer.Argument(help="Study name.")],
           storage: StorageOption = None,
           yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False) -> None:
    """Delete a study and all its trials (asks first)."""
    from actsearch import service

    store = service.open_storage(storage_url(storage), create=False)
    service.show_study(store, name, top=0)  # no such study: the error, before asking
    if not yes and not typer.confirm(f"Delete study {name!r} and all its trials?"):
        raise typer.Exit(1)
    service.delete_study(store, name)
    typer.echo(f"deleted study {name}")
