"""The realtime tests drive servers on the engines as the server tests do (tests/fixtures/servers.py)."""

import pytest


@pytest.fixture(autouse=True)
def _on_the_engines(_eager_tasks, _no_leftover_containers):
    yield
