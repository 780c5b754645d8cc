# syntax=docker/dockerfile:1
# One image for every role: `tertulia worker`, `tertulia slack`, `tertulia discord`,
# `tertulia telegram` (docker-compose.yml picks the role with `command:`).
# The model server is not in here: TGI or vLLM run from their own GPU images.

ARG PYTHON_IMAGE=python:3.11.15-slim-bookworm

# ---- build: compile wheels and install them into a self-contained venv -------------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
# Compilers only here: a dependency without a wheel for this platform builds in this
# stage and never reaches the runtime image.
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential \
 && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
# Dependencies first, from pyproject and the lock alone, so that a code change does not
# reinstall them. requirements.lock pins every version (refresh: docs/deploy.md).
COPY pyproject.toml README.md requirements.lock ./
RUN mkdir -p core worker bots tertulia \
 && pip install --upgrade pip setuptools wheel \
 && pip install -c requirements.lock ".[slack,discord,telegram]" \
 && pip uninstall -y tertulia
COPY core ./core
COPY worker ./worker
COPY bots ./bots
COPY tertulia ./tertulia
RUN pip install --no-deps -c requirements.lock ".[slack,discord,telegram]"

# ---- runtime: the venv, the model registry and a non-root user ----------------------
FROM ${PYTHON_IMAGE} AS runtime
# The package is installed into site-packages; the registry file and the run directory
# live in /app, so the settings point at them. Health and metrics listen in every role.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    TERTULIA_MODELS_FILE=/app/config/models.toml \
    TERTULIA_RUN_DIR=/app/.run \
    TERTULIA_HEALTH_PORT=8081 \
    TERTULIA_METRICS_PORT=9100
RUN groupadd --system --gid 10001 tertulia \
 && useradd --system --uid 10001 --gid tertulia --home-dir /app --shell /usr/sbin/nologin tertulia
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY --chown=tertulia:tertulia config ./config
RUN mkdir -p /app/.run && chown tertulia:tertulia /app/.run
USER 10001:10001
EXPOSE 8081 9100
# The image's own check is liveness (/healthz): it holds without any other service.
# docker-compose.yml replaces it with readiness (/readyz: Redis, the broker, the model server).
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 CMD ["tertulia", "health"]
ENTRYPOINT ["tertulia"]
CMD ["worker"]

# ---- flower: the runtime image plus Flower, for `docker compose --profile flower` ----
FROM runtime AS flower
USER root
RUN pip install "flower==2.0.1"
USER 10001:10001
HEALTHCHECK NONE
ENTRYPOINT ["celery", "-A", "tertulia.worker_app", "flower"]
CMD ["--port=5555"]
