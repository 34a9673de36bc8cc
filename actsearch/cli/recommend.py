"""``actsearch recommend`` and ``actsearch datasets``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from actsearch.cli.options import FormatOption, OutputFormat, StorageOption, example, storage_url

if TYPE_CHECKING:
    from actsearch.service import Recommendation

console = Console()
RECOMMEND_EXAMPLES = """\b
Examples:
  actsearch recommend wine
  actsearch recommend wine --max-latency-ms 0.002
  actsearch recommend --data my.csv --target label --format json
"""
datasets_app = typer.Typer(help="Datasets actsearch can load by name.", no_args_is_help=True)


def recommend(
    dataset: Annotated[str | None, typer.Argument(help="Dataset name (as searched, or a "
                                                       "knowledge-base name).")] = None,
    data: Annotated[Path | None, typer.Option(help="A CSV or NPZ file never searched: answer "
                                                   "from the most similar known datasets.")
                    ] = None,
    target: Annotated[str | None, typer.Option(help="The CSV column to predict.")] = None,
    neighbours: Annotated[int, typer.Option(min=1, max=50, help="Neighbours shown with --data.")
                          ] = 5,
    max_latency_ms: Annotated[float | None, typer.Option(
        min=0.0, help="Only networks at most this many inference milliseconds per example "
                      "(as measured where they trained).")] = None,
    max_params: Annotated[int | None, typer.Option(
        min=1, help="Only networks with at most this many parameters.")] = None,
    storage: StorageOption = None,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """The per-layer activations and hyperparameters to use for a dataset, and how sure that is.

    A studied dataset is answered from its studies; a file never searched (--data) from the
    nearest studied datasets and the shipped knowledge base. With --max-latency-ms or
    --max-params: the best configuration within that budget, judged against the baselines'
    best within it.
    """
    from actsearch import service

    if (dataset is None) == (data is None):
        raise typer.BadParameter("give a DATASET name or --data FILE (one of them)")
    budget = service.Budget(max_latency_ms=max_latency_ms, max_params=max_params)
    if data is not None and budget.given:
        raise typer.BadParameter("--max-latency-ms and --max-params need a DATASET searched "
                                 "here, not --data")
    url = storage_url(storage)
    if data is None:
        assert dataset is not None
        rec = service.recommendation(service.studies_if_any(url), dataset, budget)
        if fmt is OutputFormat.json:
            typer.echo(json.dumps(rec.to_dict(), indent=2))
        else:
            print_recommendation(rec)
        return
    answer = service.for_file(url, data, target, neighbours)
    if fmt is OutputFormat.json:
        body = answer.unseen.to_dict() if answer.unseen else answer.recommendation.to_dict()
        typer.echo(json.dumps(body, indent=2))
        return
    if answer.unseen is None:  # searched before: its own answer
        console.print(f"{data} was searched as dataset {answer.studied_as!r}:", highlight=False)
        print_recommendation(answer.recommendation)
        return
    meta = answer.meta
    console.print(f"[bold]{data}[/bold]: {meta['samples']} rows, {meta['features']} features, "
                  f"{meta['task']}; never searched, so this is what worked on the most similar "
                  "known datasets.", highlight=False)
    table = Table(title="nearest known datasets", title_justify="left")
    for column in ("dataset", "distance", "rows × cols", "use", "per-layer vs tuned ReLU",
                   "from"):
        table.add_column(column, overflow="fold")
    for s in answer.unseen.neighbours:
        r = s.recommendation
        table.add_row(s.dataset, f"{s.distance:.2f}", f"{s.meta['samples']} × "
                      f"{s.meta['features']}", ", ".join(r.activations),
                      service.verdict_word(r.verdicts.get("tuned_relu")),
                      "your studies" if r.source == "studies" else "shipped")
    console.print(table)
    console.print(f"evidence: {answer.unseen.evidence.sentence()}", highlight=False)
    print_recommendation(answer.recommendation)
    console.print(f"to search it yourself from these: `actsearch search --data {data}"
                  f"{f' --target {target}' if target else ''} --warm-start`", highlight=False)


SIDE_LABELS = {"search": "the per-layer search",
               "tuned_relu": "the tuned ReLU baseline (ReLU in every layer)",
               "uniform": "the uniform baseline (one activation in every layer)"}


def _scores(mean: float, std: float, n: int) -> str:
    return f"{mean:.4f} ± {std:.4f} over {n} seeds"


def print_recommendation(rec: Recommendation) -> None:
    from actsearch import service
    table = Table(title=f"recommendation for {rec.dataset}", show_header=False,
                  title_justify="left")
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    if rec.confirmed:
        table.add_row("use", f"{SIDE_LABELS.get(rec.side, rec.side)}'s best configuration")
    for i, act in enumerate(rec.activations):
        table.add_row(f"layer {i}", act)
    table.add_row("hyperparameters", ", ".join(f"{k}={v:.4g}" if isinstance(v, float)
                                               else f"{k}={v}"
                                               for k, v in rec.hyperparameters.items()))
    table.add_row(f"validation {rec.metric}", f"{rec.value:.4f} (search, one run)")
    origin = f"study {rec.study}, trial #{rec.trial}, {rec.n_trials} finished trials"
    if rec.source == "knowledge base":
        origin = f"the shipped knowledge base ({rec.dataset}: {origin})"
    table.add_row("from", origin)
    best, relu = (rec.final or {}).get("best"), (rec.final or {}).get("relu")
    if best and relu:  # the search's closing glance: one retrain each, not a verdict
        table.add_row("closing glance", f"retrained once: test {best['test']:.4f}; its "
                                        f"untuned ReLU twin: test {relu['test']:.4f}")
    c = rec.confirmation
    if c:
        table.add_row(f"per-layer test {rec.metric}", _scores(c.mean, c.std, c.n))
    for kind, base in rec.baselines.items():
        table.add_row(f"{kind.replace('_', ' ')} test {rec.metric}",
                      f"{_scores(base.test_mean, base.test_std, base.n)} (study "
                      f"{base.study}, {base.trials} trials)")
    for kind, comparison in rec.comparisons.items():
        table.add_row(f"vs {kind.replace('_', ' ')}", comparison.sentence(rec.metric))
    if rec.ablation:
        a = rec.ablation
        table.add_row("ablation", f"per-layer best vs its untuned ReLU twin (same shape and "
                                  f"hyperparameters): {a.difference:+.4f}, p = "
                                  f"{a.p_value:.3g}")
    if rec.latency_ms is not None:
        table.add_row("cost", f"{1000 * rec.latency_ms:.3g} µs per example, "
                              f"{rec.parameters} parameters")
    if rec.budget:
        table.add_row("within", rec.budget)
    table.add_row("verdict", rec.verdict)
    if rec.importance:
        acts = sum(v for k, v in rec.importance.items() if service.is_activation_param(k))
        top = ", ".join(f"{k} {v:.2f}" for k, v in list(rec.importance.items())[:5])
        table.add_row("importance", f"activations {acts:.2f} of the total; {top} "
                                    f"({rec.importance_about or 'fANOVA'})")
    console.print(table)
    if rec.comparisons:
        console.print("\n".join(service.forest_text(rec.comparisons, rec.metric)),
                      highlight=False, markup=False)
    if len(rec.front) > 1:
        console.print(_front_table(rec))


def _front_table(rec: Recommendation) -> Table:
    """The per-layer search's Pareto front: what each step of accuracy costs."""
    table = Table(title=f"{rec.metric} against inference cost: the Pareto front, fastest "
                        "first", title_justify="left")
    for column in ("trial", "layers", f"val {rec.metric}", "test ± sd", "µs", "params"):
        table.add_column(column, overflow="fold")
    for m in rec.front:
        test = f"{m.test_mean:.4f} ± {m.test_std:.4f}" if m.test_mean is not None else "-"
        table.add_row(f"#{m.trial}", " ".join(m.activations), f"{m.value:.4f}", test,
                      f"{1000 * m.latency_ms:.3g}", str(m.parameters))
    return table


@datasets_app.command("list", epilog=example("actsearch datasets list"))
def list_datasets() -> None:
    """Built-in datasets (and torchvision image sets)."""
    from actsearch import service

    table = Table(title="datasets")
    table.add_column("name", no_wrap=True, style="bold")
    table.add_column("description")
    for name, description in service.dataset_names().items():
        table.add_row(name, description)
    console.print(table)
