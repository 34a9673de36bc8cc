#!/usr/bin/env bash
# Builds every image the cluster test runs, on a machine with a Docker engine and no image
# registry:
#   1. a Debian base image made with debootstrap (the registry's debian:bookworm);
#   2. stand-ins for the registry's python:3.11-slim, postgres:16 and prom/prometheus, on it;
#   3. the actsearch image from the project's Dockerfile, with BASE_IMAGE set to the Python
#      stand-in carrying PyTorch (actsearch installed from its wheel, as users get it).
# Images made from the same inputs are kept (REBUILD=1 rebuilds them); each build prints its
# time.
#
#   tests/cluster/build_images.sh            (as root: debootstrap needs it)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
IMAGES="$ROOT/tests/cluster/images"
PREFIX=${ACTSEARCH_TEST_IMAGES:-actsearch-test}
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
# The PyTorch the image gets, resolved by the host's pip (which may take a wheel on its disk).
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}
PYTHON=${PYTHON:-python3}
export DOCKER_BUILDKIT=0  # the engine's own builder: no buildx plugin needed

DEBIAN_IMAGE="$PREFIX/debian:bookworm"
PYTHON_IMAGE="$PREFIX/python:3.11-slim"
TORCH_IMAGE="$PREFIX/python-torch:3.11"
POSTGRES_IMAGE="$PREFIX/postgres:15"
PROMETHEUS_IMAGE="$PREFIX/prometheus:2"
ACTSEARCH_IMAGE=${ACTSEARCH_IMAGE:-actsearch:latest}  # the name docker-compose.yml uses

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# What the stand-ins are made from: a kept image made from other inputs is rebuilt.
INPUTS=$( (cat "$IMAGES"/*; echo "$DEBIAN_MIRROR $TORCH_SPEC") | sha256sum | cut -c1-16)
LABEL="actsearch.test-inputs"

have() {
    [ "${REBUILD:-0}" != 1 ] && [ "$(docker image inspect -f "{{index .Config.Labels \"$LABEL\"}}" \
        "$1" 2>/dev/null)" = "$INPUTS" ]
}

timed() {  # timed IMAGE COMMAND...: run the build, print how long it took
    local image=$1 start=$SECONDS status
    shift
    if have "$image"; then
        echo "image $image: kept (REBUILD=1 rebuilds it)"
        return
    fi
    echo "image $image: building"
    # Not `"$@" || ...`: bash ignores set -e in a function on the left of ||, so a failed
    # step would go on to the next and leave a broken image for later runs to keep.
    set +e
    (set -e; "$@") > "$work/build.log" 2>&1
    status=$?
    set -e
    if [ "$status" != 0 ]; then
        tail -40 "$work/build.log"
        echo "image $image: build failed (exit $status)" >&2
        exit 1
    fi
    echo "image $image: built in $((SECONDS - start)) s"
}

build() {  # docker build on the host's network, labelled with the inputs
    docker build --network host --label "$LABEL=$INPUTS" "$@"
}

debian_base() {
    [ "$(id -u)" = 0 ] || { echo "debootstrap needs root" >&2; return 1; }
    debootstrap --variant=minbase bookworm "$work/rootfs" "$DEBIAN_MIRROR"
    tar -C "$work/rootfs" -c . | docker import --change "LABEL $LABEL=$INPUTS" - "$DEBIAN_IMAGE"
    rm -rf "$work/rootfs"
}

python_standin() {
    local context="$work/python"
    mkdir -p "$context/ca-certificates"
    cp "$IMAGES/python.Dockerfile" "$context/Dockerfile"
    # Local authorities only (Debian's own come with its ca-certificates package).
    find /usr/local/share/ca-certificates -name '*.crt' -exec cp {} "$context/ca-certificates/" \; 2>/dev/null || true
    build --build-arg DEBIAN_IMAGE="$DEBIAN_IMAGE" -t "$PYTHON_IMAGE" "$context"
}

torch_layer() {
    local context="$work/torch"
    mkdir -p "$context/wheels"
    cp "$IMAGES/torch.Dockerfile" "$context/Dockerfile"
    "$PYTHON" -m pip download --quiet --no-deps --dest "$context/wheels" "$TORCH_SPEC"
    build --build-arg PYTHON_IMAGE="$PYTHON_IMAGE" -t "$TORCH_IMAGE" "$context"
}

standin() {  # standin IMAGE DOCKERFILE
    local context
    context="$work/$(basename "$2" .Dockerfile)"
    mkdir -p "$context"
    cp "$IMAGES/$2" "$context/Dockerfile"
    cp "$IMAGES"/*.sh "$context/"
    build --build-arg DEBIAN_IMAGE="$DEBIAN_IMAGE" -t "$1" "$context"
}

actsearch_image() {
    # Always rebuilt (layers are cached): it must be the working tree's code.
    build --build-arg BASE_IMAGE="$TORCH_IMAGE" --build-arg TORCH_SPEC=none \
        -t "$ACTSEARCH_IMAGE" "$ROOT"
}

timed "$DEBIAN_IMAGE" debian_base
timed "$PYTHON_IMAGE" python_standin
timed "$TORCH_IMAGE" torch_layer
timed "$POSTGRES_IMAGE" standin "$POSTGRES_IMAGE" postgres.Dockerfile
timed "$PROMETHEUS_IMAGE" standin "$PROMETHEUS_IMAGE" prometheus.Dockerfile
REBUILD=1 timed "$ACTSEARCH_IMAGE" actsearch_image
