"""The realtime tests drive servers on the engines as the server tests do (tests/fixtures/servers.py)."""

import pytest


@pytest.fixture(autouse=True)
def _on_the_engines(_eager_tasks, _no_leftover_containers):
    yield


@pytest.fixture
def running(client_for, customer, game_node, game_template, monitor):
    """A running server of `customer`'s on engine 1, and the customer's API client."""
    from servers.models import Server
    from tests.servers.conftest import wait_status
    from tests.servers.test_lifecycle import create

    api = client_for(customer)
    server = create(api, game_node(), game_template, install=True)
    wait_status(server, Server.Status.STOPPED)
    api.post(f"/api/servers/{server.pk}/start")
    return wait_status(server, Server.Status.RUNNING), api
