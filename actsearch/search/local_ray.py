"""The local Ray a search uses when it is given no cluster address, kept up between searches.

Starting a Ray costs a search about 3 s on a small machine and stopping it about 1.4 s (Ray
gives its raylet a second to exit gracefully): as much as the whole search of a small task.
So a search given no address (see :class:`~actsearch.search.workers.RaySession`):

1. joins the local Ray that is already up: one ``ray start --head`` left running, or one kept
   by an earlier search, found as ``ray.init()`` finds it (:func:`running_local_ray`);
2. else starts one with ``ray start --head`` and keeps it (:func:`start_kept_ray`): a small
   keeper process (:mod:`actsearch.search.ray_keeper`) stops it once no search has used it
   for ``ACTSEARCH_RAY_KEEP_SECONDS`` (600 by default), so the next search skips both costs;
3. with ``ACTSEARCH_RAY_KEEP_SECONDS=0``, or ``--address local``, starts a Ray of its own and
   stops it when it ends, as a plain ``ray.init()`` does.

A search using a local Ray holds a :class:`Lease` on it: a file named by its process id in the
Ray's lease folder, which the keeper reads. A lease whose process is gone counts for nothing,
so a killed search never keeps a Ray up for ever.

Only the standard library and psutil are imported here: the keeper runs this module alone.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil

KEEPER_POLL_SECONDS = 2.0
START_TIMEOUT_SECONDS = 180.0


def ray_root() -> Path:
    """Ray's temporary directory, chosen as Ray chooses it ($RAY_TMPDIR, else $TMPDIR, else
    /tmp, then ``ray/``)."""
    return Path(os.environ.get("RAY_TMPDIR") or os.environ.get("TMPDIR") or "/tmp") / "ray"


def reachable(address: str, timeout: float = 0.5) -> bool:
    """Whether a Ray GCS at ``host:port`` accepts a connection."""
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            return True
    except (OSError, ValueError):
        return False


def running_local_ray() -> str | None:
    """The address of a Ray started on this machine with ``ray start --head`` and still up.

    ``ray start`` records its address in ``ray_current_cluster`` under :func:`ray_root`. The
    file outlives a Ray that was killed, so the address must also accept a connection. A Ray
    that ``ray.init()`` started for one process records nothing there.
    """
    try:
        address = (ray_root() / "ray_current_cluster").read_text().strip()
    except OSError:
        return None
    return address if reachable(address) else None


def lease_dir(address: str) -> Path:
    return ray_root() / f"actsearch-leases-{address.replace(':', '_')}"


class Lease:
    """A search's claim on a local Ray: the keeper does not stop a Ray while one is held."""

    def __init__(self, address: str) -> None:
        self.path = lease_dir(address) / str(os.getpid())
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.touch()

    def release(self) -> None:
        self.path.unlink(missing_ok=True)


def held_leases(address: str) -> list[int]:
    """Process ids of the live searches holding a lease on the Ray at ``address``."""
    held = []
    for path in lease_dir(address).glob("*"):
        if path.name.isdigit() and psutil.pid_exists(int(path.name)):
            held.append(int(path.name))
        else:  # its search is gone (killed): the lease counts for nothing
            path.unlink(missing_ok=True)
    return held


@contextlib.contextmanager
def _ray_lock() -> Iterator[None]:
    """Serialises finding, starting and stopping a local Ray: two searches starting at once
    make one Ray, and the keeper never stops a Ray between a search finding it and taking
    its lease."""
    ray_root().mkdir(parents=True, exist_ok=True)
    with open(ray_root() / "actsearch-ray.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@dataclass(frozen=True)
class Claim:
    """A local Ray a search uses: its address, the search's lease on it, and whether this
    search started it (and left a keeper to stop it)."""

    address: str
    lease: Lease
    started: bool


def claim_local_ray(cpus: int, gpus: int, keep_seconds: float) -> Claim | None:
    """The local Ray that is up, else a new one kept ``keep_seconds`` after its last lease;
    None when none is up and none is to be kept (the search starts a Ray of its own).

    Raises:
        RuntimeError: ``ray start`` failed (its last line of output says why), timed out, or
            Ray could not write an authentication token.
    """
    with _ray_lock():
        address = running_local_ray()
        if address is not None:
            return Claim(address, Lease(address), started=False)
        if keep_seconds <= 0:
            return None
        try:
            address = _start_kept_ray(cpus, gpus, keep_seconds)
        except subprocess.SubprocessError as exc:
            raise RuntimeError(f"starting a local Ray failed: {exc}") from exc
        return Claim(address, Lease(address), started=True)


def _ray_cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "ray.scripts.scripts", *args]


