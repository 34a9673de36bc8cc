"""The verdicts as a forest plot: each comparison's difference, its 95% interval and the ROPE.

People read an interval against a band faster than a sentence of numbers. The same picture
is drawn as text (``actsearch recommend``, the study note) and as a PNG (``actsearch
export``). Comparisons stored before the ROPE existed are drawn without a band.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from matplotlib.figure import Figure

from actsearch.recommend.stats import BASELINE_LABELS, Comparison

TEXT_WIDTH = 41  # characters of the plotting strip


def _label(kind: str) -> str:
    return f"vs {BASELINE_LABELS.get(kind, kind.replace('_', ' '))}"


def _span(comparisons: Mapping[str, Comparison]) -> tuple[float, float]:
    """The x range: every interval, the ROPE and zero, with a margin."""
    ends = [0.0]
    for c in comparisons.values():
        ends += [c.ci_low, c.ci_high, -(c.rope or 0.0), c.rope or 0.0]
    low, high = min(ends), max(ends)
    pad = 0.05 * (high - low) or 0.01
    return low - pad, high + pad


def forest_text(comparisons: Mapping[str, Comparison], metric: str,
                width: int = TEXT_WIDTH) -> list[str]:
    """One line per comparison: ``░`` the ROPE, ``│`` zero, ``[──●──]`` the 95% interval
    around the difference (``═`` where it lies in the ROPE); then the axis and a legend.
    Empty without comparisons."""
    if not comparisons:
        return []
    low, high = _span(comparisons)

    def column(x: float) -> int:
        return min(width - 1, max(0, round((x - low) / (high - low) * (width - 1))))

    label_width = max(len(_label(k)) for k in comparisons)
    lines = []
    for kind, c in comparisons.items():
        strip = [" "] * width
        zero = column(0.0)
        half = round((c.rope or 0.0) / (high - low) * (width - 1))  # symmetric about zero
        band = range(max(0, zero - half), min(width, zero + half + 1)) if c.rope else range(0)
        for i in band:
            strip[i] = "░"
        left, right = column(c.ci_low), column(c.ci_high)
        for i in range(left, right + 1):
            strip[i] = "═" if i in band else "─"  # the interval, doubled where in the ROPE
        strip[zero] = "┼" if left <= zero <= right else "│"
        strip[left], strip[right] = "[", "]"
        strip[column(c.difference)] = "●"
        word = c.decision or c.verdict.split(" ")[0]
        lines.append(f"{_label(kind):<{label_width}} {''.join(strip)} {c.difference:+.4f} "
                     f"{word}")
    axis = [" "] * width
    axis[0], axis[column(0.0)], axis[-1] = "┬", "0", "┬"
    lines.append(f"{'':<{label_width}} {''.join(axis)}")
    lines.append(f"{'':<{label_width}} {low:+.3f}{'':^{max(1, width - 12)}}{high:+.3f}")
    rope = next((c.rope for c in comparisons.values() if c.rope), None)
    legend = f"░ the ROPE ±{rope:g} (═ the interval within it), " if rope else ""
    lines.append(f"difference in test {metric}: {legend}[──●──] the 95% interval")
    return lines


def forest_figure(comparisons: Mapping[str, Comparison], metric: str) -> Figure:
    """The same as :func:`forest_text`, drawn with matplotlib (no pyplot: no global state)."""
    figure = Figure(figsize=(6.4, 1.2 + 0.55 * len(comparisons)), layout="constrained")
    ax = figure.add_subplot()
    kinds = list(comparisons)
    rope = next((c.rope for c in comparisons.values() if c.rope), None)
    if rope:
        ax.axvspan(-rope, rope, color="tab:green", alpha=0.15, lw=0, label=f"ROPE ±{rope:g}")
    for row, kind in enumerate(kinds):
        c = comparisons[kind]
        ax.errorbar(c.difference, row, xerr=[[c.difference - c.ci_low],
                                             [c.ci_high - c.difference]],
                    fmt="o", color="black", capsize=4)
        ax.annotate(c.decision or c.verdict, (c.ci_high, row), xytext=(6, 0),
                    textcoords="offset points", va="center", fontsize=8)
    ax.axvline(0.0, color="grey", lw=0.8)
    ax.set_yticks(range(len(kinds)), [_label(k) for k in kinds])
    ax.set_ylim(-0.7, len(kinds) - 0.3)
    ax.invert_yaxis()
    low, high = _span(comparisons)
    ax.set_xlim(low, high + 0.35 * (high - low))  # room for the words
    ax.set_xlabel(f"difference in test {metric} (95% interval)")
    if rope:
        ax.legend(loc="lower right", fontsize=8, frameon=False)
    return figure


def save_forest(comparisons: Mapping[str, Comparison], metric: str, path: Path) -> Path:
    """Write :func:`forest_figure` as a PNG."""
    forest_figure(comparisons, metric).savefig(path, dpi=120)
    return path
