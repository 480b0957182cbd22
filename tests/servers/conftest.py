"""Every server test runs its tasks inline (or on the module's real worker, if marked) and leaves no
container of its own on the engines. The fixtures are the plugin's: tests/fixtures/servers.py."""

import pytest

from tests.fixtures.servers import BASE_PORT, PORTS, wait_status  # noqa: F401 - imported from here by tests


@pytest.fixture(autouse=True)
def _on_the_engines(_eager_tasks, _no_leftover_containers):
    yield