def _token_auth_env() -> dict[str, str]:
    """The environment for ``ray start``: token authentication, as ``ray.init()`` gives a new
    local Ray. Ray cannot keep its servers on loopback, and ``ray start`` turns tokens on only
    where one already exists, so a first start on a machine would otherwise leave the Ray
    open to the network. ``RAY_AUTH_MODE`` set by the user is respected."""
    env = dict(os.environ)
    if "RAY_AUTH_MODE" in env:
        return env
    env["RAY_AUTH_MODE"] = "token"
    custom = env.get("RAY_AUTH_TOKEN") or env.get("RAY_AUTH_TOKEN_PATH")
    if not custom and not (Path.home() / ".ray" / "auth_token").exists():
        # Writes ~/.ray/auth_token, where clients on this machine find it; the token it
        # prints is not kept here.
        subprocess.run(_ray_cli("get-auth-token", "--generate"), stdin=subprocess.DEVNULL,
                       capture_output=True, check=True, timeout=START_TIMEOUT_SECONDS)
    return env


def _start_kept_ray(cpus: int, gpus: int, keep_seconds: float) -> str:
    # Its own session: its servers (and their workers) form a process group the keeper
    # stops as a whole, and a Ctrl-C in the search's terminal does not reach them.
    starter = subprocess.Popen(
        _ray_cli("start", "--head", "--port=0", f"--num-cpus={cpus}", f"--num-gpus={gpus}",
                 "--include-dashboard=false", "--disable-usage-stats"),
        env=_token_auth_env(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, start_new_session=True)
    output, _ = starter.communicate(timeout=START_TIMEOUT_SECONDS)
    address = running_local_ray()
    if starter.returncode != 0 or address is None:
        last = (output.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"`ray start --head` failed: {last}")
    subprocess.Popen(
        [sys.executable, "-m", "actsearch.search.ray_keeper", address, str(starter.pid),
         str(keep_seconds)],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True, close_fds=True)
    return address


def stop_group(group: int, grace_seconds: float = 10.0) -> None:
    """Stop the processes of process group ``group`` and their descendants (a Ray that
    ``ray start`` started in its own session), and nothing else: ``ray stop`` would stop
    every Ray on the machine."""
    found: dict[int, psutil.Process] = {}
    for proc in psutil.process_iter():
        try:
            if os.getpgid(proc.pid) == group:
                found[proc.pid] = proc
                found.update({c.pid: c for c in proc.children(recursive=True)})
        except (OSError, psutil.Error):
            continue
    for proc in found.values():
        with contextlib.suppress(psutil.Error):
            proc.send_signal(signal.SIGTERM)
    _, alive = psutil.wait_procs(list(found.values()), timeout=grace_seconds)
    for proc in alive:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(alive, timeout=grace_seconds)


def keep(address: str, group: int, keep_seconds: float) -> None:
    """The keeper's loop: stop the Ray once it has had no lease for ``keep_seconds``."""
    last_used = time.monotonic()
    while reachable(address):  # else someone stopped it (`ray stop`): nothing left to do
        with _ray_lock():
            if held_leases(address):
                last_used = time.monotonic()
            elif time.monotonic() - last_used >= keep_seconds:
                stop_group(group)
                break
        time.sleep(KEEPER_POLL_SECONDS)
    current = ray_root() / "ray_current_cluster"
    with contextlib.suppress(OSError):
        if current.read_text().strip() == address:
            current.unlink()
    with contextlib.suppress(OSError):
        lease_dir(address).rmdir()
