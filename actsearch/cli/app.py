"""Root Typer app: global options, command groups, and the one place errors become exit codes."""

from __future__ import annotations

import logging
import sys
import traceback
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from actsearch import __version__
from actsearch.cli import activations, corpus, studies
from actsearch.cli.dashboard import dashboard
from actsearch.cli.export import export
from actsearch.cli.jobs import status, submit
from actsearch.cli.options import example
from actsearch.cli.recommend import RECOMMEND_EXAMPLES, datasets_app, recommend
from actsearch.cli.search import CONFIRM_EXAMPLES, SEARCH_EXAMPLES, confirm, search
from actsearch.cli.serve import serve
from actsearch.errors import ActsearchError


class _ErrorReportingGroup(TyperGroup):
    """Turns exceptions from any subcommand into one stderr line and an exit code.

    ``UsageError`` -> 2, any other error -> 1. The traceback is shown only with ``--verbose``.
    """

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, typer.TyperException):
            raise  # Typer's own exits and usage errors keep their codes and messages
        except ActsearchError as exc:
            _report(ctx, str(exc))
            raise typer.Exit(exc.exit_code) from None
        except Exception as exc:  # an unexpected failure is still one line, not a traceback
            _report(ctx, f"unexpected failure: {type(exc).__name__}: {exc}"
                         + ("" if _verbose(ctx) else " (run with --verbose for the traceback)"))
            raise typer.Exit(1) from None


def _verbose(ctx: Any) -> bool:
    obj = ctx.find_root().obj
    return bool(isinstance(obj, dict) and obj.get("verbose"))


def _report(ctx: Any, message: str) -> None:
    if _verbose(ctx):
        typer.echo(traceback.format_exc(), err=True)
    # Plain echo, not rich: a long message must stay one line whatever the terminal width.
    typer.echo(f"error: {message}", err=True)


app = typer.Typer(
    cls=_ErrorReportingGroup,
    name="actsearch",
    help="Find the activation function for each hidden layer, and the hyperparameters with it.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    # Plain help (Click's): it wraps cleanly at 80 columns and never reads a bracket as markup.
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.command(epilog=SEARCH_EXAMPLES)(search)
app.command(epilog=RECOMMEND_EXAMPLES)(recommend)
app.command(epilog=CONFIRM_EXAMPLES)(confirm)
app.command(epilog=example("actsearch serve --storage postgresql+psycopg://user@db/actsearch"))(
    serve)
app.command(epilog=example("actsearch dashboard --port 8080"))(dashboard)
app.command(epilog=example("actsearch export wine -o wine-model"))(export)
app.command(epilog=example("actsearch submit --job-address http://head:8265 \\",
                            "  --storage postgresql+psycopg://user@db/actsearch \\",
                            "  -- --dataset digits --trials 50 --workers 8"))(submit)
app.command(epilog=example("actsearch status raysubmit_XyZ --follow"))(status)
app.add_typer(activations.app, name="activations")
app.add_typer(studies.app, name="studies")
app.add_typer(datasets_app, name="datasets")
app.add_typer(corpus.app, name="corpus")


class _Stderr(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to the current ``sys.stderr`` (tests and Click swap it between commands)."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _: Any) -> None:
        pass


class _OneLine(logging.Formatter):
    """A warning as one line, like an error (``--verbose`` shows the logger and traceback)."""

    def format(self, record: logging.LogRecord) -> str:
        return f"{record.levelname.lower()}: {record.getMessage()}".splitlines()[0]


def _setup_logging(verbose: bool) -> None:
    logger = logging.getLogger("actsearch")
    logger.handlers = [_Stderr()]
    logger.handlers[0].setFormatter(
        logging.Formatter("%(levelname)s %(name)s: %(message)s") if verbose else _OneLine())
    logger.setLevel(logging.INFO if verbose else logging.WARNING)
    logger.propagate = False
    # A lost database connection makes SQLAlchemy's pool log a traceback per connection it
    # cannot reset; the search already says once that the database is unreachable.
    logging.getLogger("sqlalchemy.pool").setLevel(logging.DEBUG if verbose else logging.CRITICAL)


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"actsearch {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Show tracebacks and debug output.")
    ] = False,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_show_version, is_eager=True,
                     help="Print the version and exit."),
    ] = False,
) -> None:
    """actsearch: per-layer activation function search."""
    ctx.obj = {"verbose": verbose}
    _setup_logging(verbose)


def main() -> None:
    """Console-script entry point."""
    app()
