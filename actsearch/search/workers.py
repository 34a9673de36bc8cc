"""Ray workers that train trials, and the pool the search driver keeps of them.

Workers never touch the study database: they receive a configuration, train it one epoch
per call, and return each epoch's result to the driver, which owns the study. The dataset is
put in Ray's object store once and shared by every worker of a node.
"""

from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass, replace
from typing import Any

import ray
import torch

from actsearch.errors import UsageError
from actsearch.train.data import Dataset
from actsearch.train.loop import EpochResult, Evaluation, TrainConfig, Trainer, evaluate


class TrialWorker:
    """Trains one trial at a time; a Ray actor (see :class:`WorkerPool`)."""

    def __init__(self, data: Dataset, threads: int, use_gpu: bool) -> None:
        # Torch threads match the CPUs Ray gave this trial, so packed trials don't fight.
        torch.set_num_threads(max(1, threads))
        self.data = data
        self.device = "cuda" if use_gpu else "cpu"
        self.trainer: Trainer | None = None
        self.key: int | None = None
        self.start_error: Exception | None = None  # why trial ``key`` could not start

    def node(self) -> dict[str, Any]:
        """Where this worker runs (recorded with each trial)."""
        return {"host": socket.gethostname(), "pid": os.getpid(),
                "node_id": ray.get_runtime_context().get_node_id(), "device": self.device}

    def start(self, key: int, config: TrainConfig) -> None:
        """Set up trial ``key``. The driver does not wait for this call: a set-up error is
        kept and raised by the trial's first epoch, which the driver does wait for."""
        self.key, self.trainer, self.start_error = key, None, None
        try:
            self.trainer = Trainer(config, self.data, self.device)
        except Exception as exc:
            self.start_error = exc

    def epoch(self, key: int) -> EpochResult | None:
        """Train the next epoch of trial ``key``; None if that trial was already replaced.

        Raises:
            Exception: Whatever stopped the trial from being set up.
        """
        if key != self.key:
            return None
        if self.start_error is not None:
            raise self.start_error
        assert self.trainer is not None
        return self.trainer.train_epoch()

    def evaluate(self, config: TrainConfig) -> Evaluation:
        """Train ``config`` for its whole budget and score it on validation and test.

        Used for confirmations and a search's closing report, never inside a search.
        """
        return evaluate(config, self.data, self.device)


@dataclass
class Slot:
    """One worker and the trial it is running."""

    actor: Any
    node: dict[str, Any]


class WorkerPool:
    """``size`` trial workers with the requested resources each."""

    def __init__(self, data_ref: Any, size: int, cpus: float, gpus: float) -> None:
        self.data_ref = data_ref
        self.cpus, self.gpus = cpus, gpus
        self.remote_cls = ray.remote(TrialWorker).options(
            num_cpus=cpus, num_gpus=gpus, max_restarts=0, max_task_retries=0
        )
        actors = [self._new_actor() for _ in range(size)]
        nodes = ray.get([a.node.remote() for a in actors])
        self.slots = [Slot(actor=a, node=n) for a, n in zip(actors, nodes, strict=True)]

    def _new_actor(self) -> Any:
        return self.remote_cls.remote(self.data_ref, max(1, round(self.cpus)), self.gpus > 0)

    def replace(self, slot: Slot) -> Slot:
        """A fresh worker for a slot whose worker died."""
        actor = self._new_actor()
        new = replace(slot, actor=actor, node=ray.get(actor.node.remote()))
        self.slots[self.slots.index(slot)] = new
        return new

    def shutdown(self) -> None:
        for slot in self.slots:
            ray.kill(slot.actor, no_restart=True)


class RaySession:
    """Connects to ``address`` or starts a local Ray; stops only what it started.

    ``ray.init`` must run on the main thread (from a helper thread its GCS connection fails),
    so starting is synchronous.
    """

    def __init__(self, address: str | None, cpus_per_trial: float, gpus_per_trial: float,
                 workers: int) -> None:
        self.address = address
        self.need_cpus = cpus_per_trial * workers
        self.need_gpus = gpus_per_trial * workers
        self.started_here = False

    def start(self) -> None:
        """Start or join Ray and check it has the resources the search asks for."""
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                                      "logging_level": logging.ERROR}
            try:
                if self.address:
                    ray.init(address=self.address, **kwargs)
                else:
                    # Ray cannot keep its servers on loopback (it rewrites 127.0.0.1 to the
                    # node's address and listens on every interface); a new local Ray
                    # requires its token instead (Ray's default unless RAY_AUTH_MODE says
                    # otherwise), so a client without it is refused.
                    gpus = torch.cuda.device_count() if self.need_gpus else 0
                    ray.init(address="local", num_cpus=os.cpu_count(), num_gpus=gpus, **kwargs)
                    self.started_here = True
            except (ConnectionError, RuntimeError, ValueError) as exc:
                where = f"the Ray cluster at {self.address!r}" if self.address else "a local Ray"
                raise UsageError(f"cannot start or reach {where}: {exc}; check --address "
                                 "(or RAY_ADDRESS) and that the cluster is running") from None
        total = ray.cluster_resources()  # type: ignore[no-untyped-call]
        if total.get("CPU", 0) < min(self.need_cpus, 1) or total.get("GPU", 0) < self.need_gpus:
            raise UsageError(
                f"the Ray cluster has {total.get('CPU', 0):g} CPUs and {total.get('GPU', 0):g} "
                f"GPUs; this search needs {self.need_cpus:g} CPUs and {self.need_gpus:g} GPUs "
                "at once: lower --workers or the per-trial resources"
            )

    def stop(self) -> None:
        if self.started_here and ray.is_initialized():
            ray.shutdown()
