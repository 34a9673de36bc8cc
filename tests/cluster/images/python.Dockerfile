# Stand-in for python:3.11-slim, the Dockerfile's default base: Debian's Python 3.11 in a
# virtual environment on PATH, so `pip` and `python` mean what they mean in that image.
ARG DEBIAN_IMAGE
FROM ${DEBIAN_IMAGE}
# The certificate authorities this machine trusts beyond Debian's (a proxy's, say), so pip
# inside the image reaches the package index the host reaches.
COPY ca-certificates/ /usr/local/share/ca-certificates/
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates python3 python3-venv procps \
    && update-ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && python3 -m venv /opt/python \
    && /opt/python/bin/pip install --no-cache-dir --upgrade pip
ENV PATH=/opt/python/bin:$PATH \
    PIP_CERT=/etc/ssl/certs/ca-certificates.crt \
    PIP_DISABLE_PIP_VERSION_CHECK=1
CMD ["python3"]
