"""``actsearch search``: run or resume a per-layer activation search."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from actsearch import service
from actsearch.cli.options import StorageOption, storage_url
from actsearch.cli.recommend import print_recommendation
from actsearch.service import Progress, SearchOptions, SearchResult, Strategy

console = Console()


def _progress_view(p: Progress) -> Group:
    done = p.complete + p.pruned
    eta = f"{p.eta:.0f}s" if p.eta is not None else "?"
    head = Text.assemble(
        (f"{p.study}  ", "bold"), f"{done}/{p.target} finished  ",
        (f"{p.complete} complete  ", "green"), (f"{p.pruned} pruned  ", "yellow"),
        (f"{p.failed} failed  ", "red"), f"{p.running} running  ",
        f"elapsed {p.elapsed:.0f}s  left ~{eta}",
    )
    best = Text("best: -") if p.best_value is None else Text.assemble(
        ("best ", "bold"), f"{p.best_value:.4f}  ", " | ".join(p.best_activations))
    return Group(head, best)


def _summary(result: SearchResult) -> Table:
    table = Table(title=f"study {result.study} ({result.dataset}, {result.metric})",
                  show_header=False, title_justify="left")
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    table.add_row("trials", f"{result.complete} complete, {result.pruned} pruned, "
                            f"{result.failed} failed")
    if result.best_value is None:
        table.add_row("best", "no completed trial")
        return table
    table.add_row("best trial", f"#{result.best_number}, validation {result.best_value:.4f}")
    for i, act in enumerate(result.activations):
        table.add_row(f"layer {i}", act)
    table.add_row("hyperparameters", ", ".join(f"{k}={_fmt(v)}"
                                               for k, v in result.hyperparameters.items()))
    for label, key in (("retrained once", "best"),
                       ("its untuned ReLU twin (ablation)", "relu")):
        scores = result.final.get(key)
        if scores:
            table.add_row(label, f"validation {_fmt(scores['val'])}, test {_fmt(scores['test'])}")
    if result.warm_started:
        table.add_row("warm start", "began with the best configurations of "
                                    + ", ".join(result.warm_started))
    table.add_row("time", f"{result.wall_seconds:.1f}s wall, {result.epochs_trained} epochs "
                          f"trained in this run")
    return table


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.4g}"
    return str(value)


def search(
    dataset: Annotated[str | None, typer.Option(help="Built-in dataset (see `actsearch "
                                                     "datasets list`).")] = None,
    data: Annotated[Path | None, typer.Option(help="A CSV or NPZ file instead.")] = None,
    target: Annotated[str | None, typer.Option(help="The CSV column to predict.")] = None,
    data_dir: Annotated[Path | None, typer.Option(help="Where image datasets live.")] = None,
    space: Annotated[str, typer.Option(help="Search space: a name in search_spaces/ or a "
                                            "YAML path.")] = "default",
    trials: Annotated[int, typer.Option(help="Finished (complete or pruned) trials to "
                                             "reach.")] = 20,
    workers: Annotated[int, typer.Option(help="Trials trained at a time.")] = 2,
    epochs: Annotated[int | None, typer.Option(help="Epochs per trial [default: the "
                                                    "space's].")] = None,
    storage: StorageOption = None,
    study: Annotated[str | None, typer.Option(help="Study name [default: "
                                                   "DATASET-SPACE].")] = None,
    address: Annotated[str | None, typer.Option(envvar="RAY_ADDRESS",
                                                help="Ray cluster address [default: a "
                                                     "local Ray].")] = None,
    cpus_per_trial: Annotated[float, typer.Option(help="CPUs per trial.")] = 1.0,
    gpus_per_trial: Annotated[float, typer.Option(help="GPUs per trial; fractions pack "
                                                       "trials on a GPU.")] = 0.0,
    seed: Annotated[int, typer.Option(help="Sampler and training seed.")] = 0,
    compare_relu: Annotated[bool, typer.Option(help="Finish by scoring the best "
                                                    "configuration and its all-ReLU "
                                                    "twin.")] = True,
    confirm: Annotated[bool, typer.Option(help="Then confirm the top 3 over 5 seeds "
                                               "(see `actsearch confirm`).")] = False,
    warm_start: Annotated[bool, typer.Option(help="Start a new study from the best "
                                                  "configurations of the most similar "
                                                  "studied datasets.")] = False,
    artifacts: Annotated[bool, typer.Option(help="Attach a figure of each trial's layers "
                                                 "for the dashboard.")] = True,
    strategy: Annotated[Strategy | None, typer.Option(
        help="joint: sample everything together; staged: ReLU first while shape and "
             "hyperparameters are searched, then activations on the best [default: the "
             "space's].")] = None,
) -> None:
    """Search per-layer activations and hyperparameters (resumes an existing study)."""
    if dataset is None and data is None:
        dataset = "digits"
    if dataset is not None and data is not None:
        raise typer.BadParameter("give --dataset or --data, not both")
    options = SearchOptions(
        dataset=dataset, data_path=data, target=target, data_dir=data_dir, space=space,
        trials=trials, workers=workers, epochs=epochs, storage_url=storage_url(storage),
        study=study, address=address, cpus_per_trial=cpus_per_trial,
        gpus_per_trial=gpus_per_trial, seed=seed, compare_relu=compare_relu, confirm=confirm,
        warm_start=warm_start, artifacts=artifacts, strategy=strategy,
    )
    if console.is_terminal:
        with Live(Text("starting..."), console=console, refresh_per_second=4,
                  transient=True) as live:
            result = service.run_search(options,
                                        on_progress=lambda p: live.update(_progress_view(p)))
    else:
        result = service.run_search(options)
    console.print(_summary(result))
    if confirm:
        console.print(f"confirmed against tuned baselines: see `actsearch recommend "
                      f"{result.dataset}`")
    else:
        console.print(f"one run per configuration and no tuned baseline yet: `actsearch "
                      f"confirm {result.study}` says whether this beats ReLU tuned as hard")


def confirm(
    study: Annotated[str, typer.Argument(help="Study name.")],
    top_k: Annotated[int, typer.Option(help="How many of each side's best trials to "
                                            "retrain.")] = 3,
    seeds: Annotated[int, typer.Option(help="Seeds per configuration.")] = 5,
    workers: Annotated[int, typer.Option(help="Trainings at a time.")] = 2,
    storage: StorageOption = None,
    address: Annotated[str | None, typer.Option(envvar="RAY_ADDRESS",
                                                help="Ray cluster address.")] = None,
    cpus_per_trial: Annotated[float, typer.Option(help="CPUs per training.")] = 1.0,
    gpus_per_trial: Annotated[float, typer.Option(help="GPUs per training.")] = 0.0,
    data: Annotated[Path | None, typer.Option(help="The study's data file, if it has moved "
                                                   "(checked against its fingerprint).")] = None,
    target: Annotated[str | None, typer.Option(help="The CSV column to predict [default: "
                                                    "the study's].")] = None,
    data_dir: Annotated[Path | None, typer.Option(help="Where image datasets live.")] = None,
) -> None:
    """Search the tuned baselines, retrain every side's top trials over seeds, and test the
    per-layer search against tuned ReLU and the best uniform activation."""
    rec = service.confirm(service.ConfirmOptions(
        study=study, storage_url=storage_url(storage), top_k=top_k, seeds=seeds, workers=workers,
        address=address, cpus_per_trial=cpus_per_trial, gpus_per_trial=gpus_per_trial,
        data_path=data, target=target, data_dir=data_dir),
        on_event=lambda line: console.print(f"[dim]{line}[/dim]", highlight=False))
    print_recommendation(rec)
