"""Where every benchmark writes its results: benchmarks/results/NAME.md and NAME.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"


def write_results(name: str, body: Any, markdown: str, directory: Path = RESULTS) -> None:
    """Write the table (markdown) and the measurements (JSON), and print the table.

    ``directory`` is elsewhere for smoke runs (CI), which must not replace measured results.
    """
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{name}.json").write_text(json.dumps(body, indent=2))
    (directory / f"{name}.md").write_text(markdown)
    print(markdown)
    print(f"written to {directory / f'{name}.md'}")
