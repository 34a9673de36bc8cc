"""The stack of ``docker-compose.yml``, run for the cluster test on the host's network.

Every container runs with host networking, so all traffic stays on the host: no packet goes
to a bridge network's addresses (Ray advertises its nodes at the host's own interface
address even when told 127.0.0.1; that address is this host's, so that traffic stays too).
The stack is the compose file itself, merged with an override written here (used only by
this test) that changes what host networking forces:

- each service binds 127.0.0.1 on a free port (the host already runs a PostgreSQL on 5432
  and a Redis on 6379, Ray's default GCS port), and reaches the others at 127.0.0.1;
- the images the registry would give (postgres, prometheus) are the local stand-ins that
  ``build_images.sh`` makes;
- published ports are dropped: host networking publishes nothing, and docker-compose
  refuses port bindings with it (an override cannot remove a list, so the merged file is
  edited);
- Prometheus finds the Ray nodes through the service discovery file Ray's head writes (the
  compose file's DNS lookup of the service names needs the compose network).

Everything else (commands, environment, volumes, health checks, dependencies) is the compose
file's own: commands are rewritten option by option, not replaced.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
STANDINS = {"postgres": "actsearch-test/postgres:15", "prometheus": "actsearch-test/prometheus:2"}
SERVICES = ["postgres", "ray-head", "ray-worker", "api", "dashboard", "prometheus"]
# Ray's head writes the list of every node's metrics address here (a link into the session).
RAY_DISCOVERY = "/tmp/ray/prom_metrics_service_discovery.json"
# A worker container picks its own free ports when it starts: replicas share one command.
# (Bound, closed, then given to Ray: another process could take one in between; on a test
# machine that is rare, and Ray would then fail to start, loudly.)
FREE_PORT = "$$(python -c 'import socket; s = socket.socket(); s.bind((\"127.0.0.1\", 0)); " \
            "print(s.getsockname()[1])')"
PICKED = "@free-port@"  # where FREE_PORT goes, after quoting


@dataclass(frozen=True)
class Ports:
    """The loopback port of each service of the stack."""

    postgres: int = field(default_factory=free_port)
    gcs: int = field(default_factory=free_port)
    jobs: int = field(default_factory=free_port)  # the head's dashboard: Ray's job API
    head_metrics: int = field(default_factory=free_port)
    head_agent: int = field(default_factory=free_port)
    ray_client: int = field(default_factory=free_port)
    search_metrics: int = field(default_factory=free_port)
    api: int = field(default_factory=free_port)
    dashboard: int = field(default_factory=free_port)
    prometheus: int = field(default_factory=free_port)


def set_options(command: str, **options: str | int) -> str:
    """``command`` with each ``--name`` option (``name_with_underscores``) set to its value,
    replaced where the command has it, added otherwise."""
    args = shlex.split(command)
    for name, value in options.items():
        flag = "--" + name.replace("_", "-")
        kept: list[str] = []
        skip = False
        for arg in args:
            if skip:  # the value of `--flag value`
                skip = False
            elif arg == flag:
                skip = True
            elif not arg.startswith(flag + "="):
                kept.append(arg)
        args = [*kept, f"{flag}={value}"]
    return shlex.join(args)


def get_json(url: str, timeout: float = 10) -> Any:
    """The JSON at ``url``; None where nothing answers yet or the answer is an error."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return json.load(response)
    except (urllib.error.URLError, ConnectionError, TimeoutError, json.JSONDecodeError):
        return None


