"""Fixtures for the template tests: eggs on disk, a staff client and a small template factory."""

from pathlib import Path

import pytest

from templates_app.services import template_create

EGGS = Path(__file__).parent / "eggs"


def egg_bytes(name: str) -> bytes:
    return (EGGS / name).read_bytes()


def template_fields(**overrides) -> dict:
    fields = {
        "name": "Sample Game",
        "description": "The offline test game",
        "docker_image": "hearth/testgame:latest",
        "start_command": "/usr/local/bin/testgame --players {{MAX_PLAYERS}}",
        "stop_command": "stop",
        "ports": [{"internal": 25565, "protocol": "tcp"}],
        "environment": {"GAME_MEMORY": "{{SERVER_MEMORY}}M"},
        "required_variables": [],
    }
    fields.update(overrides)
    return fields


def variable(env, default="", *, editable=True, viewable=True, **rules) -> dict:
    return {
        "env_variable": env,
        "name": env.title(),
        "description": "",
        "default_value": default,
        "user_viewable": viewable,
        "user_editable": editable,
        "rules": rules,
    }


@pytest.fixture
def make_template(db):
    def make(variables=None, **overrides):
        return template_create(actor=None, variables=variables or [], **template_fields(**overrides))

    return make


@pytest.fixture
def staff(client_for, admin):
    return client_for(admin)
