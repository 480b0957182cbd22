# One image for every Hearth process; docker-compose.yml picks the command.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HEARTH_VAR_DIR=/var/lib/hearth HEARTH_STATIC_ROOT=/app/static-root

# openssh-sftp-server: the files image is built from it (nodes/client/files_image.py); zstd and openssl (with
# the base image's bash, tar and gzip): the tools image of backups (nodes/client/tools_image.py).
RUN apt-get update \
 && apt-get install -y --no-install-recommends openssh-client openssh-sftp-server zstd openssl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --home /var/lib/hearth --create-home hearth

WORKDIR /app
COPY pyproject.toml README.md ./
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
COPY manage.py ./
RUN pip install --no-cache-dir . \
 && SECRET_KEY=build-only python manage.py collectstatic --noinput -v0 \
 && rm -rf /var/lib/hearth/prometheus  # made by the build as root; the processes make their own (README "Monitoring")

USER hearth
EXPOSE 8000 2022
# The web process's options are the Procfile's (its comments say why each is there).
CMD ["uvicorn", "config.asgi:application", "--host", "0.0.0.0", "--port", "8000", "--http", "h11",
     "--ws", "websockets-sansio", "--ws-max-size", "1048576", "--ws-per-message-deflate", "false",
     "--ws-ping-interval", "20", "--ws-ping-timeout", "20", "--no-proxy-headers",
     "--no-server-header", "--timeout-keep-alive", "5", "--timeout-graceful-shutdown", "10",
     "--lifespan", "off"]
