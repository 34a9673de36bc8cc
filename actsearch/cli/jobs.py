"""``actsearch submit`` / ``actsearch status``: searches as Ray jobs on a remote cluster.

The search driver then runs on the cluster's head node, next to its workers; the study
database must be reachable from there (PostgreSQL, in practice).
"""

from __future__ import annotations

import shlex
import time
from typing import Annotated, Any

import typer

from actsearch.errors import ActsearchError, UsageError

DEFAULT_JOBS_ADDRESS = "http://127.0.0.1:8265"
# Not --address: that is the Ray cluster (GCS) address of `search` and `confirm`.
JobAddressOption = Annotated[str, typer.Option(
    "--job-address", envvar="RAY_JOB_ADDRESS",
    help="The Ray job server (the head's dashboard, port 8265) of the cluster.")]


def _client(address: str) -> Any:
    from ray.job_submission import JobSubmissionClient

    try:
        return JobSubmissionClient(address)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise UsageError(f"cannot reach the Ray job server at {address!r}: {exc}; check "
                         "--job-address (the head's dashboard, port 8265)") from None


def submit(
    ctx: typer.Context,
    search_args: Annotated[list[str] | None, typer.Argument(
        help="Options of `actsearch search`, after `--`.")] = None,
    address: JobAddressOption = DEFAULT_JOBS_ADDRESS,
    storage: Annotated[str | None, typer.Option(
        "--storage", help="Study database as seen from the cluster (PostgreSQL).")] = None,
) -> None:
    """Submit a search to a Ray cluster as a job and print the job id."""
    args = list(search_args or [])
    search_command = ctx.find_root().command.commands["search"]  # type: ignore[attr-defined]
    try:  # bad options fail here, not minutes later on the cluster
        search_command.make_context("search", list(args), resilient_parsing=False)
    except (typer.Exit, typer.TyperException) as exc:
        raise UsageError(f"the search options {shlex.join(args)!r} are not valid: "
                         f"{getattr(exc, 'message', exc)}") from None
    env = {"ACTSEARCH_STORAGE": storage} if storage else {}
    job_id = _client(address).submit_job(
        entrypoint=shlex.join(["actsearch", "search", *args]),
        runtime_env={"env_vars": env}, metadata={"submitted_by": "actsearch"})
    typer.echo(job_id)


def status(
    job_id: Annotated[str, typer.Argument(help="The id `actsearch submit` printed.")],
    address: JobAddressOption = DEFAULT_JOBS_ADDRESS,
    follow: Annotated[bool, typer.Option("--follow", "-f",
                                         help="Stream logs until the job ends.")] = False,
) -> None:
    """Show a submitted search's state (and follow its logs with --follow)."""
    from ray.job_submission import JobStatus

    client = _client(address)
    try:
        state = client.get_job_status(job_id)
    except RuntimeError as exc:
        raise UsageError(f"no job {job_id!r} on {address}: {exc}") from None
    printed = 0
    while follow and not state.is_terminal():
        logs = client.get_job_logs(job_id)
        typer.echo(logs[printed:], nl=False)
        printed = len(logs)
        time.sleep(1.0)
        state = client.get_job_status(job_id)
    if follow:
        typer.echo(client.get_job_logs(job_id)[printed:], nl=False)
    typer.echo(f"job {job_id}: {state.value}")
    if follow and state != JobStatus.SUCCEEDED:
        raise ActsearchError(f"job {job_id} ended {state.value}; see its logs above")
