"""docker-compose.yml, the Dockerfile and dashboards/ agree with the code (no Docker engine).

Each service's command must exist in the CLI (or be ray/postgres/prometheus/grafana), every
ACTSEARCH_* variable must be a setting, ports must match, and every metric a Grafana panel
plots must be one the code exports.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import ray
import typer.main
import yaml
from prometheus_client import REGISTRY, generate_latest
from sqlalchemy.engine import make_url

from actsearch.api.metrics import ApiMetrics
from actsearch.cli import app
from actsearch.settings import Settings
from actsearch.store.database import open_storage

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, Any] = COMPOSE["services"]


def _command(service: dict[str, Any]) -> list[str]:
    command = service.get("command", [])
    return shlex.split(command) if isinstance(command, str) else list(command)


def _option(args: list[str], name: str) -> str | None:
    for i, arg in enumerate(args):
        if arg == name:
            return args[i + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return None


def _published(service: dict[str, Any]) -> set[int]:
    return {int(str(p).split(":")[-1]) for p in service.get("ports", [])}


def test_services_are_the_cluster_the_readme_describes() -> None:
    assert set(SERVICES) == {"postgres", "ray-head", "ray-worker", "ray-worker-gpu", "api",
                             "dashboard", "prometheus", "grafana"}
    assert SERVICES["ray-worker-gpu"]["profiles"] == ["gpu"]
    devices = SERVICES["ray-worker-gpu"]["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["capabilities"] == ["gpu"]
    assert "healthcheck" in SERVICES["postgres"] and "pgdata" in COMPOSE["volumes"]
    assert "ports" not in SERVICES["ray-worker"]  # scalable with --scale: no fixed host port


def test_every_command_exists() -> None:
    cli = typer.main.get_command(app)
    for name, service in SERVICES.items():
        args = _command(service)
        if not args:
            assert service["image"].split("/")[-1].split(":")[0] in (
                "postgres", "prometheus", "grafana"), name
            continue
        if args[0] == "actsearch":
            assert args[1] in cli.commands, f"{name}: no `actsearch {args[1]}` command"  # type: ignore[attr-defined]
            params = {o for p in cli.commands[args[1]].params for o in p.opts}  # type: ignore[attr-defined]
            for arg in args[2:]:
                if arg.startswith("--"):
                    assert arg.split("=")[0] in params, f"{name}: unknown option {arg}"
        else:
            assert args[:2] == ["ray", "start"], name


def test_ports_agree_with_commands() -> None:
    for name in ("api", "dashboard"):
        args = _command(SERVICES[name])
        assert int(_option(args, "--port")) in _published(SERVICES[name])  # type: ignore[arg-type]
        assert _option(args, "--host") == "0.0.0.0"
    head = _command(SERVICES["ray-head"])
    worker = _command(SERVICES["ray-worker"])
    assert _option(worker, "--address") == f"ray-head:{_option(head, '--port')}"
    # The head runs drivers, not trials: the workers are the cluster's size.
    assert _option(head, "--num-cpus") == "0" and _option(worker, "--num-cpus") is None
    # Of the head, only the job API that `actsearch submit` talks to is published.
    assert _published(SERVICES["ray-head"]) == {int(_option(head, "--dashboard-port"))}  # type: ignore[arg-type]


def test_only_the_faces_are_published_and_on_loopback() -> None:
    published = {name: s["ports"] for name, s in SERVICES.items() if s.get("ports")}
    assert set(published) == {"api", "dashboard", "grafana", "ray-head"}
    assert all(str(p).startswith("127.0.0.1:") for ports in published.values() for p in ports)


def test_environment_variables_are_settings_and_storage_matches_postgres() -> None:
    fields = set(Settings.model_fields)
    pg = SERVICES["postgres"]["environment"]
    for name, service in SERVICES.items():
        for var, value in (service.get("environment") or {}).items():
            if var.startswith("ACTSEARCH_"):
                assert var.removeprefix("ACTSEARCH_").lower() in fields, f"{name}: {var}"
            if var == "ACTSEARCH_STORAGE":
                url = make_url(value)
                assert url.drivername == "postgresql+psycopg" and url.host == "postgres"
                assert (url.username, url.password, url.database) == (
                    pg["POSTGRES_USER"], pg["POSTGRES_PASSWORD"], pg["POSTGRES_DB"])
            if var == "RAY_ADDRESS":
                assert value == f"ray-head:{_option(_command(SERVICES['ray-head']), '--port')}"


def test_prometheus_scrapes_what_the_services_expose() -> None:
    config = yaml.safe_load((ROOT / "dashboards" / "prometheus.yml").read_text())
    jobs = {j["job_name"]: j for j in config["scrape_configs"]}
    (api_target,) = jobs["actsearch-api"]["static_configs"][0]["targets"]
    assert api_target == f"api:{_option(_command(SERVICES['api']), '--port')}"
    (search_target,) = jobs["actsearch-search"]["static_configs"][0]["targets"]
    driver_port = SERVICES["ray-head"]["environment"]["ACTSEARCH_METRICS_PORT"]
    assert search_target == f"ray-head:{driver_port}"
    ray_port = jobs["ray"]["dns_sd_configs"][0]["port"]
    for name in ("ray-head", "ray-worker"):
        assert _option(_command(SERVICES[name]), "--metrics-export-port") == str(ray_port)
    source = yaml.safe_load((ROOT / "dashboards/grafana/provisioning/datasources/prometheus.yml")
                            .read_text())["datasources"][0]
    assert source["url"] == "http://prometheus:9090"


def _panel_metrics() -> set[str]:
    names = set()
    for board in (ROOT / "dashboards" / "grafana" / "dashboards").glob("*.json"):
        for panel in json.loads(board.read_text())["panels"]:
            for target in panel["targets"]:
                names |= set(re.findall(r"\b((?:actsearch|ray)_[a-z_]+)\b", target["expr"]))
    return names


def test_every_dashboard_metric_is_exported(tmp_path: Path) -> None:
    import actsearch.search.metrics as search_metrics

    # Touch each labelled driver metric so it is listed, as a running search does.
    for metric in (search_metrics.TRIALS_STARTED, search_metrics.EPOCHS,
                   search_metrics.BEST_VALUE, search_metrics.WORKERS,
                   search_metrics.WORKERS_BUSY, search_metrics.TRIAL_SECONDS):
        metric.labels("deploy-test")
    search_metrics.TRIALS_FINISHED.labels("deploy-test", "complete")
    exported = generate_latest(REGISTRY).decode()
    api = ApiMetrics(open_storage(f"sqlite:///{tmp_path / 'm.db'}").engine)
    api.requests.labels("GET", "/x", "200").inc()
    api.latency.labels("GET", "/x").observe(0.01)
    exported += generate_latest(api.registry).decode()
    ray_source = Path(ray.__file__).parent / "dashboard/modules/reporter/reporter_agent.py"
    names = _panel_metrics()
    assert names, "no metric found in dashboards/"
    for name in names:
        if name.startswith("ray_"):  # Ray's own node metrics, defined by its reporter agent
            assert f'"{name.removeprefix("ray_")}"' in ray_source.read_text(), name
        else:
            base = re.sub(r"_(bucket|sum|count)$", "", name)
            assert re.search(rf"^{re.escape(base)}", exported, re.M), f"{name} is not exported"


def test_dockerfile_installs_what_the_services_run() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "ARG BASE_IMAGE=" in dockerfile and "ARG TORCH_SPEC=" in dockerfile
    # A wheel built from the package and the search spaces it ships, in a stage of its own.
    stages = re.split(r"^FROM ", dockerfile, flags=re.M)[1:]
    assert len(stages) == 2 and all(s.startswith("${BASE_IMAGE}") for s in stages)
    build, image = stages
    assert "COPY actsearch" in build and "COPY search_spaces" in build
    assert re.search(r"^RUN pip wheel .*--no-deps", build, re.M)
    # The image installs that wheel, not editable, with the extra the API and dashboard need;
    # no source is copied into it, so the installed package is what runs.
    assert "pip install -e" not in dockerfile and "COPY --from=" in image
    assert re.search(r'^RUN pip install "[^"]*actsearch-\*\.whl\)?\[api\]"', image, re.M)
    assert not re.search(r"^COPY (?!--from=)", image, re.M)
    assert "api" in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]
    gpu = SERVICES["ray-worker-gpu"]["build"]["args"]
    assert set(gpu) == {"BASE_IMAGE", "TORCH_SPEC"}
    # The build context is what the wheel stage copies, and nothing else (not .venv: GBs).
    ignore = [line for line in (ROOT / ".dockerignore").read_text().splitlines()
              if line and not line.startswith("#")]
    assert ignore[0] == "*"
    copied = {arg for line in re.findall(r"^COPY (?!--from=)(.+)$", build, re.M)
              for arg in line.split()[:-1]}
    assert {line for line in ignore if line.startswith("!")} == {f"!{p}" for p in copied}


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="docker-compose not installed")
def test_docker_compose_config_validates() -> None:
    for profile in ([], ["--profile", "gpu"]):
        run = subprocess.run(["docker-compose", *profile, "config", "-q"], cwd=ROOT,
                             capture_output=True, text=True, check=False)
        assert run.returncode == 0, run.stderr
