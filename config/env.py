"""The environment the settings are read from: `.env` in the project root (never overriding what the
process was given), and the two directories everything else defaults under."""

import os
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
if (BASE_DIR / ".env").exists():
    environ.Env.read_env(BASE_DIR / ".env", overwrite=False)


# Settings that may hold a secret, besides every HEARTH_ one.
SECRET_SETTINGS = (
    "SECRET_KEY",
    "DATABASE_URL",
    "REDIS_URL",
    "CELERY_BROKER_URL",
    "EMAIL_URL",
    "JWT_SIGNING_KEY",
)
SECRET_FILE_MAX_BYTES = 64 * 1024


def read_secret_files(environment=os.environ) -> None:
    """`NAME_FILE=/run/secrets/x` sets NAME (SECRET_KEY, DATABASE_URL, any HEARTH_ setting...) to that
    file's content, its final newline dropped, unless the process was given NAME itself: secrets from
    Docker or Kubernetes secret files, never in the environment or the image. A named file that
    cannot be read, or is larger than a secret, stops the start."""
    for key in list(environment):
        name = key.removesuffix("_FILE")
        if name == key or name in environment or not (name in SECRET_SETTINGS or name.startswith("HEARTH_")):
            continue
        path = Path(environment[key])
        try:
            if path.stat().st_size > SECRET_FILE_MAX_BYTES:
                raise SystemExit(f"{key}: {path} is larger than {SECRET_FILE_MAX_BYTES} bytes: not a secret")
            environment[name] = path.read_text().removesuffix("\n").removesuffix("\r")
        except OSError as exc:
            raise SystemExit(f"{key}: cannot read {path}: {exc.strerror}") from exc


read_secret_files()

VAR_DIR = Path(env("HEARTH_VAR_DIR", default=str(BASE_DIR / "var")))
DATA_DIR = Path(env("HEARTH_DATA_DIR", default=str(VAR_DIR / "data")))
