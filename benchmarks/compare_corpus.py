"""Two corpus runs side by side: what a change did to each side's confirmed test scores.

Reads the ``corpus.json`` of two ``actsearch corpus run`` outputs (before and after a change,
same tables and budget) and writes, per table, each side's test mean over seeds (per-layer
search, tuned ReLU, best uniform), the difference after - before, and the recommended
activations. The inputs are copied beside the table (``NAME/before.json``, ``after.json``),
so the figures can be checked.

Usage:
    python benchmarks/compare_corpus.py BEFORE/corpus.json AFTER/corpus.json --name NAME \\
        --title "..." [--command "..."]
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from pathlib import Path
from statistics import mean
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from results_file import RESULTS, write_results

SIDES = (("search", "per-layer"), ("tuned_relu", "tuned ReLU"), ("uniform", "uniform"))


def _tables(path: Path) -> dict[str, dict[str, Any]]:
    return {t["name"]: t for t in json.loads(path.read_text())["tables"]}


def compare(before: dict[str, dict[str, Any]], after: dict[str, dict[str, Any]]
            ) -> list[dict[str, Any]]:
    rows = []
    for name in sorted(set(before) & set(after)):
        row: dict[str, Any] = {"table": name}
        for side, _ in SIDES:
            b = before[name]["sides"].get(side, {}).get("test_mean")
            a = after[name]["sides"].get(side, {}).get("test_mean")
            row[side] = {"before": b, "after": a,
                         "delta": None if a is None or b is None else a - b}
        for label, table in (("before", before[name]), ("after", after[name])):
            row[f"recommended_{label}"] = f"{table['side']}: {', '.join(table['activations'])}"
            row[f"verdict_{label}"] = table["verdicts"].get("tuned_relu", "")
        rows.append(row)
    return rows


def markdown(rows: list[dict[str, Any]], title: str, command: str) -> str:
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    out = [f"# {title}", "", f"Written {now}. {command}", "",
           "Test score, mean over seeds of each side's confirmed best: before / after (Δ).", "",
           "| table | " + " | ".join(label for _, label in SIDES)
           + " | recommended before | recommended after |",
           "|---|" + "---|" * (len(SIDES) + 2)]
    for row in rows:
        cells = []
        for side, _ in SIDES:
            c = row[side]
            cells.append("-" if c["delta"] is None else
                         f"{c['before']:.3f} / {c['after']:.3f} ({c['delta']:+.3f})")
        out.append(f"| {row['table']} | " + " | ".join(cells)
                   + f" | {row['recommended_before']} | {row['recommended_after']} |")
    means = []
    for side, _ in SIDES:
        deltas = [r[side]["delta"] for r in rows if r[side]["delta"] is not None]
        means.append(f"{mean(deltas):+.4f}" if deltas else "-")
    out.append("| **mean Δ** | " + " | ".join(means) + " | | |")
    out += ["", "Verdict of the per-layer search against tuned ReLU, before → after:", ""]
    out += [f"- {r['table']}: {r['verdict_before']} → {r['verdict_after']}" for r in rows]
    return "\n".join(out) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("--name", required=True)
    parser.add_argument("--title", required=True)
    parser.add_argument("--command", default="")
    parser.add_argument("--results-dir", type=Path, default=RESULTS)
    args = parser.parse_args()
    rows = compare(_tables(args.before), _tables(args.after))
    copies = args.results_dir / args.name
    copies.mkdir(parents=True, exist_ok=True)
    (copies / "before.json").write_text(args.before.read_text())
    (copies / "after.json").write_text(args.after.read_text())
    write_results(args.name, rows, markdown(rows, args.title, args.command), args.results_dir)


if __name__ == "__main__":
    main()
