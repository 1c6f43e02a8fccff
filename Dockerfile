# syntax=docker/dockerfile:1
# userservice: build a virtual environment in one stage, copy only it into a slim runtime image.

# The base image, pinned by digest so a rebuild gets the same bytes (python:3.11-slim-bookworm
# when pinned; refresh with `docker buildx imagetools inspect python:3.11-slim-bookworm` and
# paste the index digest here). Both stages start from it.
FROM python:3.11-slim-bookworm@sha256:a36c24f9cbdf4fd0f52d67f0823eeac19c2028c637cecc392d97f980d4fec56b AS base

FROM base AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
COPY pyproject.toml README.md ./
COPY server ./server
COPY clients ./clients
# Two distributions: the client (stubs, SDK) first by path, then the server, which requires it,
# with its tracing extra (OpenTelemetry; off unless OTEL_* turns it on).
# hadolint ignore=DL3013
RUN pip install --no-cache-dir ./clients '.[tracing]'

FROM base
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    USERSERVICE_ENVIRONMENT=production \
    USERSERVICE_KEYS_DIR=/etc/userservice/keys \
    USERSERVICE_PORT=50051 \
    USERSERVICE_METRICS_PORT=9464
RUN groupadd --system --gid 10001 userservice \
    && useradd --system --uid 10001 --gid userservice --no-create-home --shell /usr/sbin/nologin userservice \
    && mkdir -p /etc/userservice/keys \
    && chown userservice:userservice /etc/userservice/keys \
    && chmod 0700 /etc/userservice/keys
COPY --from=build /opt/venv /opt/venv
USER 10001:10001
WORKDIR /tmp
EXPOSE 50051 9464
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
    CMD ["userservice", "health", "--address", "127.0.0.1:50051"]
ENTRYPOINT ["userservice"]
CMD ["serve"]
