"""Search spaces: YAML files validated with pydantic, turned into Optuna suggestions.

A space declares the model family, depth and width, the activation candidates (one choice
per hidden layer by default), conditional activation parameters, the hyperparameters, and
the sampler and pruner. Parameter names and choice lists are fixed by the file, so they stay
stable within a study (Optuna cannot change a categorical's choices, optuna#2564).

Parameters of a trial:
- ``depth``, ``width`` (MLP) or ``conv_depth``, ``channels``, ``dense_width`` (CNN);
- ``act_<i>`` for each hidden layer ``i`` that is built (``act`` when shared);
- ``act_<i>_<param>`` only when that layer's choice takes ``<param>``;
- ``lr``, ``weight_decay``, ``batch_size``, ``optimizer``, ``dropout`` when searched.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Annotated, Any, Literal

import optuna
import yaml
from optuna.trial import BaseTrial
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from actsearch import activations
from actsearch.activations import InitMode
from actsearch.errors import ActsearchError, UsageError
from actsearch.search.strategy import Strategy
from actsearch.train.data import Dataset
from actsearch.train.loop import TrainConfig
from actsearch.train.models import CNNConfig, MLPConfig

# The repository's top-level search_spaces/ folder, shipped in the package under this name.
BUILT_IN_SPACES = "actsearch.search_spaces"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FloatRange(_Strict):
    low: float
    high: float
    log: bool = False

    @model_validator(mode="after")
    def _ordered(self) -> FloatRange:
        if not self.low < self.high:
            raise ValueError(f"low ({self.low}) must be below high ({self.high})")
        if self.log and self.low <= 0:
            raise ValueError("a log range needs low > 0")
        return self


class IntRange(_Strict):
    low: int
    high: int
    step: int = 1
    log: bool = False

    @model_validator(mode="after")
    def _ordered(self) -> IntRange:
        if not self.low <= self.high:
            raise ValueError(f"low ({self.low}) must not exceed high ({self.high})")
        return self


class Choice(_Strict):
    choices: list[Any] = Field(min_length=1)


FloatParam = float | FloatRange | Choice
IntParam = int | IntRange | Choice
OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop")


def possible_values(spec: Any) -> list[Any]:
    """The values a parameter spec can give a trial: a range's ends cover all between."""
    if isinstance(spec, Choice):
        return list(spec.choices)
    if isinstance(spec, FloatRange | IntRange):
        return [spec.low, spec.high]
    return [spec]


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def check_values(name: str, spec: Any, kind: type, low: float, *, low_open: bool = False,
                 high: float | None = None, high_open: bool = False) -> None:
    """Every value ``spec`` can take is a ``kind`` within the bounds (else ValueError).

    Checked when a space is loaded, so a bad value stops the search before its study exists
    instead of failing (or silently misbehaving) inside a trial.
    """
    rule = [f"{'>' if low_open else '>='} {_number(low)}"]
    if high is not None:
        rule.append(f"{'<' if high_open else '<='} {_number(high)}")
    noun = "an integer" if kind is int else "a number"
    for value in possible_values(spec):
        is_number = isinstance(value, int | float) and not isinstance(value, bool)
        if not is_number or (kind is int and not float(value).is_integer()):
            raise ValueError(f"{name}: {value!r} is not {noun}")
        too_low = value <= low if low_open else value < low
        too_high = high is not None and (value >= high if high_open else value > high)
        if too_low or too_high:
            raise ValueError(f"{name}: {value!r} is out of range; it must be "
                             f"{' and '.join(rule)}")


def suggest(trial: BaseTrial, name: str, spec: Any) -> Any:
    """Sample ``spec`` under ``name``; a plain value is a constant and is not sampled."""
    if isinstance(spec, Choice):
        return trial.suggest_categorical(name, spec.choices)
    if isinstance(spec, IntRange):
        return trial.suggest_int(name, spec.low, spec.high, step=spec.step, log=spec.log)
    if isinstance(spec, FloatRange):
        return trial.suggest_float(name, spec.low, spec.high, log=spec.log)
    return spec


