"""Recommending: what to use for a dataset, judged against baselines searched as hard.

- :mod:`~actsearch.recommend.recommendation`: computed from a dataset's studies and
  confirmations;
- :mod:`~actsearch.recommend.confirm`: retrains every side over seeds;
- :mod:`~actsearch.recommend.stats`: compares them;
- :mod:`~actsearch.recommend.similar` and the shipped :mod:`~actsearch.recommend.knowledge`
  base: answers for datasets never searched;
- :mod:`~actsearch.recommend.note`: the study note the dashboard shows.

May import: ``search``, ``train``, ``store``.
"""
