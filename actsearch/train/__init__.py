"""Training one network: datasets, models, and the epoch loop with its telemetry.

Knows nothing of studies, databases or Ray: it turns a :class:`~actsearch.train.loop.TrainConfig`
and a :class:`~actsearch.train.data.Dataset` into scores. May import: ``activations``,
``errors``, ``settings``.
"""
