"""The suite's root: registers the one fixtures plugin (tests/fixtures/). Services are real: see
scripts/testenv.sh. Directory conftests only switch plugin fixtures on for their tests."""

import pytest

# The plugin's modules are imported just below, before pytest would load them: let it rewrite their asserts.
pytest.register_assert_rewrite("tests.fixtures", "tests.polling")

from tests.fixtures import PASSWORD, require_env, tokens_for  # noqa: E402, F401 - imported from here by older tests

pytest_plugins = [
    "tests.fixtures.env",
    "tests.fixtures.accounts",
    "tests.fixtures.nodes",
    "tests.fixtures.servers",
    "tests.fixtures.templates",
    "tests.fixtures.worker",
    "tests.fixtures.browser",
    "tests.fixtures.backups",
    "tests.fixtures.databases",
    "tests.fixtures.plans",
    "tests.fixtures.marketplace",
]


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "real_worker: the module's tasks run on a real Celery worker thread, not eagerly"
    )
    config.addinivalue_line(
        "markers",
        "stops_services: stops an engine or an sshd of the test environment (never run beside others)",
    )
