"""Training networks: datasets, models, the epoch loop with its telemetry, packs of trials
trained as one batched network (:mod:`~actsearch.train.pack`), and what a trained network
costs to run (:mod:`~actsearch.train.cost`).

Knows nothing of studies, databases or Ray: it turns a :class:`~actsearch.train.loop.TrainConfig`
and a :class:`~actsearch.train.data.Dataset` into scores. May import: ``activations``,
``errors``, ``settings``.
"""
