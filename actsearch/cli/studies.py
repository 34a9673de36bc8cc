"""``actsearch studies``: list, show and delete studies."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from optuna.trial import TrialState
from rich.console import Console
from rich.table import Table

from actsearch.cli.activations import OutputFormat
from actsearch.cli.options import StorageOption, storage_url
from actsearch.errors import UsageError
from actsearch.recommend import delete_study
from actsearch.storage import find_study, list_studies, open_storage

app = typer.Typer(help="Studies in the database: list, show and delete.", no_args_is_help=True)
console = Console()


@app.command("list")
def list_(storage: StorageOption = None,
          fmt: Annotated[OutputFormat, typer.Option("--format")] = OutputFormat.table) -> None:
    """List studies with their trial counts and best value."""
    infos = list_studies(open_storage(storage_url(storage), create=False))
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


@app.command()
def show(name: Annotated[str, typer.Argument(help="Study name.")],
         storage: StorageOption = None,
         top: Annotated[int, typer.Option(help="How many trials to show.")] = 10,
         fmt: Annotated[OutputFormat, typer.Option("--format")] = OutputFormat.table) -> None:
    """The top trials: per-layer activations, hyperparameters, scores and telemetry."""
    store = open_storage(storage_url(storage), create=False)
    study_id = find_study(store, name)
    if study_id is None:
        raise UsageError(f"no study named {name!r}: see `actsearch studies list`")
    trials = [t for t in store.get_all_trials(study_id, deepcopy=False)
              if t.state in (TrialState.COMPLETE, TrialState.PRUNED) and t.value is not None]
    trials.sort(key=lambda t: (t.state != TrialState.COMPLETE, -(t.value or 0.0)))
    rows = [{
        "number": t.number, "state": t.state.name, "value": t.value,
        "activations": t.user_attrs.get("activations", []),
        "params": {k: v for k, v in t.params.items() if not k.startswith("act")},
        "epochs": t.user_attrs.get("epochs"), "telemetry": t.user_attrs.get("telemetry"),
        "dead_fraction_max": t.user_attrs.get("dead_fraction_max"),
        "saturation_mean": t.user_attrs.get("saturation_mean"),
        "grad_norm_min": t.user_attrs.get("grad_norm_min"),
    } for t in trials[:top]]
    if fmt is OutputFormat.json:
        typer.echo(json.dumps({"study": name, "trials": rows}, indent=2))
        return
    table = Table(title=f"study {name}: top {len(rows)} of {len(trials)} finished trials")
    for column in ("#", "state", "value", "layers", "hyperparameters", "ep", "dead", "sat",
                   "grad"):
        # Short columns never wrap; the two text columns share what is left.
        wide = column in ("layers", "hyperparameters")
        table.add_column(column, no_wrap=not wide, overflow="fold", ratio=1 if wide else None)
    for r in rows:  # one layer / one hyperparameter per line: readable at 80 columns
        table.add_row(str(r["number"]), r["state"].lower()[:8], f"{r['value']:.4f}",
                      "\n".join(f"{i}: {a}" for i, a in enumerate(r["activations"])),
                      "\n".join(f"{k}={_short(v)}" for k, v in r["params"].items()),
                      str(r["epochs"]), _short(r["dead_fraction_max"]),
                      _short(r["saturation_mean"]), _short(r["grad_norm_min"]))
    console.print(table)


def _short(value: object) -> str:
    if value is None:
        return "-"
    return f"{value:.3g}" if isinstance(value, float) else str(value)


@app.command()
def delete(name: Annotated[str, typer.Argument(help="Study name.")],
           storage: StorageOption = None,
           yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False) -> None:
    """Delete a study and all its trials (asks first)."""
    store = open_storage(storage_url(storage), create=False)
    if find_study(store, name) is None:
        raise UsageError(f"no study named {name!r}: see `actsearch studies list`")
    if not yes and not typer.confirm(f"Delete study {name!r} and all its trials?"):
        raise typer.Exit(1)
    delete_study(store, name)
    typer.echo(f"deleted study {name}")
