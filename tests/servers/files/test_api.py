"""The file manager's API on a local and an SSH node: every endpoint's answer, what lands on the node's
disk, and the audit log."""

import os

import pytest

from accounts.models import AuditLog
from servers import runtime

ENGINES = [(1, "unix"), (2, "ssh")]


def url(server, tail: str = "") -> str:
    return f"/api/servers/{server.pk}/files{tail}"


def host(server, path: str = "") -> str:
    return os.path.join(runtime.server_dir(server), path.lstrip("/"))


@pytest.fixture
def owner_api(client_for, customer):
    return client_for(customer)


@pytest.mark.parametrize(("engine", "via"), ENGINES)
def test_the_file_manager_round_trip(owner_api, files_server, engine, via):
    server = files_server(engine, via)
    api = owner_api

    made = api.post(
        url(server, "/create"), {"path": "/configs/new-config.yml", "content": "key: value\n"}, format="json"
    )
    assert made.status_code == 200, made.content
    assert made.json()["message"] == "File created successfully"
    assert (
        api.post(url(server, "/create"), {"path": "/backups", "isDirectory": True}, format="json").status_code
        == 200
    )
    with open(host(server, "/configs/new-config.yml")) as handle:
        assert handle.read() == "key: value\n"

    listing = api.get(url(server), {"path": "/"})
    assert listing.status_code == 200, listing.content
    entries = listing.json()["data"]
    assert [e["name"] for e in entries] == ["backups", "configs"]
    assert entries[0]["isDirectory"] and not entries[0]["isSymlink"] and entries[0]["size"] == 0
    assert entries[0]["modified"].endswith("Z") and len(entries[0]["mode"]) == 3
    (config,) = api.get(url(server), {"path": "/configs"}).json()["data"]
    assert config["name"] == "new-config.yml" and config["size"] == 11 and config["mode"] == "644"

    read = api.get(url(server, "/content"), {"path": "/configs/new-config.yml"})
    assert read.status_code == 200 and read.json()["data"]["content"] == "key: value\n"
    saved = api.put(
        url(server, "/content") + "?path=/configs/new-config.yml", {"content": "key: été\n"}, format="json"
    )
    assert saved.status_code == 200, saved.content
    with open(host(server, "/configs/new-config.yml"), encoding="utf-8") as handle:
        assert handle.read() == "key: été\n"

    chmod = api.post(
        url(server, "/chmod"), {"path": "/configs/new-config.yml", "mode": "0600"}, format="json"
    )
    assert chmod.status_code == 200, chmod.content
    assert os.stat(host(server, "/configs/new-config.yml")).st_mode & 0o777 == 0o600

    copy = api.post(url(server, "/copy"), {"from": "/configs", "to": "/backups/configs"}, format="json")
    assert copy.status_code == 200, copy.content
    with open(host(server, "/backups/configs/new-config.yml"), encoding="utf-8") as handle:
        assert handle.read() == "key: été\n"
    assert os.stat(host(server, "/backups/configs/new-config.yml")).st_mode & 0o777 == 0o600

    moved = api.post(
        url(server, "/rename"), {"from": "/configs/new-config.yml", "to": "/moved.yml"}, format="json"
    )
    assert moved.status_code == 200, moved.content
    assert os.path.exists(host(server, "/moved.yml")) and not os.path.exists(
        host(server, "/configs/new-config.yml")
    )

    deleted = api.delete(url(server) + "?path=/backups")
    assert deleted.status_code == 200, deleted.content
    assert deleted.json() == {"success": True, "message": "File deleted successfully"}
    assert not os.path.exists(host(server, "/backups"))

    actions = set(AuditLog.objects.filter(resource_id=str(server.pk)).values_list("action", flat=True))
    assert actions == {"file.create", "file.write", "file.chmod", "file.copy", "file.rename", "file.delete"}