class ActivationSpace(_Strict):
    """Which activations a hidden layer may take.

    Attributes:
        candidates: Names, aliases or formula strings.
        sample: Add ``n`` composite formulas drawn by the catalogue's sampler with ``seed``.
        per_layer: One choice per hidden layer (default) or one shared by all layers.
        params: Conditional parameters per candidate, e.g. ``leaky_relu: {negative_slope:
            {low: 0.001, high: 0.3, log: true}}``; sampled only where that candidate is chosen.
    """

    candidates: list[str] = Field(default_factory=list)
    sample: dict[Literal["n", "seed"], int] | None = None
    per_layer: bool = True
    params: dict[str, dict[str, FloatParam]] = Field(default_factory=dict)

    @field_validator("candidates")
    @classmethod
    def _known(cls, candidates: list[str]) -> list[str]:
        labels = []
        for i, spec in enumerate(candidates):
            try:
                labels.append(activations.canonical(spec))
            except ActsearchError as exc:
                raise ValueError(f"candidate {i} ({spec!r}): {exc}") from None
        if len(set(labels)) != len(labels):
            raise ValueError("candidates repeat a function (names and aliases are the same)")
        return labels

    @field_validator("params")
    @classmethod
    def _params_known(cls, params: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        resolved = {}
        for name, values in params.items():
            try:
                canonical = activations.canonical(name)
                accepted = activations.info(canonical).params
            except ActsearchError as exc:
                raise ValueError(str(exc)) from None
            unknown = sorted(set(values) - set(accepted))
            if unknown:
                raise ValueError(f"{canonical} has no parameter {', '.join(unknown)}; it "
                                 f"accepts {', '.join(accepted) or 'none'}")
            resolved[canonical] = values
        return resolved

    def choices(self) -> list[str]:
        """The candidate list, sampled composites included: fixed for a given file."""
        extra = []
        if self.sample:
            extra = activations.sample_formulas(self.sample.get("n", 8),
                                                seed=self.sample.get("seed", 0))
        return [*self.candidates, *extra]


class MLPSpace(_Strict):
    family: Literal["mlp"] = "mlp"
    depth: IntParam = IntRange(low=2, high=4)
    width: IntParam = Choice(choices=[32, 64, 128])

    @model_validator(mode="after")
    def _sizes(self) -> MLPSpace:
        check_values("depth", self.depth, int, 1, high=64)
        check_values("width", self.width, int, 1, high=65536)
        return self


class CNNSpace(_Strict):
    family: Literal["cnn"]
    conv_depth: IntParam = IntRange(low=1, high=2)
    channels: IntParam = Choice(choices=[16, 32])
    dense_depth: IntParam = 1
    dense_width: IntParam = Choice(choices=[64, 128])

    @model_validator(mode="after")
    def _sizes(self) -> CNNSpace:
        check_values("conv_depth", self.conv_depth, int, 1, high=16)
        check_values("channels", self.channels, int, 1, high=4096)
        check_values("dense_depth", self.dense_depth, int, 0, high=64)
        check_values("dense_width", self.dense_width, int, 1, high=65536)
        return self


class Hyperparameters(_Strict):
    lr: FloatParam = FloatRange(low=1e-4, high=1e-1, log=True)
    weight_decay: FloatParam = 0.0
    batch_size: IntParam = 64
    optimizer: str | Choice = "adam"
    dropout: FloatParam = 0.0
    epochs: int = Field(default=30, ge=1)

    @model_validator(mode="after")
    def _values(self) -> Hyperparameters:
        check_values("lr", self.lr, float, 0, low_open=True)
        check_values("weight_decay", self.weight_decay, float, 0)
        check_values("batch_size", self.batch_size, int, 1, high=1 << 20)
        check_values("dropout", self.dropout, float, 0, high=1, high_open=True)
        for value in possible_values(self.optimizer):
            if value not in OPTIMIZERS:
                raise ValueError(f"optimizer: {value!r} is not one of {', '.join(OPTIMIZERS)}")
        return self


class SamplerSpec(_Strict):
    name: Literal["tpe", "random"] = "tpe"
    n_startup_trials: int = Field(default=10, ge=0)
    multivariate: bool = True
    group: bool = True
    constant_liar: bool = True


class PrunerSpec(_Strict):
    name: Literal["median", "percentile", "hyperband", "successive_halving", "none"] = "median"
    n_startup_trials: int = Field(default=5, ge=0)
    n_warmup_steps: int = Field(default=5, ge=0)
    percentile: float = Field(default=50.0, gt=0, lt=100)


class StrategySpec(_Strict):
    """How the trial budget is spent (see :mod:`actsearch.search.strategy`).

    Attributes:
        name: ``staged`` (ReLU first while the shape and hyperparameters are searched, then
            the activations on the best shape) or ``joint`` (everything sampled together).
            Staged is the default: on the 35-table corpus it scored +0.007 mean test accuracy
            over joint at equal budget (not significant across tables, Wilcoxon p = 0.49;
            benchmarks/results/corpus.md), and its answer starts from a tuned ReLU network.
        relu_share: The share of trials in the ReLU stage of a staged search.
    """

    name: Strategy = "staged"
    relu_share: float = Field(default=0.5, gt=0, lt=1)


class SearchSpace(_Strict):
    """One search space file.

    ``init`` says how networks start: ``activation`` (the default) initialises each layer for
    the activation that follows it, as the catalogue states (He for rectifiers, LeCun and
    alpha-dropout for SELU, SIREN for sine, ...), so every candidate starts where its authors
    start it; ``torch`` keeps PyTorch's defaults, for comparison. It is recorded with the
    study (in ``space_spec``), so resumed studies and ``confirm`` train as they were searched.
    """

    name: str
    description: str = ""
    init: InitMode = "activation"
    model: Annotated[MLPSpace | CNNSpace, Field(discriminator="family")] = MLPSpace()
    activations: ActivationSpace
    hyperparameters: Hyperparameters = Hyperparameters()
    sampler: SamplerSpec = SamplerSpec()
    pruner: PrunerSpec = PrunerSpec()
    strategy: StrategySpec = StrategySpec()
    # The task metric, then optionally "latency": a cost-aware search (checked against the
    # dataset when a search starts). Empty: the task metric alone.
    objectives: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _has_candidates(self) -> SearchSpace:
        if not self.activations.choices():
            raise ValueError("activations: give at least one candidate (or sample: {n: ...})")
        return self

    def digest(self) -> str:
        """Hash of everything that shapes the study's parameters: a study keeps one space.

        The strategy only decides which values trials take, not which parameters exist, so
        it is left out: a study may be resumed with another strategy. Objectives are checked
        on their own (they are the study's directions). ``init: torch`` is left out too, so a
        study recorded before initialisation was a choice (it trained with PyTorch's
        defaults) keeps its digest.
        """
        exclude = {"description", "strategy", "objectives"}
        if self.init == "torch":
            exclude.add("init")
        body = self.model_dump(exclude=exclude, mode="json")
        body["activation_choices"] = self.activations.choices()
        return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]

    @classmethod
    def from_record(cls, spec: dict[str, Any]) -> SearchSpace:
        """The space a study recorded (its ``space_spec``), as it trained.

        A study recorded before spaces named their initialisation trained with PyTorch's
        defaults: it reads back as ``init: torch``, so resuming or confirming it trains as it
        was searched.
        """
        return cls.model_validate({"init": "torch", **spec})

    # --- Sampling ---------------------------------------------------------------------
    def suggest_config(self, trial: BaseTrial, data: Dataset, *, epochs: int | None = None,
                       seed: int = 0) -> TrainConfig:
        """Sample a trial's network and training configuration."""
        hp = self.hyperparameters
        hidden, acts, act_params = self._suggest_layers(trial)
        dropout = float(suggest(trial, "dropout", hp.dropout))
        model: MLPConfig | CNNConfig
        if isinstance(self.model, CNNSpace):
            if data.image_shape is None:
                raise UsageError(f"search space {self.name!r} builds a CNN but dataset "
                                 f"{data.name!r} is not made of images: use an MLP space")
            n_conv = len(hidden) - int(self._dense_depth(trial))
            c, size, _ = data.image_shape
            model = CNNConfig(in_channels=c, image_size=size, out_features=data.out_features,
                              channels=hidden[:n_conv], dense=hidden[n_conv:],
                              activations=acts, activation_params=act_params, dropout=dropout,
                              init=self.init)
        else:
            model = MLPConfig(in_features=data.n_features, out_features=data.out_features,
                              hidden=hidden, activations=acts, activation_params=act_params,
                              dropout=dropout, init=self.init)
        return TrainConfig(
            model=model,
            optimizer=suggest(trial, "optimizer", hp.optimizer),
            lr=float(suggest(trial, "lr", hp.lr)),
            weight_decay=float(suggest(trial, "weight_decay", hp.weight_decay)),
            batch_size=int(suggest(trial, "batch_size", hp.batch_size)),
            epochs=epochs or hp.epochs,
            seed=seed,
        )

    def _dense_depth(self, trial: BaseTrial) -> int:
        assert isinstance(self.model, CNNSpace)
        return int(suggest(trial, "dense_depth", self.model.dense_depth))

    def _suggest_layers(self, trial: BaseTrial
                        ) -> tuple[tuple[int, ...], tuple[str, ...], tuple[dict[str, Any], ...]]:
        if isinstance(self.model, CNNSpace):
            n_conv = int(suggest(trial, "conv_depth", self.model.conv_depth))
            channels = int(suggest(trial, "channels", self.model.channels))
            n_dense = self._dense_depth(trial)
            dense = int(suggest(trial, "dense_width", self.model.dense_width))
            # Channels double with each conv block, the usual small-CNN shape.
            hidden = tuple(channels * 2**i for i in range(n_conv)) + (dense,) * n_dense
        else:
            depth = int(suggest(trial, "depth", self.model.depth))
            hidden = (int(suggest(trial, "width", self.model.width)),) * depth
        choices = self.activations.choices()
        acts, params = [], []
        shared = None if self.activations.per_layer else trial.suggest_categorical("act", choices)
        for i in range(len(hidden)):
            # Only layers that exist get a parameter: no act_3 for a 2-layer network.
            name = shared or trial.suggest_categorical(f"act_{i}", choices)
            prefix = "act" if shared else f"act_{i}"
            values = {p: suggest(trial, f"{prefix}_{p}", spec)
                      for p, spec in self.activations.params.get(name, {}).items()}
            acts.append(name)
            params.append(values)
        return hidden, tuple(acts), tuple(params)

    def make_sampler(self, seed: int | None) -> optuna.samplers.BaseSampler:
        s = self.sampler
        if s.name == "random":
            return optuna.samplers.RandomSampler(seed=seed)
        # group=True: conditional parameters (act_i, act_i_negative_slope) are modelled
        # within the subspaces where they exist instead of independently.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.samplers.TPESampler(
                seed=seed, n_startup_trials=s.n_startup_trials, multivariate=s.multivariate,
                group=s.group and s.multivariate, constant_liar=s.constant_liar,
            )

    def make_pruner(self) -> optuna.pruners.BasePruner:
        p = self.pruner
        if p.name == "median":
            return optuna.pruners.MedianPruner(n_startup_trials=p.n_startup_trials,
                                               n_warmup_steps=p.n_warmup_steps)
        if p.name == "percentile":
            return optuna.pruners.PercentilePruner(p.percentile,
                                                   n_startup_trials=p.n_startup_trials,
                                                   n_warmup_steps=p.n_warmup_steps)
        if p.name == "hyperband":
            return optuna.pruners.HyperbandPruner(min_resource=max(1, p.n_warmup_steps),
                                                  max_resource=self.hyperparameters.epochs)
        if p.name == "successive_halving":
            return optuna.pruners.SuccessiveHalvingPruner(min_resource=max(1, p.n_warmup_steps))
        return optuna.pruners.NopPruner()


