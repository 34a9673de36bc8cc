"""The verdicts drawn: a forest plot of each difference, its interval and the ROPE."""

from __future__ import annotations

from pathlib import Path

from actsearch.recommend.forest import forest_text, save_forest
from actsearch.recommend.stats import Comparison, compare


def _strip(line: str, label: str) -> str:
    return line[len(label) + 1:]


def test_the_text_plot_puts_each_interval_against_zero_and_the_rope() -> None:
    comparisons = {"tuned_relu": compare([0.80, 0.81, 0.79], [0.78, 0.80, 0.79]),
                   "uniform": compare([0.80, 0.81, 0.79], [0.70, 0.71, 0.69],
                                      baseline="uniform")}
    lines = forest_text(comparisons, "accuracy")
    assert len(lines) == 2 + 3  # a line per comparison, the axis, its ends, the legend
    width = max(len("vs tuned ReLU"), len("vs the best uniform activation"))
    relu, uniform = (line[width + 1:] for line in lines[:2])
    assert lines[0].startswith("vs tuned ReLU") and lines[0].endswith("+0.0100 undecided")
    assert lines[1].endswith("+0.1000 better")
    axis = lines[2][width + 1:]
    zero = axis.index("0")
    # The uniform comparison lies wholly right of zero and of the ROPE band around it.
    band = [i for i, ch in enumerate(uniform) if ch == "░"]
    assert band and min(band) < zero < max(band)
    assert zero - min(band) == max(band) - zero  # ±ROPE, symmetric
    assert max(band) < uniform.index("[") < uniform.index("●") < uniform.index("]")
    # The tuned-ReLU interval straddles zero: it crosses the band (drawn ═) and zero (┼).
    assert relu.index("[") < zero < relu.index("]") and relu[zero] == "┼" and "═" in relu
    assert "the ROPE ±0.01" in lines[-1]


def test_comparisons_stored_before_the_rope_are_drawn_without_a_band() -> None:
    old = Comparison(baseline="tuned_relu", mean=0.8, std=0.01, n=3, baseline_mean=0.79,
                     baseline_std=0.01, baseline_n=3, difference=0.01, ci_low=-0.03,
                     ci_high=0.05, p_value=0.6, alpha=0.05, method="seeds",
                     verdict="no significant difference from tuned ReLU")
    lines = forest_text({"tuned_relu": old}, "accuracy")
    assert "░" not in "".join(lines) and lines[0].endswith("+0.0100 no")
    assert forest_text({}, "accuracy") == []


def test_the_png_is_written(tmp_path: Path) -> None:
    path = save_forest({"tuned_relu": compare([0.8, 0.81, 0.79], [0.78, 0.8, 0.79])},
                       "accuracy", tmp_path / "verdict.png")
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
