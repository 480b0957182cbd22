"""The template tests use the plugin's fixtures (tests/fixtures/templates.py); the helpers stay importable
here for older imports."""

from tests.fixtures.templates import EGGS, egg_bytes, template_fields, variable  # noqa: F401
