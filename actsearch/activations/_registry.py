"""Registry of named activation factories (after timm's model registry and fsspec's plugins).

The registry maps canonical names to :class:`ActivationInfo` records. It is filled by the
built-in catalogue, by users through :func:`register_activation`, and by installed packages
through the ``actsearch.activations`` entry-point group, which is read lazily on first lookup.
"""

from __future__ import annotations

import difflib
import inspect
import math
import re
import threading
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from types import MappingProxyType
from typing import Any

from torch import nn

from actsearch.activations._init import VARIANCE, Initialisation, as_initialisation
from actsearch.errors import (
    ActivationParameterError,
    RegistrationError,
    UnknownActivationError,
)

ENTRY_POINT_GROUP = "actsearch.activations"

Factory = Callable[..., nn.Module]


@dataclass(frozen=True)
class ActivationInfo:
    """What actsearch knows about one activation function.

    Properties (range, monotonic, smooth, zero-centred) describe the function at its default
    parameters; ``None`` means "not stated" (user registrations may leave them out).

    Attributes:
        name: Canonical name, lower case with underscores.
        factory: Called with keyword parameters, returns a fresh ``nn.Module``.
        formula: Plain-text formula.
        latex: The formula in LaTeX.
        params: Parameter names and their defaults, as accepted by ``factory``.
        learnable: Whether the module holds ``nn.Parameter`` s trained with the network.
        range: ``(low, high)`` of the output; ``±math.inf`` for unbounded ends.
        monotonic: Non-decreasing over the whole real line.
        smooth: Differentiable everywhere.
        zero_centered: ``|E[f(Z)]| <= 0.1`` for ``Z ~ N(0, 1)``: the outputs of zero-mean
            inputs are not biased to one sign (the seeds' complaint about sigmoid).
        family: A coarse grouping (``rectifier``, ``sigmoidal``, ``gated``, ...).
        reference: Where the function comes from.
        description: One or two sentences for people choosing between functions.
        aliases: Other accepted names.
        elementwise: False for functions that mix units (maxout, softmax).
        width_factor: How many pre-activations per output unit the layer before must produce
            (``k`` for maxout, 1 for everything element-wise).
        torch_equivalent: Dotted path of a torch callable equal to this function at its
            defaults, when one exists.
        init: How the layer before it is initialised (and whether its dropout is
            alpha-dropout), with the rule's source; the variance-preserving default where
            the function's authors prescribe none.
        source: ``builtin``, ``user`` or ``entry-point:<dist>``.
    """

    name: str
    factory: Factory
    formula: str = ""
    latex: str = ""
    params: Mapping[str, Any] = field(default_factory=dict)
    learnable: bool = False
    range: tuple[float, float] | None = None
    monotonic: bool | None = None
    smooth: bool | None = None
    zero_centered: bool | None = None
    family: str = "custom"
    reference: str = ""
    description: str = ""
    aliases: tuple[str, ...] = ()
    elementwise: bool = True
    width_factor: int = 1
    torch_equivalent: str | None = None
    init: Initialisation = VARIANCE
    source: str = "builtin"

    def range_text(self) -> str:
        """The output range in interval notation, e.g. ``[0, ∞)``."""
        if self.range is None:
            return "?"
        low, high = self.range
        return f"({_num(low)}, {_num(high)})"

    def _default_module(self) -> nn.Module | None:
        """The function at its defaults, or None where it cannot be built without arguments
        (the catalogue shows a computed gain only where it can)."""
        try:
            return self.factory(**self.params)
        except Exception:  # a plugin's factory may need arguments it does not declare
            return None

    def init_text(self) -> str:
        """How the layer before this function is initialised, in one line."""
        return self.init.describe(self._default_module())

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view (infinite range ends become ``None``)."""
        range_ = None
        if self.range is not None:
            range_ = [None if math.isinf(end) else end for end in self.range]
        return {
            "name": self.name,
            "aliases": list(self.aliases),
            "formula": self.formula,
            "latex": self.latex,
            "params": dict(self.params),
            "learnable": self.learnable,
            "range": range_,
            "range_text": self.range_text(),
            "monotonic": self.monotonic,
            "smooth": self.smooth,
            "zero_centered": self.zero_centered,
            "family": self.family,
            "elementwise": self.elementwise,
            "width_factor": self.width_factor,
            "torch_equivalent": self.torch_equivalent,
            "init": self.init.to_dict(self._default_module()),
            "reference": self.reference,
            "description": self.description,
            "source": self.source,
        }


def _num(value: float) -> str:
    if math.isinf(value):
        return "∞" if value > 0 else "-∞"
    return f"{value:g}"


_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")

_lock = threading.RLock()
_registry: dict[str, ActivationInfo] = {}
_aliases: dict[str, str] = {}
_plugins_loaded = False


def normalize_name(name: str) -> str:
    """Canonical spelling of a user-typed name: ``"Leaky-ReLU"`` -> ``"leaky_relu"``."""
    return re.sub(r"[\s\-]+", "_", name.strip().lower())


def register(info: ActivationInfo, *, overwrite: bool = False) -> ActivationInfo:
    """Add ``info`` to the registry.

    Raises:
        RegistrationError: The name or an alias is malformed or already taken and
            ``overwrite`` is false.
    """
    with _lock:
        for candidate in (info.name, *info.aliases):
            if not _NAME_RE.match(candidate):
                raise RegistrationError(
                    f"activation name {candidate!r} is not valid: use lower case letters, digits "
                    "and underscores, starting with a letter"
                )
            owner = _aliases.get(candidate, candidate if candidate in _registry else None)
            if owner is not None and owner != info.name and not overwrite:
                raise RegistrationError(
                    f"activation name {candidate!r} is already used by {owner!r}; pass "
                    "overwrite=True to replace it"
                )
        if info.name in _registry and not overwrite:
            raise RegistrationError(
                f"activation {info.name!r} is already registered; pass overwrite=True to replace it"
            )
        old = _registry.get(info.name)
        if old is not None:
            for alias in old.aliases:
                _aliases.pop(alias, None)
        _registry[info.name] = info
        for alias in info.aliases:
            _aliases[alias] = info.name
        return info


def unregister(name: str) -> None:
    """Remove an activation and its aliases (used by tests and plugin reloads)."""
    with _lock:
        info = _registry.pop(resolve_name(name))
        for alias in info.aliases:
            _aliases.pop(alias, None)


def register_activation(
    name: str,
    *,
    overwrite: bool = False,
    init: Initialisation | str = VARIANCE,
    **metadata: Any,
) -> Callable[[Factory], Factory]:
    """Decorator that registers an ``nn.Module`` class or a factory function.

    Parameter defaults are read from the factory's signature unless ``params`` is given.
    ``init`` says how the layer before the function is initialised: an
    :class:`~actsearch.activations.Initialisation` or a short name (``"he"``, ``"lecun"``,
    ``"selu"``, ``"glorot"``, ``"siren"``, ``"variance"``, ``"torch"``); without it, the
    variance-preserving default.

    Example:
        >>> @register_activation("my_swish", formula="x * sigmoid(2x)", smooth=True,
        ...                      init="variance")
        ... class MySwish(nn.Module):
        ...     def forward(self, x):
        ...         return x * torch.sigmoid(2 * x)

    Args:
        name: Canonical name.
        overwrite: Replace an existing registration of the same name.
        init: How the layer before it is initialised.
        **metadata: Any other :class:`ActivationInfo` field (``aliases``, ``formula``, ...).

    Raises:
        RegistrationError: An unknown ``init`` name, or a name already taken.
    """
    try:
        rule = as_initialisation(init)
    except ValueError as exc:
        raise RegistrationError(f"activation {name!r}: {exc}") from None

    def decorator(factory: Factory) -> Factory:
        metadata.setdefault("params", signature_defaults(factory))
        metadata["init"] = rule
        metadata.setdefault("source", "user")
        register(ActivationInfo(name=normalize_name(name), factory=factory, **metadata),
                 overwrite=overwrite)
        return factory

    return decorator


def signature_defaults(factory: Callable[..., Any]) -> dict[str, Any]:
    """Keyword parameters of ``factory`` with their defaults."""
    target = factory.__init__ if inspect.isclass(factory) else factory
    try:
        parameters = inspect.signature(target).parameters.values()
    except (TypeError, ValueError):
        return {}
    return {
        p.name: p.default
        for p in parameters
        if p.name != "self" and p.default is not inspect.Parameter.empty
    }


def load_plugins() -> None:
    """Import every ``actsearch.activations`` entry point once.

    An entry point may name a module whose import registers activations with the decorator,
    or a factory, which is then registered under the entry point's name.
    """
    global _plugins_loaded
    with _lock:
        if _plugins_loaded:
            return
        _plugins_loaded = True
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            try:
                loaded = ep.load()
            except Exception as exc:  # a broken plugin must not take the catalogue down with it
                warnings.warn(
                    f"activation plugin {ep.name!r} ({ep.value}) failed to load and is skipped: "
                    f"{exc}; fix or uninstall the package that provides it",
                    RuntimeWarning, stacklevel=2,
                )
                continue
            name = normalize_name(ep.name)
            if callable(loaded) and not inspect.ismodule(loaded) and name not in _registry:
                dist = ep.dist.name if ep.dist is not None else ep.value
                register(ActivationInfo(name=name, factory=loaded,
                                        params=signature_defaults(loaded),
                                        source=f"entry-point:{dist}"))


def reload_plugins() -> None:
    """Forget that plugins were loaded, so the next lookup reads entry points again."""
    global _plugins_loaded
    with _lock:
        _plugins_loaded = False


def resolve_name(name: str) -> str:
    """The canonical name for a name or alias.

    Raises:
        UnknownActivationError: Listing the closest known names.
    """
    load_plugins()
    key = normalize_name(name)
    if key in _registry:
        return key
    if key in _aliases:
        return _aliases[key]
    known = sorted([*_registry, *_aliases])
    close = difflib.get_close_matches(key, known, n=4, cutoff=0.5)
    hint = f"did you mean {', '.join(close)}?" if close else "see `actsearch activations list`"
    raise UnknownActivationError(f"unknown activation {name!r}: {hint}")


def is_known(name: str) -> bool:
    """Whether ``name`` is a registered name or alias."""
    load_plugins()
    key = normalize_name(name)
    return key in _registry or key in _aliases


def info(name: str) -> ActivationInfo:
    """Metadata of a registered activation, by name or alias."""
    return _registry[resolve_name(name)]


def names(family: str | None = None) -> list[str]:
    """Sorted canonical names, optionally of one family."""
    load_plugins()
    return sorted(n for n, i in _registry.items() if family is None or i.family == family)


def registry() -> Mapping[str, ActivationInfo]:
    """A read-only view of the whole registry."""
    load_plugins()
    return MappingProxyType(_registry)


def build(name: str, params: Mapping[str, Any]) -> nn.Module:
    """Instantiate a registered activation with its defaults overridden by ``params``."""
    record = info(name)
    unknown = sorted(set(params) - set(record.params))
    if unknown:
        accepted = ", ".join(record.params) or "none"
        raise ActivationParameterError(
            f"activation {record.name!r} takes no parameter {', '.join(map(repr, unknown))}; "
            f"it accepts: {accepted}"
        )
    try:
        return record.factory(**{**record.params, **params})
    except (TypeError, ValueError) as exc:
        raise ActivationParameterError(
            f"activation {record.name!r} rejected parameters {dict(params)}: {exc}"
        ) from exc
