"""The ``actsearch`` command line: a thin layer over the library."""

from actsearch.cli.app import app, main

__all__ = ["app", "main"]
