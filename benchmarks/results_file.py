"""Where every benchmark writes its results: benchmarks/results/NAME.md and NAME.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"


def write_results(name: str, body: Any, markdown: str) -> None:
    """Write the table (markdown) and the measurements (JSON), and print the table."""
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(body, indent=2))
    (RESULTS / f"{name}.md").write_text(markdown)
    print(markdown)
    print(f"written to {RESULTS / f'{name}.md'}")
