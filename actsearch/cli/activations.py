"""``actsearch activations``: list, show and plot the catalogue."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from actsearch import activations
from actsearch.activations.plot import plot_curves
from actsearch.errors import UsageError

app = typer.Typer(help="The activation catalogue: list, show and plot functions.",
                  no_args_is_help=True)
console = Console()


class OutputFormat(StrEnum):
    table = "table"
    json = "json"


def _mark(value: bool | None) -> str:
    return {True: "yes", False: "no", None: "?"}[value]


@app.command("list")
def list_(
    family: Annotated[str | None, typer.Option(help="Only this family (e.g. rectifier).")] = None,
    fmt: Annotated[OutputFormat, typer.Option("--format", help="table or json.")] = (
        OutputFormat.table
    ),
) -> None:
    """List every activation function actsearch knows."""
    records = [activations.info(n) for n in activations.names(family)]
    if family is not None and not records:
        families = sorted({i.family for i in activations.registry().values()})
        raise UsageError(f"no activation in family {family!r}: families are {', '.join(families)}")
    if fmt is OutputFormat.json:
        typer.echo(json.dumps([r.to_dict() for r in records], indent=2, ensure_ascii=False))
        return
    table = Table(title=f"{len(records)} activation functions", show_lines=False)
    table.add_column("name", no_wrap=True, style="bold")
    for column in ("aliases", "family", "formula", "range", "mono", "smooth", "0-ctr", "learn"):
        table.add_column(column, overflow="fold")
    for r in records:
        table.add_row(r.name, ", ".join(r.aliases), r.family, r.formula, r.range_text(),
                      _mark(r.monotonic), _mark(r.smooth), _mark(r.zero_centered),
                      _mark(r.learnable))
    console.print(table)


@app.command()
def show(
    name: Annotated[str, typer.Argument(help="Canonical name or alias.")],
    fmt: Annotated[OutputFormat, typer.Option("--format", help="table or json.")] = (
        OutputFormat.table
    ),
) -> None:
    """Show one function's formula, parameters and properties."""
    record = activations.info(name)
    if fmt is OutputFormat.json:
        typer.echo(json.dumps(record.to_dict(), indent=2, ensure_ascii=False))
        return
    table = Table(show_header=False, title=record.name, title_justify="left")
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    params = ", ".join(f"{k}={v!r}" for k, v in record.params.items()) or "none"
    rows = [
        ("aliases", ", ".join(record.aliases) or "-"),
        ("formula", record.formula),
        ("latex", record.latex),
        ("parameters", params),
        ("learnable", _mark(record.learnable)),
        ("range", record.range_text()),
        ("monotonic", _mark(record.monotonic)),
        ("smooth", _mark(record.smooth)),
        ("zero-centred", _mark(record.zero_centered)),
        ("element-wise", _mark(record.elementwise)),
        ("family", record.family),
        ("torch", record.torch_equivalent or "-"),
        ("reference", record.reference or "-"),
        ("description", record.description or "-"),
    ]
    if record.width_factor != 1:
        rows.insert(9, ("width factor", f"{record.width_factor}x pre-activations per unit"))
    for field, value in rows:
        table.add_row(field, value, end_section=False)
    console.print(table, markup=False)


@app.command()
def plot(
    names: Annotated[list[str], typer.Argument(help="Names, aliases or formula strings.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Image file to write.")] = Path(
        "activations.png"
    ),
    derivative: Annotated[bool, typer.Option(help="Also plot the derivatives.")] = False,
    x_range: Annotated[
        tuple[float, float], typer.Option("--range", help="x interval: LOW HIGH.")
    ] = (-5.0, 5.0),
) -> None:
    """Plot functions (and derivatives) on one figure, saved to a file."""
    written = plot_curves(names, output, derivative=derivative, x_range=x_range)
    typer.echo(f"wrote {written}")
