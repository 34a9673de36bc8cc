# actsearch image: CPU by default. For CUDA:
#   docker build --build-arg BASE_IMAGE=pytorch/pytorch:2.6.0-cuda12.4-cudnn9-runtime \
#                --build-arg TORCH_SPEC=none -t actsearch:cuda .
# (TORCH_SPEC=none keeps the base image's CUDA torch.)
ARG BASE_IMAGE=python:3.11-slim

# Stage 1: the wheel. The search spaces and the knowledge base ship inside the package
# (actsearch.search_spaces, actsearch.recommend), so no source tree is needed to run it.
FROM ${BASE_IMAGE} AS wheel
WORKDIR /src
COPY pyproject.toml README.md ./
COPY actsearch ./actsearch
COPY search_spaces ./search_spaces
RUN pip wheel --no-cache-dir --no-deps -w /wheels .

# Stage 2: the image. actsearch is installed from the wheel (not editable) into
# site-packages; the source is not copied, so that installed copy is what runs.
FROM ${BASE_IMAGE}

ARG TORCH_SPEC="torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu"
ENV PIP_NO_CACHE_DIR=1 \
    PYTHONUNBUFFERED=1 \
    ACTSEARCH_ARTIFACTS_DIR=/data/artifacts \
    ACTSEARCH_DATA_DIR=/data/datasets

WORKDIR /app
RUN if [ "$TORCH_SPEC" != "none" ]; then pip install $TORCH_SPEC; fi
COPY --from=wheel /wheels /tmp/wheels
RUN pip install "$(echo /tmp/wheels/actsearch-*.whl)[api]" && rm -rf /tmp/wheels \
    && mkdir -p /data/artifacts /data/datasets

EXPOSE 8000 8080 8265 6379 9464
CMD ["actsearch", "--help"]