def available_spaces() -> dict[str, Traversable]:
    """Built-in spaces by name (read from the installed package, so a wheel has them)."""
    files = resources.files(BUILT_IN_SPACES).iterdir()
    return {f.name.removesuffix(".yaml"): f for f in sorted(files, key=lambda f: f.name)
            if f.name.endswith(".yaml")}


def load_space(name_or_path: str | Path) -> SearchSpace:
    """Load a shipped space by name or any YAML file by path.

    Raises:
        UsageError: Missing file, YAML syntax error, or invalid content; the message names the
            file, the key path and the problem.
    """
    path: Path | Traversable = Path(name_or_path)
    if Path(name_or_path).suffix not in (".yaml", ".yml"):
        shipped = available_spaces()
        if str(name_or_path) not in shipped:
            raise UsageError(f"unknown search space {str(name_or_path)!r}: use one of "
                             f"{', '.join(shipped)} or a path to a .yaml file")
        path = shipped[str(name_or_path)]
    if not path.is_file():
        raise UsageError(f"search space file {str(path)!r} does not exist: check --space")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise UsageError(f"search space {str(path)!r}: invalid YAML{where}: "
                         f"{getattr(exc, 'problem', exc)}") from None
    if not isinstance(raw, dict):
        raise UsageError(f"search space {str(path)!r}: expected a mapping of keys at the top")
    raw.setdefault("name", Path(path.name).stem)
    try:
        return SearchSpace.model_validate(raw)
    except ValidationError as exc:
        raise UsageError(f"search space {str(path)!r}: {_explain(exc)}") from None


# Union members and validators that pydantic puts in an error's location: not keys of the file.
_TAGS = {"float", "int", "str", "bool", "FloatRange", "IntRange", "Choice", "MLPSpace",
         "CNNSpace", "mlp", "cnn"}


def _explain(exc: ValidationError) -> str:
    """The most useful error as ``key.path: problem``.

    For a value that may take several forms (a number, a range or a choice list), pydantic
    reports one error per form; the one raised by our own checks says what is wrong.
    """
    errors = exc.errors()
    first = next((e for e in errors if e["type"] == "value_error"), errors[0])
    keys = [str(p) for p in first["loc"] if str(p) not in _TAGS and "[" not in str(p)]
    message = first["msg"].removeprefix("Value error, ")
    return f"{'.'.join(keys) or '(top level)'}: {message}"
