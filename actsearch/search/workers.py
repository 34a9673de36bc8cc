"""Ray workers that train trials, and the pool the search driver keeps of them.

Workers never touch the study database: they receive configurations, train them one epoch
per call, and return each epoch's results to the driver, which owns the study. A worker
trains up to ``--trials-per-worker`` trials at once as a :class:`~actsearch.train.pack.TrialPack`
(trials of one shape as one batched network). The dataset is put in Ray's object store once,
shared by every worker of a node, and moved to a worker's device once.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import socket
from dataclasses import dataclass, replace
from typing import Any

import ray
import torch
from ray.exceptions import RayActorError

from actsearch.errors import SearchFailedError, UsageError
from actsearch.search import local_ray
from actsearch.settings import get_settings
from actsearch.train.data import Dataset
from actsearch.train.loop import (
    EpochResult,
    Evaluation,
    TrainConfig,
    evaluate,
    make_optimizer,
)
from actsearch.train.pack import TrialPack


@dataclass(frozen=True)
class TrialError:
    """Why a trial could not be set up or train an epoch (sent instead of the exception, which
    might not survive the trip to the driver)."""

    kind: str
    message: str

    @classmethod
    def of(cls, exc: BaseException) -> TrialError:
        lines = str(exc).strip().splitlines() or [""]
        return cls(type(exc).__name__, lines[0])

    def __str__(self) -> str:
        return f"{self.kind}: {self.message}"


EpochResults = dict[int, "EpochResult | TrialError"]


def _on_device(data: Dataset, device: str) -> Dataset:
    """The dataset's tensors moved to ``device`` once, for every trial of the worker."""
    if device == "cpu":
        return data
    moved = {f: getattr(data, f).to(device)
             for f in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test")}
    return dataclasses.replace(data, **moved)


class TrialWorker:
    """Trains up to ``trials_per_worker`` trials at once; a Ray actor (see :class:`WorkerPool`).

    Calls run one after another, in the order the driver sent them: a trial started after
    an epoch was queued joins the epoch after it.
    """

    def __init__(self, data: Dataset, threads: int, use_gpu: bool,
                 trials_per_worker: int = 1) -> None:
        # Torch threads match the CPUs Ray gave this worker, so packed workers don't fight.
        torch.set_num_threads(max(1, threads))
        self.device = "cuda" if use_gpu else "cpu"
        self.data = _on_device(data, self.device)
        # One trial per worker trains exactly as it always has, with torch.optim.
        self.pack = TrialPack(self.data, self.device, stacked=trials_per_worker > 1)
        self.start_errors: EpochResults = {}  # trials that could not be set up
        # The first torch.optim optimiser imports torch._dynamo (about a second): pay it
        # while the pool starts, not in the first trial.
        make_optimizer("adam", iter([torch.nn.Parameter(torch.zeros(1))]), 1e-3, 0.0)

    def node(self) -> dict[str, Any]:
        """Where this worker runs (recorded with each trial)."""
        return {"host": socket.gethostname(), "pid": os.getpid(),
                "node_id": ray.get_runtime_context().get_node_id(), "device": self.device}

    def start(self, key: int, config: TrainConfig) -> None:
        """Set up trial ``key``. The driver does not wait for this call: a set-up error is
        kept and returned by the next :meth:`epoch`, which the driver does wait for."""
        try:
            self.pack.add(key, config)
        except Exception as exc:
            self.start_errors[key] = TrialError.of(exc)

    def drop(self, key: int) -> None:
        """Stop training trial ``key`` (pruned, or ended by the driver)."""
        self.pack.remove(key)

    def epoch(self) -> EpochResults:
        """Train the next epoch of every trial; each trial's result or error by key.

        A trial that errs, diverges or reaches its last epoch leaves the worker.
        """
        results, self.start_errors = self.start_errors, {}
        for key, result in self.pack.train_epoch().items():
            results[key] = TrialError.of(result) if isinstance(result, Exception) else result
        return results

    def evaluate(self, config: TrainConfig) -> Evaluation:
        """Train ``config`` for its whole budget and score it on validation and test.

        Used for confirmations and a search's closing report, never inside a search.
        """
        return evaluate(config, self.data, self.device)


START_ATTEMPTS = 3  # replacements of one worker that die before starting, in a row


@dataclass
class Slot:
    """One worker, and the node it runs on once Ray has placed it."""

    actor: Any
    node: dict[str, Any] | None  # None while the worker waits for room in the cluster
    placing: Any = None  # while it waits: the reference its node() call will fill
    failed_starts: int = 0  # replacements in a row that died before they started

    @property
    def placed(self) -> bool:
        return self.node is not None


class WorkerPool:
    """``size`` trial workers with the requested resources each.

    A replacement worker (for one that died) need not find room at once: when its node was
    lost with it, the cluster may have no free CPUs until a node joins. It waits, unplaced,
    while the other workers go on; :meth:`poll` places it once Ray has.
    """

    def __init__(self, data_ref: Any, size: int, cpus: float, gpus: float,
                 trials_per_worker: int = 1) -> None:
        self.data_ref = data_ref
        self.cpus, self.gpus = cpus, gpus
        self.trials_per_worker = trials_per_worker
        self.remote_cls = ray.remote(TrialWorker).options(
            num_cpus=cpus, num_gpus=gpus, max_restarts=0, max_task_retries=0
        )
        actors = [self._new_actor() for _ in range(size)]
        nodes = ray.get([a.node.remote() for a in actors])
        self.slots = [Slot(actor=a, node=n) for a, n in zip(actors, nodes, strict=True)]

    def _new_actor(self) -> Any:
        return self.remote_cls.remote(self.data_ref, max(1, round(self.cpus)), self.gpus > 0,
                                      self.trials_per_worker)

    def replace(self, slot: Slot) -> Slot:
        """A fresh worker for a slot whose worker died or failed, placed when Ray finds room
        for it (see :meth:`poll`). The old one is killed first: an unreachable actor may
        still hold its CPUs and train."""
        with contextlib.suppress(Exception):
            ray.kill(slot.actor, no_restart=True)
        actor = self._new_actor()
        new = replace(slot, actor=actor, node=None, placing=actor.node.remote())
        self.slots[self.slots.index(slot)] = new
        return new

    @property
    def placing(self) -> list[Any]:
        """The references that fill as waiting workers are placed."""
        return [slot.placing for slot in self.slots if not slot.placed]

    def poll(self, timeout: float = 0.0) -> int:
        """Place the waiting workers Ray has started (waiting up to ``timeout`` seconds for
        one); a replacement that died before it started is replaced again, up to
        ``START_ATTEMPTS`` times in a row. Returns how many workers are placed.

        Raises:
            SearchFailedError: A worker failed to start that many times (it would fail
                every time: a broken device or dataset, not a lost node).
        """
        if self.placing:
            ready, _ = ray.wait(self.placing, num_returns=len(self.placing), timeout=timeout)
            for slot in [s for s in self.slots if s.placing in ready]:
                try:
                    node = ray.get(slot.placing)
                except RayActorError as exc:
                    if slot.failed_starts + 1 >= START_ATTEMPTS:
                        raise SearchFailedError(
                            f"a trial worker failed to start {START_ATTEMPTS} times in a row: "
                            f"{TrialError.of(exc)}") from None
                    new = self.replace(slot)
                    self.slots[self.slots.index(new)] = replace(
                        new, failed_starts=slot.failed_starts + 1)
                    continue
                self.slots[self.slots.index(slot)] = replace(slot, node=node, placing=None,
                                                             failed_starts=0)
        return sum(slot.placed for slot in self.slots)

    def placed_actors(self) -> list[Any]:
        """The workers running now."""
        return [slot.actor for slot in self.slots if slot.placed]

    def shutdown(self) -> None:
        for slot in self.slots:
            ray.kill(slot.actor, no_restart=True)


LOCAL = "local"  # --address local: always start a Ray of the search's own


class RaySession:
    """Joins ``address``, or the local Ray (see :mod:`~actsearch.search.local_ray`: the one
    that is up, else a new one kept for the next searches), or starts a Ray of the search's
    own; stops only a Ray of its own.

    ``keep_seconds`` defaults to ``ACTSEARCH_RAY_KEEP_SECONDS``. With ``address="local"``, or
    with ``keep_seconds=0`` while no local Ray is up, the search starts a Ray of its own and
    stops it at the end.

    ``ray.init`` must run on the main thread (from a helper thread its GCS connection fails),
    so starting is synchronous.
    """

    def __init__(self, address: str | None, cpus_per_trial: float, gpus_per_trial: float,
                 workers: int, keep_seconds: float | None = None) -> None:
        self.address = address
        self.need_cpus = cpus_per_trial * workers
        self.need_gpus = gpus_per_trial * workers
        self.keep_seconds = (get_settings().ray_keep_seconds if keep_seconds is None
                             else keep_seconds)
        self.started_here = False
        self.joined: str | None = None  # the address joined, when not started here
        self.claim: local_ray.Claim | None = None  # the local Ray used, and its lease

    @property
    def description(self) -> str:
        """How this search reached Ray, for its summary."""
        if self.claim is not None and self.claim.started:
            return (f"started a local Ray, kept up {self.keep_seconds:g} s after the last "
                    "search (`ray stop` ends it)")
        if self.claim is not None:
            return f"joined the local Ray at {self.claim.address}"
        if self.joined:
            return f"joined the Ray cluster at {self.joined}"
        return "a Ray of its own, stopped at the end" if self.started_here else ""

    def start(self) -> None:
        """Start or join Ray and check it has the resources the search asks for."""
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                                      "logging_level": logging.ERROR}
            address = self.address if self.address != LOCAL else None
            try:
                if self.address is None:
                    self.claim = local_ray.claim_local_ray(
                        os.cpu_count() or 1, torch.cuda.device_count(), self.keep_seconds)
                if self.claim is not None:
                    address = self.claim.address
                    # "auto": Ray then also finds the local Ray's token, as `ray.init()` does.
                    ray.init(address="auto", **kwargs)
                    self.joined = address
                elif address:
                    # For an address given, the environment must hold the cluster's token.
                    ray.init(address=address, **kwargs)
                    self.joined = address
                else:
                    # Ray cannot keep its servers on loopback (it rewrites 127.0.0.1 to the
                    # node's address and listens on every interface); a new local Ray
                    # requires its token instead (Ray's default unless RAY_AUTH_MODE says
                    # otherwise), so a client without it is refused.
                    gpus = torch.cuda.device_count() if self.need_gpus else 0
                    ray.init(address=LOCAL, num_cpus=os.cpu_count(), num_gpus=gpus, **kwargs)
                    self.started_here = True
            except (ConnectionError, RuntimeError, ValueError) as exc:
                self._release()
                where = f"the Ray cluster at {address!r}" if address else "a local Ray"
                raise UsageError(f"cannot start or reach {where}: {exc}; check --address "
                                 "(or RAY_ADDRESS) and that the cluster is running, or pass "
                                 "--address local for a Ray of the search's own") from None
        total = ray.cluster_resources()  # type: ignore[no-untyped-call]
        if total.get("CPU", 0) < min(self.need_cpus, 1) or total.get("GPU", 0) < self.need_gpus:
            raise UsageError(
                f"the Ray cluster has {total.get('CPU', 0):g} CPUs and {total.get('GPU', 0):g} "
                f"GPUs; this search needs {self.need_cpus:g} CPUs and {self.need_gpus:g} GPUs "
                "at once: lower --workers or the per-trial resources"
            )

    def _release(self) -> None:
        if self.claim is not None:
            self.claim.lease.release()

    def stop(self) -> None:
        """Stop the Ray started here; from a joined one, only disconnect (and give back the
        lease on a local one, so its keeper can stop it once no search uses it)."""
        if ray.is_initialized() and (self.started_here or self.joined):
            ray.shutdown()
        self._release()
