"""Searching: search spaces, the driver that runs one Optuna study on Ray workers, and what it
records (trials, figures, metrics).

The driver (:mod:`~actsearch.search.driver`) schedules trials on workers
(:mod:`~actsearch.search.workers`), on a cluster or on the local Ray that
:mod:`~actsearch.search.local_ray` keeps between searches; a cost-aware search prunes by the
rule of :mod:`~actsearch.search.pareto`. Its study session (:mod:`~actsearch.search.session`)
owns the study's rows (orphans, retries, heartbeats, the trial budget); the recorder writes
ended trials; the report (:mod:`~actsearch.search.report`) scores the result. A search knows
no recommendation: what happens when its best trial changes, and where a warm start comes
from, are hooks the service passes in. May import: ``train``, ``store``, ``activations``.
"""
