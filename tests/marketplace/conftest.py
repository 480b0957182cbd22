"""Marketplace tests: sources are the local stand-in (tests/standins/marketplace.py, a process), servers
are real (their files on the test engines, written through the helper container)."""

import pytest

from servers.files.helper import session
from servers.models import ServerMember
from templates_app.models import Template
from tests.fixtures.servers import stopped_server


@pytest.fixture(autouse=True)
def _on_the_engines(_eager_tasks, _no_leftover_containers):
    yield


@pytest.fixture
def mc_server(game_node, game_template, customer, marketplace):
    """`mc_server(loader="paper", game_version="1.20.1", engine=1, via="unix")`: a stopped server of
    `customer`'s whose template says what it runs (TYPE and MINECRAFT_VERSION, as itzg's images do)."""

    nodes = {}

    def make(
        loader: str = "paper", game_version: str = "1.20.1", engine: int = 1, via: str = "unix", **fields
    ):
        template = Template.objects.create(
            name=f"{loader or 'plain'} {game_version or 'any'} {engine}{via}",
            docker_image=game_template.docker_image,
            start_command=game_template.start_command,
            stop_command="stop",
            data_path=game_template.data_path,
            environment={
                k: v for k, v in {"TYPE": loader.upper(), "MINECRAFT_VERSION": game_version}.items() if v
            },
        )
        fields.setdefault("owner", customer)
        if (engine, via) not in nodes:  # one node per engine: two on one engine are refused
            nodes[engine, via] = game_node(engine, via)
        return stopped_server(node=nodes[engine, via], template=template, name=template.name[:40], **fields)

    return make


@pytest.fixture
def member_with(make_user):
    def make(server, *permissions):
        user = make_user()
        ServerMember.objects.create(server=server, user=user, permissions=list(permissions))
        return user

    return make


def names_in(server, directory: str) -> set:
    with session(server) as files:
        try:
            return {e.name for e in files.list(server.template.data_path + directory)}
        except Exception:
            return set()


def read_back(server, path: str) -> bytes:
    with session(server) as files:
        return b"".join(files.read(server.template.data_path + path))


def put(server, path: str, content: bytes) -> None:
    with session(server) as files:
        directory = server.template.data_path + path.rsplit("/", 1)[0]
        if not files.exists(directory):
            files.mkdir(directory)
        files.write(server.template.data_path + path, [content])
