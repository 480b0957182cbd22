# One image for every Hearth process; docker-compose.yml picks the command.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HEARTH_VAR_DIR=/var/lib/hearth HEARTH_STATIC_ROOT=/app/static-root

# openssh-sftp-server: the files image is built from it (nodes/client/files_image.py).
RUN apt-get update \
 && apt-get install -y --no-install-recommends openssh-client openssh-sftp-server \
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
 && SECRET_KEY=build-only python manage.py collectstatic --noinput -v0

USER hearth
EXPOSE 8000 2022
CMD ["daphne", "-b", "0.0.0.0", "-p", "8000", "config.asgi:application"]