class Stack:
    """docker-compose.yml, on host networking and loopback ports, as project ``project``."""

    def __init__(self, workdir: Path, project: str, ports: Ports | None = None) -> None:
        self.workdir = workdir
        self.project = project
        self.ports = ports or Ports()
        self.file = workdir / "cluster.yml"

    @property
    def storage_url(self) -> str:
        return f"postgresql+psycopg://actsearch:actsearch@127.0.0.1:{self.ports.postgres}/actsearch"

    def url(self, service: str, path: str = "") -> str:
        port = {"api": self.ports.api, "dashboard": self.ports.dashboard,
                "jobs": self.ports.jobs, "prometheus": self.ports.prometheus}[service]
        return f"http://127.0.0.1:{port}{path}"

    # --- The compose file the test runs -----------------------------------------------
    def override(self) -> dict[str, Any]:
        """What host networking changes, as a compose override of docker-compose.yml."""
        base = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
        p = self.ports
        storage = {"ACTSEARCH_STORAGE": self.storage_url}
        loopback = {"node_ip_address": "127.0.0.1"}
        return {"services": {
            "postgres": {
                "image": STANDINS["postgres"], "network_mode": "host",
                "environment": {"PGPORT": str(p.postgres)},  # the server and pg_isready read it
                "command": "postgres -c listen_addresses=127.0.0.1"},
            "ray-head": {
                "network_mode": "host",
                "environment": {**storage, "ACTSEARCH_METRICS_PORT": str(p.search_metrics)},
                "command": set_options(
                    base["ray-head"]["command"], port=p.gcs, dashboard_host="127.0.0.1",
                    dashboard_port=p.jobs, metrics_export_port=p.head_metrics,
                    dashboard_agent_listen_port=p.head_agent, ray_client_server_port=p.ray_client,
                    **loopback),
                # Shared with Prometheus for Ray's service discovery file.
                "volumes": ["ray-head-tmp:/tmp/ray"]},
            "ray-worker": {
                "network_mode": "host",
                # One CPU each: three workers on a small machine, one trial worker per node.
                "command": "sh -c " + shlex.quote("exec " + set_options(
                    base["ray-worker"]["command"], address=f"127.0.0.1:{p.gcs}", num_cpus=1,
                    metrics_export_port=PICKED, dashboard_agent_listen_port=PICKED,
                    **loopback).replace(PICKED, FREE_PORT))},
            "api": {
                "network_mode": "host",
                "environment": {**storage, "RAY_ADDRESS": f"127.0.0.1:{p.gcs}"},
                "command": set_options(base["api"]["command"], host="127.0.0.1", port=p.api)},
            "dashboard": {
                "network_mode": "host", "environment": storage,
                "command": set_options(base["dashboard"]["command"], host="127.0.0.1",
                                       port=p.dashboard)},
            "prometheus": {
                "image": STANDINS["prometheus"], "network_mode": "host",
                "command": ["--config.file=/etc/prometheus/prometheus.yml",
                            "--storage.tsdb.path=/prometheus",
                            f"--web.listen-address=127.0.0.1:{p.prometheus}"],
                "volumes": [f"{self.workdir / 'prometheus.yml'}:/etc/prometheus/prometheus.yml:ro",
                            "ray-head-tmp:/tmp/ray:ro"]},
        }, "volumes": {"ray-head-tmp": {}}}

    def prometheus_config(self) -> dict[str, Any]:
        """dashboards/prometheus.yml with its targets at their loopback ports."""
        config = yaml.safe_load((ROOT / "dashboards" / "prometheus.yml").read_text())
        config["global"]["scrape_interval"] = "2s"
        jobs = {job["job_name"]: job for job in config["scrape_configs"]}
        jobs["actsearch-api"]["static_configs"] = [{"targets": [f"127.0.0.1:{self.ports.api}"]}]
        jobs["actsearch-search"]["static_configs"] = [
            {"targets": [f"127.0.0.1:{self.ports.search_metrics}"]}]
        del jobs["ray"]["dns_sd_configs"]
        # Re-read often: Ray replaces the file behind the link, which file watching misses.
        jobs["ray"]["file_sd_configs"] = [{"files": [RAY_DISCOVERY], "refresh_interval": "2s"}]
        return config  # type: ignore[no-any-return]

    def write(self) -> Path:
        """The merged compose file: docker-compose.yml, the override, no published ports."""
        (self.workdir / "prometheus.yml").write_text(yaml.safe_dump(self.prometheus_config()))
        override = self.workdir / "override.yml"
        override.write_text(yaml.safe_dump(self.override()))
        merged = subprocess.run(
            ["docker-compose", "--project-directory", str(ROOT), "-f",
             str(ROOT / "docker-compose.yml"), "-f", str(override), "config", "--no-interpolate"],
            capture_output=True, text=True, check=True).stdout
        config = yaml.safe_load(merged)
        for service in config["services"].values():
            service.pop("ports", None)
        self.file.write_text(yaml.safe_dump(config))
        return self.file

    # --- Running it -------------------------------------------------------------------
    def compose(self, *args: str, timeout: float = 300,
                check: bool = True) -> subprocess.CompletedProcess[str]:
        run = subprocess.run(
            ["docker-compose", "--project-directory", str(ROOT), "-p", self.project,
             "-f", str(self.file), *args],
            capture_output=True, text=True, timeout=timeout, check=False)
        if check and run.returncode != 0:
            raise RuntimeError(f"docker-compose {' '.join(args)} exited {run.returncode}:\n"
                               f"{run.stdout[-3000:]}\n{run.stderr[-3000:]}")
        return run

    def up(self, workers: int) -> None:
        self.compose("up", "-d", "--no-build", "--scale", f"ray-worker={workers}", *SERVICES,
                     timeout=600)

    def down(self) -> subprocess.CompletedProcess[str]:
        return self.compose("down", "-v", "--remove-orphans", timeout=300, check=False)

    def containers(self, service: str) -> list[str]:
        """The ids of the service's running containers."""
        return self.compose("ps", "-q", service).stdout.split()

    def logs(self, service: str, tail: int = 60) -> str:
        return self.compose("logs", "--no-color", f"--tail={tail}", service, check=False).stdout

    def leftovers(self) -> dict[str, list[str]]:
        """Containers, volumes and networks of this project that still exist."""
        label = f"label=com.docker.compose.project={self.project}"
        found = {}
        for kind, listing in (("containers", ["ps", "-aq"]), ("volumes", ["volume", "ls", "-q"]),
                              ("networks", ["network", "ls", "-q"])):
            out = subprocess.run(["docker", *listing, "--filter", label], capture_output=True,
                                 text=True, check=True).stdout.split()
            found[kind] = out
        return found
