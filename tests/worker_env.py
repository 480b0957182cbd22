"""Each pytest-xdist worker runs against its own share of the test environment.

scripts/testenv.sh writes one env file per share (env, env-a, env-b…): its own PostgreSQL database,
Redis database (the tests clear the cache and purge the broker, so two workers must never share one),
cache prefix and S3 bucket. The Docker engines and SSH nodes are shared: the tests only ever touch their
own containers. Loaded with `-p` by scripts/run-tests.sh, before Django reads its settings.
"""

import os
import shlex


def _load(path: str) -> None:
    with open(path) as handle:
        for line in handle:
            words = shlex.split(line, comments=True)
            if len(words) == 2 and words[0] == "export" and "=" in words[1]:
                key, value = words[1].split("=", 1)
                os.environ[key] = value


def worker_index() -> int:
    """0 outside xdist and for its first worker, then 1, 2…"""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    return int(worker[2:]) if worker.startswith("gw") else 0


_index = worker_index()
if _index:
    shares = os.environ.get("HEARTH_TEST_WORKER_ENVS", "").split()
    if len(shares) < _index:
        raise RuntimeError(f"no env file for xdist worker {_index}: set HEARTH_TEST_WORKER_ENVS")
    _load(shares[_index - 1])
    os.environ["HEARTH_VAR_DIR"] = f"{os.environ['HEARTH_VAR_DIR']}-{_index}"
    os.makedirs(os.environ["HEARTH_VAR_DIR"], exist_ok=True)
