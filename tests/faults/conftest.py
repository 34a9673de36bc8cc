"""A PostgreSQL server each fault test owns (``initdb``/``pg_ctl`` on a free loopback port), so
it can be stopped hard and started again without touching the shared one."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import free_port


def _bin(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    bindir = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True,
                            check=True).stdout.strip()
    return str(Path(bindir) / name)


class OwnPostgres:
    """A throwaway server: ``stop("immediate")`` is a crash (no shutdown checkpoint), and
    ``start()`` recovers from the write-ahead log, as after a power cut of the process."""

    def __init__(self, root: Path) -> None:
        self.root, self.port = root, free_port()
        self.data, self.log = root / "data", root / "server.log"
        # PostgreSQL refuses to run as root: the server runs as its own user then.
        self.user = "postgres" if os.geteuid() == 0 else None
        if self.user:
            entry = pwd.getpwnam(self.user)
            os.chown(root, entry.pw_uid, entry.pw_gid)
        self._run(_bin("initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust",
                  "-E", "UTF8", "--no-sync")
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        command = ["runuser", "-u", self.user, "--", *args] if self.user else list(args)
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        self._run(_bin("pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w", "-o",
                  f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run(_bin("pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")


@pytest.fixture
def own_postgres() -> Iterator[OwnPostgres]:
    root = Path(tempfile.mkdtemp(prefix="actsearch-pg-"))
    server = OwnPostgres(root)
    server.start()
    try:
        yield server
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):  # the test stopped it
            server.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)
