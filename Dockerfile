# Streamflow forecasting service: CPU-only torch, the demo model baked in, non-root.
#
#   docker build -t streamflow .
#   docker run -p 8888:8888 streamflow
#
# Configuration is by STREAMFLOW__<SECTION>__<KEY> environment variables (see README).
# Where PyTorch's CPU index is unreachable, pass --build-arg TORCH_INDEX_URL= and
# --build-arg PIP_FIND_LINKS=<dir holding the torch-2.13.0+cpu wheel> (bind-mounted).

ARG BASE_IMAGE=python:3.11-slim

FROM ${BASE_IMAGE} AS runtime
# tini runs as PID 1 and forwards SIGTERM: Python as PID 1 ignores it until the service has
# installed its handler, so a stop during start-up would wait for SIGKILL. A bare Debian base
# also needs Python itself; python:3.11-slim has it.
RUN apt-get update \
    && apt-get install -y --no-install-recommends tini \
        $(command -v python3 >/dev/null || echo python3 python3-venv ca-certificates) \
    && rm -rf /var/lib/apt/lists/* \
    && python3 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# PyPI's torch for Linux is the CUDA build (5 GB image); the +cpu pin fails loudly instead of
# falling back to it when no CPU source is given. A training image for GPU hosts (README, "Training
# on GPU hosts") passes a CUDA variant and its index, e.g. TORCH_VARIANT=cu128 and .../whl/cu128.
ARG TORCH_VARIANT=cpu
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ARG PIP_FIND_LINKS
ARG PIP_CERT
# torch/test (C++ unit-test binaries) and torch/include (headers for building extensions) are
# never loaded by Python: 145 MB less.
RUN pip install ${TORCH_INDEX_URL:+--extra-index-url "$TORCH_INDEX_URL"} "torch==2.13.0+${TORCH_VARIANT}" \
    && rm -rf /opt/venv/lib/python3*/site-packages/torch/test /opt/venv/lib/python3*/site-packages/torch/include

# Runtime dependencies only: requirements.txt lists test and deploy tooling after a marker line.
COPY requirements.txt /tmp/requirements.txt
RUN grep -q '^# Tests and tooling' /tmp/requirements.txt \
    && sed '/^# Tests and tooling/,$d' /tmp/requirements.txt > /tmp/runtime.txt \
    && pip install -r /tmp/runtime.txt \
    && rm /tmp/requirements.txt /tmp/runtime.txt

WORKDIR /app


# Train the demo model at build time rather than copying a bundle from the checkout: a clean
# checkout has none, a developer's local bundle may be stale or trained on other data, and
# training is seeded, so the image's model always matches the code and config it ships with.
# Only the code training needs is copied, so edits to the HTTP layer alone do not retrain.
FROM runtime AS trainer
# MLflow runs record the code they were trained with (deploy.py passes the commit).
ARG CODE_COMMIT=unknown
ENV STREAMFLOW_CODE_COMMIT=$CODE_COMMIT
COPY config.yaml main_train.py ./
COPY adapter adapter
COPY config config
COPY domain domain
COPY model model
COPY service/__init__.py service/training_service.py service/model_lifecycle.py service/
COPY utils utils
# The demo model is tracked, registered and promoted in the image's own MLflow store
# (resources/mlflow), which the service follows when no shared registry is configured.
RUN python main_train.py


FROM runtime
# A fixed numeric uid, so orchestrators can verify "non-root" without reading /etc/passwd.
RUN groupadd --system --gid 10001 streamflow \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin streamflow
# Code and model stay owned by root: the service only reads them.
COPY . .
COPY --from=trainer /app/resources resources
# The cache volume is the one place the service writes: the live readers' downloads, local copies
# of the bundles it serves, retraining jobs.
# As a VOLUME it stays writable under a read-only root filesystem, and Fargate copies this
# directory's owner into the task volume mounted here.
RUN install -d -o 10001 -g 10001 resources/cache
VOLUME /app/resources/cache
USER 10001:10001
ENV STREAMFLOW__SERVER__PORT=8888
EXPOSE 8888
# python:3.11-slim has no curl; urlopen raises on 503 (no model) and on a refused connection.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD python -c "import os, urllib.request as r; r.urlopen('http://127.0.0.1:%s/healthCheck' % os.environ['STREAMFLOW__SERVER__PORT'], timeout=4)"
# main_service handles SIGTERM itself: stops accepting, drains in-flight requests, exits 0.
ENTRYPOINT ["tini", "--"]
CMD ["python", "main_service.py"]
