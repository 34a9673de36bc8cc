# The Python stand-in with PyTorch installed from a wheel the host resolved (the project's
# Dockerfile then runs with TORCH_SPEC=none, as it does on a CUDA base image).
ARG PYTHON_IMAGE
FROM ${PYTHON_IMAGE}
COPY wheels/ /tmp/wheels/
RUN pip install --no-cache-dir /tmp/wheels/torch-*.whl && rm -rf /tmp/wheels
