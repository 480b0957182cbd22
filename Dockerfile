# One image for every Hearth process; docker-compose.yml picks the command. `make image` builds it
# (scripts/image.sh): from BASE, the public Python image by default, or, where no registry is
# reachable, a Debian bookworm base bootstrapped locally (BASE=hearth/base:bookworm); with the Python
# packages from PyPI, or from a wheelhouse built on the host (build/wheelhouse, installed offline).
ARG BASE=python:3.11-slim-bookworm

# ---- build: the virtualenv and the collected static files (pip's caches and wheels stay here) ------
FROM ${BASE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 HEARTH_VAR_DIR=/tmp/hearth-build
WORKDIR /app
# The public Python image has Python; the bootstrapped Debian base gets Debian's.
RUN command -v python3 >/dev/null || { apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv && rm -rf /var/lib/apt/lists/*; }
COPY build/wheelhouse /wheels
COPY pyproject.toml README.md manage.py ./
COPY config ./config
COPY accounts ./accounts
COPY nodes ./nodes
COPY templates_app ./templates_app
COPY servers ./servers
COPY backups ./backups
COPY schedules ./schedules
COPY alerts ./alerts
COPY marketplace ./marketplace
COPY webui ./webui
COPY static ./static
COPY templates ./templates
RUN python3 -m venv /opt/hearth \
 && if ls /wheels/*.whl >/dev/null 2>&1; then \
      /opt/hearth/bin/pip install --no-cache-dir --no-index --find-links /wheels . ; \
    else /opt/hearth/bin/pip install --no-cache-dir . ; fi \
 && /opt/hearth/bin/pip uninstall --quiet --yes pip \
 && SECRET_KEY=build-only HEARTH_STATIC_ROOT=/app/static-root /opt/hearth/bin/python manage.py collectstatic --noinput -v0 \
 && /opt/hearth/bin/python -m compileall -q -j 0 /opt/hearth/lib /app

# ---- the image: the runtime packages, the virtualenv and the code; no compilers, no pip caches -----
FROM ${BASE}
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PATH=/opt/hearth/bin:$PATH \
    HEARTH_VAR_DIR=/var/lib/hearth HEARTH_STATIC_ROOT=/app/static-root

# python3 where the base has none (the bootstrapped one); openssh-sftp-server: the files image is built
# from it (nodes/client/files_image.py); zstd and openssl (with the base image's bash, tar and gzip): the
# tools image of backups (nodes/client/tools_image.py); postgresql-client: manage.py panel_backup.
# The user's uid is fixed (999), so a directory mounted from the host (panel backups) can be given to it.
RUN apt-get update \
 && { command -v python3 >/dev/null || apt-get install -y --no-install-recommends python3; } \
 && apt-get install -y --no-install-recommends openssh-client openssh-sftp-server zstd openssl postgresql-client \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 999 --user-group --home /var/lib/hearth --create-home hearth

COPY --from=build /opt/hearth /opt/hearth
COPY --from=build /app /app
WORKDIR /app

USER hearth
EXPOSE 8000 2022
# The web process answers /api/health; the other processes' services set their own check (compose).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/api/health', timeout=4)"]
# The web process's options are the Procfile's (its comments say why each is there).
CMD ["uvicorn", "config.asgi:application", "--host", "0.0.0.0", "--port", "8000", "--http", "h11", \
     "--ws", "websockets-sansio", "--ws-max-size", "1048576", "--ws-per-message-deflate", "false", \
     "--ws-ping-interval", "20", "--ws-ping-timeout", "20", "--no-proxy-headers", \
     "--no-server-header", "--timeout-keep-alive", "5", "--timeout-graceful-shutdown", "10", \
     "--lifespan", "off"]
