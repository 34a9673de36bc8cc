"""The corpus evaluation: the per-layer search against tuned baselines on many real tables."""

from actsearch.train.keel import corpus_names

__all__ = ["corpus_names"]
