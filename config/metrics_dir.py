"""The prometheus multiprocess directory (README "Monitoring"), without Django: the settings set it up
for each process, and `python -m config.metrics_dir --wipe` empties it when the panel starts (scripts/run.sh,
the compose file's migrate step), so counters of an earlier run and gauges of dead processes are gone."""

import os
import shutil
import sys
from pathlib import Path

from config.env import VAR_DIR, env

# Set beside the variable when we derived it from the var dir: a child process with a var dir of its own
# (a test worker: tests/worker_env.py) derives its own instead of inheriting its parent's.
DERIVED = "HEARTH_PROMETHEUS_DIR_DERIVED"


def configured() -> Path:
    """PROMETHEUS_MULTIPROC_DIR when the operator set it, else `prometheus` under the var dir."""
    given = env("PROMETHEUS_MULTIPROC_DIR", default="")
    if given and given != os.environ.get(DERIVED):
        return Path(given)
    return VAR_DIR / "prometheus"


def prepare() -> str:
    """Create the directory and export it to prometheus_client, which reads the variable when the first
    metric is made."""
    path = str(configured())
    if path != env("PROMETHEUS_MULTIPROC_DIR", default=""):
        os.environ[DERIVED] = path
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = path
    os.makedirs(path, exist_ok=True)
    return path


def wipe() -> Path:
    path = configured()
    if path.is_dir():
        for entry in path.glob("*.db"):
            entry.unlink(missing_ok=True)
    else:
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True, exist_ok=True)
    return path


if __name__ == "__main__":
    if sys.argv[1:] != ["--wipe"]:
        sys.exit("usage: python -m config.metrics_dir --wipe")
    print(f"metrics: emptied {wipe()}")
