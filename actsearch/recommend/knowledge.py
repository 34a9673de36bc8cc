"""The shipped knowledge base: what the corpus protocol concluded on each of its tables.

``actsearch corpus distill`` writes ``knowledge_base.json`` (inside the package) from the
corpus results: per table its meta-features, the recommended configuration with the search
space it came from, and its verdicts against the tuned baselines. A fresh install then answers
for datasets it has never seen (:mod:`actsearch.recommend.similar`), and ``search
--warm-start`` starts from it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import optuna

from actsearch.errors import UsageError
from actsearch.recommend.recommendation import Recommendation
from actsearch.search.spaces import SearchSpace

KNOWLEDGE_BASE = "knowledge_base.json"
# Where `actsearch corpus distill` writes it in a source checkout (package data of this module).
SHIPPED_KNOWLEDGE_BASE = Path(__file__).with_name(KNOWLEDGE_BASE)


@dataclass(frozen=True)
class KnowledgeEntry:
    """One dataset's conclusion.

    Attributes:
        dataset: The dataset's name (``keel:NAME`` for corpus tables).
        meta: Its meta-features (:func:`actsearch.train.data.meta_features`).
        space_spec: The search space the recommended configuration was sampled from, so its
            parameters rebuild the network on another dataset.
        recommendation: The recommendation, with ``source`` = ``knowledge base``.
    """

    dataset: str
    meta: dict[str, Any]
    space_spec: dict[str, Any]
    recommendation: Recommendation

    def to_dict(self) -> dict[str, Any]:
        return {"dataset": self.dataset, "meta": self.meta, "space_spec": self.space_spec,
                "recommendation": self.recommendation.to_dict()}

    @classmethod
    def from_dict(cls, body: dict[str, Any]) -> KnowledgeEntry:
        rec = Recommendation.model_validate({**body["recommendation"],
                                             "source": "knowledge base"})
        return cls(dataset=body["dataset"], meta=body["meta"], space_spec=body["space_spec"],
                   recommendation=rec)


def load_knowledge(path: Path | None = None) -> tuple[KnowledgeEntry, ...]:
    """The entries of a knowledge-base file: ``path``, else ``ACTSEARCH_KNOWLEDGE_BASE``, else
    the one shipped in the package.

    Raises:
        UsageError: The file is missing or is not a knowledge base.
    """
    from actsearch.settings import get_settings

    path = path or get_settings().knowledge_base
    if path is None:
        return _shipped()
    return _read(path)


@cache
def _read(path: Path) -> tuple[KnowledgeEntry, ...]:
    try:
        return _parse(path.read_text())
    except OSError as exc:
        raise UsageError(f"knowledge base {str(path)!r} cannot be read ({exc.strerror}): check "
                         "ACTSEARCH_KNOWLEDGE_BASE") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise UsageError(f"knowledge base {str(path)!r} is not one ({type(exc).__name__}: "
                         f"{exc}): write it with `actsearch corpus distill`") from None


@cache
def _shipped() -> tuple[KnowledgeEntry, ...]:
    resource = resources.files("actsearch.recommend").joinpath(KNOWLEDGE_BASE)
    if not resource.is_file():  # a build without the corpus results
        return ()
    return _parse(resource.read_text())


def _parse(text: str) -> tuple[KnowledgeEntry, ...]:
    return tuple(KnowledgeEntry.from_dict(e) for e in json.loads(text)["entries"])


def write_knowledge(entries: list[KnowledgeEntry], path: Path, about: dict[str, Any]) -> None:
    body = {"about": about, "entries": [e.to_dict() for e in entries]}
    path.write_text(json.dumps(body, indent=1, sort_keys=True) + "\n")


def params_for_space(params: dict[str, Any], depth: int, space: SearchSpace) -> dict[str, Any]:
    """A configuration's parameters renamed for ``space``'s activation layout.

    A uniform or ReLU-only configuration (``act``, ``act_alpha``) becomes per-layer
    (``act_0``, ``act_0_alpha``, ...) and back (when every layer has the same choice), so
    the best configuration of any side can seed or rebuild in any space.
    """
    acts = {k: v for k, v in params.items() if k == "act" or k.startswith("act_")}
    rest = {k: v for k, v in params.items() if k not in acts}
    if space.activations.per_layer and "act" in acts:
        for key, value in acts.items():
            suffix = key.removeprefix("act")
            rest.update({f"act_{i}{suffix}": value for i in range(depth)})
        return rest
    if not space.activations.per_layer and "act_0" in acts:
        layers = [{k.removeprefix(f"act_{i}"): v for k, v in acts.items()
                   if k == f"act_{i}" or k.startswith(f"act_{i}_")} for i in range(depth)]
        if any(layer != layers[0] for layer in layers):
            return params  # different choices per layer: no uniform equivalent
        rest.update({f"act{k}": v for k, v in layers[0].items()})
        return rest
    return params


def fits(space: SearchSpace, params: dict[str, Any], data: Any) -> bool:
    """Whether Optuna, given ``params``, samples exactly them in ``space`` (same names, every
    value within its range or choices)."""
    import warnings

    probe = optuna.create_study(direction="maximize")
    probe.enqueue_trial(params)
    trial = probe.ask()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # out-of-range enqueued values warn
        try:
            space.suggest_config(trial, data)
        except ValueError:  # a categorical value outside this space's choices
            return False
    return trial.params == params
