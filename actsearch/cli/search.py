"""``actsearch search`` and ``actsearch confirm``: run, resume and confirm a search.

The library is imported inside the commands, so ``--help`` stays fast.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console, Group
from rich.live import Live
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from actsearch.cli.options import StorageOption, StrategyChoice, storage_url

if TYPE_CHECKING:
    from actsearch.service import Progress as SearchProgress
    from actsearch.service import SearchResult, TrialOutcome

console = Console()

# Click keeps a paragraph that starts with \b as written (no rewrapping).
SEARCH_EXAMPLES = """\b
Examples:
  actsearch search --dataset wine --trials 40
  actsearch search --data my.csv --target label --warm-start --confirm
  actsearch search --space cnn --dataset mnist --gpus-per-trial 0.25
"""
CONFIRM_EXAMPLES = """\b
Example:
  actsearch confirm wine-default --seeds 5 --top-k 3
"""


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.4g}"
    return str(value)


def outcome_line(ended: TrialOutcome, done: int, target: int) -> str:
    """One plain line per ended trial: what a job log or CI shows instead of a live display."""
    value = "-" if ended.value is None else f"{ended.value:.4f}"
    line = (f"trial {ended.number} {ended.state}: {value} after {ended.epochs} epochs, "
            f"layers {' '.join(ended.activations)} ({done}/{target} finished)")
    return line + (f": {ended.reason}" if ended.reason and ended.state == "failed" else "")


class SearchDisplay:
    """Live progress on a terminal: the phase, a bar with ETA and best so far, and a table of
    the running trials. Elsewhere (a job log, CI, a pipe): one plain line per phase and per
    ended trial."""

    def __init__(self, live_display: bool) -> None:
        self.live_display = live_display
        self.phase = ""
        self.bar = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                            MofNCompleteColumn(), TimeElapsedColumn(), TextColumn("left"),
                            TimeRemainingColumn(), console=console)
        self.task = self.bar.add_task("loading data", total=None)
        self.live = Live(self.bar, console=console, refresh_per_second=4, transient=True)

    def __enter__(self) -> SearchDisplay:
        if self.live_display:
            self.live.__enter__()
        else:
            console.print("loading data", highlight=False)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live_display:
            self.live.__exit__(None, None, None)

    def update(self, p: SearchProgress) -> None:
        done = p.complete + p.pruned
        if not self.live_display:
            if p.phase != self.phase:
                console.print(f"{p.phase}: study {p.study}", markup=False, highlight=False)
            for ended in p.ended:
                console.print(outcome_line(ended, done, p.target), markup=False,
                              highlight=False, soft_wrap=True)
            self.phase = p.phase
            return
        best = "" if p.best_value is None else f"  best {p.best_value:.4f}"
        self.bar.update(self.task, description=f"{p.phase}{best}", completed=done,
                        total=p.target)
        self.live.update(Group(self.bar, _running_table(p)) if p.running_trials else self.bar)


def _running_table(p: SearchProgress) -> Table:
    table = Table(box=None, show_header=True, header_style="dim", pad_edge=False)
    for column in ("trial", "layers", "epoch", "score"):
        table.add_column(column, overflow="ellipsis", no_wrap=True)
    for t in p.running_trials:
        table.add_row(f"#{t.number}", " ".join(t.activations), f"{t.epoch}/{t.epochs}",
                      "-" if t.value is None else f"{t.value:.4f}")
    return table


def _summary(result: SearchResult) -> Table:
    table = Table(title=f"study {result.study} ({result.dataset}, {result.metric})",
                  show_header=False, title_justify="left")
    table.add_column("field", style="bold", no_wrap=True)
    table.add_column("value", overflow="fold")
    table.add_row("trials", f"{result.complete} complete, {result.pruned} pruned, "
                            f"{result.failed} failed")
    if result.best_value is None:
        table.add_row("best", "no completed trial")
        return table
    table.add_row("best trial", f"#{result.best_number}: validation {result.best_value:.4f} "
                                "(its one run in the search)")
    for i, act in enumerate(result.activations):
        table.add_row(f"layer {i}", act)
    table.add_row("hyperparameters", ", ".join(f"{k}={_fmt(v)}"
                                               for k, v in result.hyperparameters.items()))
    best, relu = result.final.get("best"), result.final.get("relu")
    if best:
        table.add_row("retrained", f"validation {_fmt(best['val'])}, test {_fmt(best['test'])} "
                                   "(the same configuration trained again, then tested)")
    if relu:
        table.add_row("ReLU twin", f"validation {_fmt(relu['val'])}, test {_fmt(relu['test'])} "
                                   "(the same network with ReLU in every layer, untuned)")
    if best and relu and not best["test"] > relu["test"]:
        table.add_row("remark", "the pick does not beat its ReLU twin on the test split in "
                                "this single run: ReLU may be as good here")
    if result.warm_started:
        table.add_row("warm start", "began with the best configurations of "
                                    + ", ".join(result.warm_started))
    table.add_row("time", f"{result.wall_seconds:.1f}s wall, {result.epochs_trained} epochs "
                          f"trained in this run")
    if result.front:
        (_, low, fast), (_, high, slow) = result.front[0], result.front[-1]
        table.add_row("front", f"{len(result.front)} trials, from {low:.4f} at "
                               f"{1000 * fast:.3g} µs to {high:.4f} at {1000 * slow:.3g} µs "
                               f"per example (`actsearch recommend {result.dataset}` lists "
                               "them)")
    if result.ray:
        table.add_row("Ray", result.ray)
    return table


def search(
    dataset: Annotated[str | None, typer.Option(
        help="Built-in dataset (see `actsearch datasets list`).",
        show_default="digits, unless --data")] = None,
    data: Annotated[Path | None, typer.Option(help="A CSV or NPZ file instead.")] = None,
    target: Annotated[str | None, typer.Option(
        help="The CSV column to predict.", show_default="the last column")] = None,
    data_dir: Annotated[Path | None, typer.Option(
        help="Where image datasets live.", show_default="ACTSEARCH_DATA_DIR")] = None,
    space: Annotated[str, typer.Option(
        help="Search space: a built-in name (default, seeds, cnn, symbolic) or a YAML "
             "path.")] = "default",
    trials: Annotated[int, typer.Option(
        help="Finished (complete or pruned) trials to reach.")] = 20,
    workers: Annotated[int, typer.Option(
        help="Ray workers; each trains --trials-per-worker trials at a time.")] = 2,
    epochs: Annotated[int | None, typer.Option(
        help="Epochs per trial.", show_default="the space's")] = None,
    storage: StorageOption = None,
    study: Annotated[str | None, typer.Option(
        help="Study name.", show_default="DATASET-SPACE")] = None,
    address: Annotated[str | None, typer.Option(
        envvar="RAY_ADDRESS", help="Ray cluster (GCS) address, host:port; 'local': always a "
                                   "Ray of the search's own.",
        show_default="the local Ray that is up, else a new one kept for the next searches "
                     "(ACTSEARCH_RAY_KEEP_SECONDS)")] = None,
    cpus_per_trial: Annotated[float, typer.Option(help="CPUs per worker.")] = 1.0,
    gpus_per_trial: Annotated[float, typer.Option(
        help="GPUs per worker; fractions pack workers on a GPU.")] = 0.0,
    trials_per_worker: Annotated[int, typer.Option(
        help="Trials each worker trains at once; those of one shape train as one batched "
             "network (small networks train several times faster per trial, but the sampler "
             "decides more trials before it sees their results).")] = 1,
    amp: Annotated[bool, typer.Option(
        help="Mixed precision on GPUs (float16 with loss scaling; bfloat16 for trials trained "
             "together).")] = True,
    seed: Annotated[int, typer.Option(help="Sampler and training seed.")] = 0,
    compare_relu: Annotated[bool, typer.Option(
        help="Finish by retraining the best configuration and its all-ReLU twin.")] = True,
    confirm: Annotated[bool, typer.Option(
        help="Then confirm the top 3 over 5 seeds (see `actsearch confirm`).")] = False,
    warm_start: Annotated[bool, typer.Option(
        help="Start a new study from the best configurations of the most similar studied "
             "datasets.")] = False,
    artifacts: Annotated[bool, typer.Option(
        help="Attach a figure of each trial's layers for the dashboard.")] = True,
    strategy: Annotated[StrategyChoice | None, typer.Option(
        help="joint: sample everything together; staged: ReLU first while shape and "
             "hyperparameters are searched, then activations on the best.",
        show_default="the space's")] = None,
    objectives: Annotated[str | None, typer.Option(
        help="The task metric, or the metric and latency (e.g. accuracy,latency): a "
             "multi-objective search of the most accurate networks at each inference cost.",
        show_default="the space's, else the task metric")] = None,
    rope: Annotated[float | None, typer.Option(
        help="Region of practical equivalence of the verdicts: differences within ±ROPE of "
             "the metric count as practically equivalent.",
        show_default="0.01: one point of accuracy or of R²")] = None,
) -> None:
    """Search per-layer activations and hyperparameters (resumes an existing study)."""
    from actsearch import service

    if dataset is None and data is None:
        dataset = "digits"
    if dataset is not None and data is not None:
        raise typer.BadParameter("give --dataset or --data, not both")
    options = service.SearchOptions(
        dataset=dataset, data_path=data, target=target, data_dir=data_dir, space=space,
        trials=trials, workers=workers, epochs=epochs, storage_url=storage_url(storage),
        study=study, address=address, cpus_per_trial=cpus_per_trial,
        gpus_per_trial=gpus_per_trial, trials_per_worker=trials_per_worker, amp=amp, seed=seed,
        compare_relu=compare_relu, confirm=confirm,
        warm_start=warm_start, artifacts=artifacts, strategy=strategy,
        objectives=(tuple(o.strip() for o in objectives.split(","))
                    if objectives is not None else None), rope=rope,
    )
    with SearchDisplay(console.is_terminal) as display:
        result = service.run_search(options, on_progress=display.update, on_event=_event)
    console.print(_summary(result))
    if confirm:
        console.print(f"confirmed against tuned baselines: see `actsearch recommend "
                      f"{result.dataset}`", highlight=False)
    else:
        console.print(f"one run per configuration and no tuned baseline yet: `actsearch "
                      f"confirm {result.study}` says whether this beats ReLU tuned as hard",
                      highlight=False)


def _event(line: str) -> None:
    console.print(f"[dim]{line}[/dim]", highlight=False)


def confirm(
    study: Annotated[str, typer.Argument(help="The study to confirm (see `actsearch studies "
                                              "list`).")],
    top_k: Annotated[int, typer.Option(
        help="How many of each side's best trials to retrain.")] = 3,
    seeds: Annotated[int, typer.Option(help="Seeds per configuration.")] = 5,
    workers: Annotated[int, typer.Option(help="Trainings at a time.")] = 2,
    storage: StorageOption = None,
    address: Annotated[str | None, typer.Option(
        envvar="RAY_ADDRESS", help="Ray cluster (GCS) address, host:port.",
        show_default="a local Ray")] = None,
    cpus_per_trial: Annotated[float, typer.Option(help="CPUs per training.")] = 1.0,
    gpus_per_trial: Annotated[float, typer.Option(help="GPUs per training.")] = 0.0,
    data: Annotated[Path | None, typer.Option(
        help="The study's data file, if it has moved (checked against its "
             "fingerprint).")] = None,
    target: Annotated[str | None, typer.Option(
        help="The CSV column to predict.", show_default="the study's")] = None,
    data_dir: Annotated[Path | None, typer.Option(
        help="Where image datasets live.", show_default="ACTSEARCH_DATA_DIR")] = None,
) -> None:
    """Search the tuned baselines, retrain every side's top trials over seeds, and test the
    per-layer search against tuned ReLU and the best uniform activation."""
    from actsearch import service
    from actsearch.cli.recommend import print_recommendation

    rec = service.confirm(service.ConfirmOptions(
        study=study, storage_url=storage_url(storage), top_k=top_k, seeds=seeds,
        workers=workers, address=address, cpus_per_trial=cpus_per_trial,
        gpus_per_trial=gpus_per_trial, data_path=data, target=target, data_dir=data_dir),
        on_event=_event)
    print_recommendation(rec)
