"""``python -m actsearch`` runs the CLI."""

from actsearch.cli import main

main()
