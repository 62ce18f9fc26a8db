# The sitrep image: one image, every role started by its subcommand.
#
#   docker build -t sitrep:dev .
#   docker run --rm sitrep:dev --help
#   docker run --rm -e SITREP_KAFKA__BOOTSTRAP_SERVERS=kafka:9092 sitrep:dev worker
#
# deploy/compose/ runs the whole pipeline from it (intake, worker, index, notify, serve).
#
# Base image: pinned by tag. A digest (python:3.11-slim-bookworm@sha256:...) could not be
# resolved where this file was written (no registry access, no Docker engine); CI or a release
# build should resolve it (`docker buildx imagetools inspect python:3.11-slim-bookworm`) and
# pass it in: docker build --build-arg PYTHON_IMAGE=python:3.11-slim-bookworm@sha256:<digest> .
# Both stages use the same base so the wheels built in the first match the second.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- builder: wheels of sitrep and every dependency -------------------------------------------
FROM ${PYTHON_IMAGE} AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1

# A compiler only for a dependency without a wheel for this platform (the runtime has none).
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /src
COPY pyproject.toml README.md ./
COPY schemas/ schemas/
COPY producers/ producers/
COPY streams/ streams/
COPY sinks/ sinks/
COPY sitrep/ sitrep/
COPY bench/ bench/
RUN pip wheel --wheel-dir /wheels ".[tracing]"

# --- runtime: the installed wheels, the shipped rules and channel files, a non-root user ------
FROM ${PYTHON_IMAGE} AS runtime

LABEL org.opencontainers.image.title="sitrep" \
      org.opencontainers.image.description="Field situation reports -> Kafka -> live status and alerts -> Elasticsearch" \
      org.opencontainers.image.licenses="Apache-2.0 AND ODbL-1.0"

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:$PATH

RUN groupadd --system --gid 10001 sitrep \
 && useradd --system --uid 10001 --gid sitrep --home-dir /var/lib/sitrep --no-create-home \
      --shell /usr/sbin/nologin sitrep \
 && python -m venv /opt/venv

# --no-index: only the wheels of the builder, nothing fetched in this stage.
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    pip install --no-index --find-links=/wheels "sitrep[tracing]" \
 && sitrep --version

# Compiled at install time above; the non-root user could not write .pyc files anyway.
ENV PYTHONDONTWRITEBYTECODE=1

# Data the package reads from outside its own folders. The area registry (idn-area-data 4.0.1,
# ODbL) and the scenarios, the scoring rules and the web's static files are package data and
# come with the wheel; the alert rules (rules/, rules/sites/) and the notifier's channel files
# (deploy/notify/) live at the repository root, which an installed package cannot see, so they
# are copied here and the settings below point at them. Mount over /opt/sitrep/rules or set
# SITREP_NOTIFY__CHANNELS_FILE to use others. Nothing is read from ../shared at run time.
COPY rules/ /opt/sitrep/rules/
COPY deploy/notify/channels.yaml deploy/notify/channels.demo.yaml /opt/sitrep/notify/
COPY deploy/kibana/sitrep.ndjson /opt/sitrep/kibana/sitrep.ndjson
COPY schemas/data/ATTRIBUTION.md schemas/data/LICENSE-ODbL.md /opt/sitrep/licenses/
COPY --chmod=0755 deploy/docker/healthcheck.py /usr/local/bin/sitrep-healthcheck

# State of a role (the worker's RocksDB tables, intake tokens and duplicate check, the web's
# users, operator tokens and session key) lives under SITREP_HOME: mount a volume there (no
# VOLUME here, so one-shot commands leave no anonymous volumes). A new named volume takes this
# folder's owner, so the non-root user can write to it. HOME/monitoring: the monitoring tokens
# (SITREP_MONITORING__TOKENS_FILE's default), a volume of its own in compose.
RUN mkdir -p /var/lib/sitrep/monitoring \
 && chown -R sitrep:sitrep /var/lib/sitrep

ENV SITREP_HOME=/var/lib/sitrep \
    SITREP_WORKER__RULES_DIR=/opt/sitrep/rules \
    SITREP_WORKER__SITES_DIR=/opt/sitrep/rules/sites \
    SITREP_NOTIFY__CHANNELS_FILE=/opt/sitrep/notify/channels.yaml \
    SITREP_KIBANA__OBJECTS_FILE=/opt/sitrep/kibana/sitrep.ndjson \
    SITREP_LOG__FORMAT=json

WORKDIR /var/lib/sitrep
USER sitrep:sitrep

# Ports of the roles (each listens on 127.0.0.1 unless its *_HOST setting says otherwise):
# intake 8080, worker web 6066, indexer metrics 9108, notifier metrics 9310, web 8000.
EXPOSE 8080 6066 9108 9310 8000

# Checks the endpoint of the role this container runs (found from its command line; ports from
# the role's SITREP_* setting), or SITREP_HEALTH_URL when set. One-shot commands are healthy
# while they run.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["sitrep-healthcheck"]

ENTRYPOINT ["sitrep"]
CMD ["--help"]
