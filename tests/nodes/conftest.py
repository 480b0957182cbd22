"""The node tests use the plugin's fixtures (tests/fixtures/nodes.py); `testenv` stays importable here."""

from tests.fixtures.nodes import ROOT, testenv  # noqa: F401 - imported from here by node tests
