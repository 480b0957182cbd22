"""File tests run on the real engines (local socket and SSH) and leave no container behind."""

import pytest


@pytest.fixture(autouse=True)
def _on_the_engines(_eager_tasks, _no_leftover_containers):
    yield
