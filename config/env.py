"""The environment the settings are read from: `.env` in the project root (never overriding what the
process was given), and the two directories everything else defaults under."""

from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
if (BASE_DIR / ".env").exists():
    environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

VAR_DIR = Path(env("HEARTH_VAR_DIR", default=str(BASE_DIR / "var")))
DATA_DIR = Path(env("HEARTH_DATA_DIR", default=str(VAR_DIR / "data")))
