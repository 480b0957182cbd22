"""The suite's one way to wait for something that happens elsewhere (a worker, the monitor, a process)."""

import time

import pytest


def wait_for(check, timeout: float = 15, what: str = "it", interval: float = 0.1):
    """Call `check` until it returns something truthy, and return that; fail the test, naming `what`,
    when `timeout` seconds pass first. `what` may be a callable, for a message built at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        if result := check():
            return result
        if time.monotonic() >= deadline:
            pytest.fail(f"Timed out after {timeout}s waiting for {what() if callable(what) else what}")
        time.sleep(interval)
