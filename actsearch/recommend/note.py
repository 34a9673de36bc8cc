"""The study note optuna-dashboard shows: the current recommendation, rewritten when a search
or a confirmation ends."""

from __future__ import annotations

import logging

import optuna
from optuna.storages import RDBStorage

from actsearch.recommend.forest import forest_text
from actsearch.recommend.recommendation import Recommendation

log = logging.getLogger(__name__)


def note_markdown(rec: Recommendation) -> str:
    lines = [f"# Recommendation for `{rec.dataset}`", "",
             "| layer | activation |", "|---|---|"]
    lines += [f"| {i} | {a} |" for i, a in enumerate(rec.activations)]
    lines += ["", "Hyperparameters: " + ", ".join(f"`{k}={v}`"
                                                 for k, v in rec.hyperparameters.items()),
              "", f"Validation {rec.metric} in the search: **{rec.value:.4f}** "
                  f"(study `{rec.study}`, trial #{rec.trial}, {rec.n_trials} finished trials).",
              "", f"**Verdict: {rec.verdict}**"]
    for kind, c in rec.comparisons.items():
        lines += ["", f"Per-layer search vs {kind.replace('_', ' ')}: {c.sentence(rec.metric)}."]
    if rec.comparisons:
        lines += ["", "```", *forest_text(rec.comparisons, rec.metric), "```"]
    if rec.confirmed:
        lines += ["", f"Recommended side: {rec.side.replace('_', ' ')} (best mean validation "
                      "score over seeds; among practically equivalent sides the simpler "
                      "wins)."]
    if rec.importance:
        lines += ["", "Importance: " + ", ".join(f"{k} {v:.2f}"
                                                 for k, v in rec.importance.items())
                  + f" ({rec.importance_about or 'fANOVA'}; the dashboard's importance panel "
                    "recomputes with its own evaluator)."]
    if rec.front:
        lines += ["", f"## {rec.metric.capitalize()} against inference cost (the Pareto front)",
                  "", "Trials no other beats on both validation score and latency, fastest "
                      "first (`actsearch recommend DATASET --max-latency-ms X` picks within a "
                      "budget).", "",
                  f"| trial | layers | validation {rec.metric} | test (over seeds) | µs per "
                  "example | parameters |", "|---|---|---:|---:|---:|---:|"]
        for m in rec.front:
            test = f"{m.test_mean:.4f} ± {m.test_std:.4f}" if m.test_mean is not None else "-"
            lines.append(f"| #{m.trial} | {' '.join(m.activations)} | {m.value:.4f} | {test} | "
                         f"{1000 * m.latency_ms:.3g} | {m.parameters} |")
    return "\n".join(lines) + "\n"


def write_study_note(storage: RDBStorage, study_name: str, rec: Recommendation) -> None:
    """Put the recommendation in the study's dashboard note (needs optuna-dashboard)."""
    try:
        import optuna_dashboard
    except ImportError:
        log.debug("optuna-dashboard is not installed: no study note")
        return
    study = optuna.load_study(study_name=study_name, storage=storage)
    optuna_dashboard.save_note(study, note_markdown(rec))
