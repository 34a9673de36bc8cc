"""``actsearch activations``: list, show and plot the catalogue."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from actsearch.cli.options import FormatOption, OutputFormat, example
from actsearch.errors import UsageError

app = typer.Typer(help="The activation catalogue: list, show and plot functions.",
                  no_args_is_help=True)
console = Console()


def _mark(value: bool | None) -> str:
    return {True: "yes", False: "no", None: "?"}[value]


@app.command("list", epilog=example("actsearch activations list --family rectifier"))
def list_(
    family: Annotated[str | None, typer.Option(help="Only this family (e.g. rectifier).")] = None,
    fmt: FormatOption = OutputFormat.table,
    wide: Annotated[bool, typer.Option("--wide", help="Every column (aliases, range), "
                                                      "wrapped.")] = False,
) -> None:
    """List every activation function actsearch knows."""
    from actsearch import activations

    records = [activations.info(n) for n in activations.names(family)]
    if family is not None and not records:
        families = sorted({i.family for i in activations.registry().values()})
        raise UsageError(f"no activation in family {family!r}: families are {', '.join(families)}")
    if fmt is OutputFormat.json:
        typer.echo(json.dumps([r.to_dict() for r in records], indent=2, ensure_ascii=False))
        return
    if wide:
        table = Table(title=f"{len(records)} activation functions", show_lines=False)
        table.add_column("name", no_wrap=True, style="bold")
        for column in ("aliases", "family", "formula", "range", "mono", "smooth", "0-ctr",
                       "learn"):
            table.add_column(column, overflow="fold")
        for r in records:
            table.add_row(r.name, ", ".join(r.aliases), r.family, r.formula, r.range_text(),
                          _mark(r.monotonic), _mark(r.smooth), _mark(r.zero_centered),
                          _mark(r.learnable))
        console.print(table)
        return
    # One line per function, whatever the width: the formula is cut to what fits.
    table = Table(title=f"{len(records)} activation functions", box=None, pad_edge=False,
                  title_justify="left", header_style="bold")
    name_width = max(len(r.name) for r in records)
    family_width = max(len(r.family) for r in records)
    room = max(12, console.width - name_width - family_width - 4 - 6)  # 3 gaps of 2
    table.add_column("name", no_wrap=True, style="bold", width=name_width)
    table.add_column("family", no_wrap=True, width=family_width)
    table.add_column("MS0L", no_wrap=True, width=4)
    table.add_column("formula", no_wrap=True, width=room)
    for r in records:
        flags = "".join(_flag(letter, value) for letter, value in (
            ("M", r.monotonic), ("S", r.smooth), ("0", r.zero_centered), ("L", r.learnable)))
        formula = r.formula if len(r.formula) <= room else r.formula[:room - 1] + "…"
        table.add_row(r.name, r.family, flags, formula)
    console.print(table)
    console.print("MS0L: monotonic, smooth, zero-centred, learnable (- no, ? unknown); "
                  "--wide for every column, `activations show NAME` for one",
                  highlight=False, style="dim")


def _flag(letter: str, value: bool | None) -> str:
    return {True: letter, False: "-", None: "?"}[value]


@app.command(epilog=example("actsearch activations show gelu"))
def show(
    name: Annotated[str, typer.Argument(help="Canonical name or alias.")],
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """Show one function's formula, parameters and properties."""
    from actsearch import activations

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
        ("initialisation", record.init_text()),
        ("init source", record.init.source),
        ("description", record.description or "-"),
    ]
    if record.width_factor != 1:
        rows.insert(9, ("width factor", f"{record.width_factor}x pre-activations per unit"))
    for field, value in rows:
        table.add_row(field, value, end_section=False)
    console.print(table, markup=False)


@app.command(epilog=example("actsearch activations plot relu gelu mish -o curves.png"))
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

    from actsearch.activations.plot import plot_curves

    written = plot_curves(names, output, derivative=derivative, x_range=x_range)
    typer.echo(f"wrote {written}")
