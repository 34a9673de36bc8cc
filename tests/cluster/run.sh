#!/usr/bin/env bash
# make cluster-test: the docker-compose stack for real (tests/cluster/test_cluster.py).
# Where no Docker engine answers, it installs one (Debian's docker.io, with docker-compose and
# debootstrap, as root) and starts dockerd; where none can run, it says so in one line and
# exits 0 (skipped). A dockerd started here is stopped at the end; its images stay cached.
set -euo pipefail
cd "$(dirname "$0")/../.."
PYTHON=${PYTHON:-.venv/bin/python}

# CLUSTER_TEST_REQUIRED=1: a machine that must run it fails instead of skipping.
skip() {
    echo "cluster test skipped: $*"
    [ "${CLUSTER_TEST_REQUIRED:-0}" != 1 ] || exit 1
    exit 0
}

need=()
command -v docker >/dev/null || need+=(docker.io)
command -v dockerd >/dev/null || need+=(docker.io)
command -v docker-compose >/dev/null || need+=(docker-compose)
command -v debootstrap >/dev/null || need+=(debootstrap)
if [ ${#need[@]} -gt 0 ]; then
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
        skip "needs ${need[*]}, and only root with apt-get could install them here"
    fi
    echo "installing ${need[*]}"
    { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}"; } \
        >/tmp/actsearch-apt.log 2>&1 \
        || skip "apt-get install ${need[*]} failed: $(tail -1 /tmp/actsearch-apt.log)"
fi

started=""
if ! docker info >/dev/null 2>&1; then
    [ "$(id -u)" = 0 ] || skip "no Docker engine answers, and only root could start dockerd"
    log=$(mktemp)
    dockerd >"$log" 2>&1 &
    started=$!
    for _ in $(seq 60); do
        docker info >/dev/null 2>&1 && break
        kill -0 "$started" 2>/dev/null || skip "dockerd does not run here: $(tail -1 "$log")"
        sleep 1
    done
    docker info >/dev/null 2>&1 || { kill "$started"; skip "dockerd did not answer within 60 s"; }
    trap 'kill "$started"; wait "$started" 2>/dev/null || true' EXIT
fi

"$PYTHON" -m pytest -m cluster -s -p no:cacheprovider tests/cluster
