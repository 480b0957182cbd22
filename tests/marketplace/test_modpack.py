"""A Modrinth .mrpack installs into a server: every file the server needs downloaded and checked
against its SHA-1 and SHA-512, client-only files skipped, overrides then server-overrides written; a
hostile pack (paths out of the server, symlinks, missing hashes) writes nothing."""

import io
import json
import zipfile

import pytest

from marketplace.download import DownloadRefused
from marketplace.models import InstalledPlugin
from marketplace.modpack import override_entries, read_index
from servers.models import Job
from tests.marketplace.conftest import names_in, read_back
from tests.marketplace.test_install import install, job_of
from tests.standins import marketplace_catalog as catalog


@pytest.mark.parametrize(("engine", "via"), [(1, "unix"), (2, "ssh")])
def test_a_modpack_installs_with_every_hash_checked(
    mc_server, customer, client_for, marketplace, django_capture_on_commit_callbacks, engine, via
):
    server = mc_server("fabric", "1.20.1", engine=engine, via=via)
    job = job_of(
        install(
            client_for(customer),
            server,
            django_capture_on_commit_callbacks,
            source="modrinth",
            projectId="hearth-pack",
        )
    )
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert names_in(server, "/mods") == {"lithium-lite-0.12.0.jar", "fabric-api-lite-0.91.0.jar"}
    assert read_back(server, "/mods/lithium-lite-0.12.0.jar") == catalog.content(
        "/cdn/modrinth/data/hrtLith1/versions/vl0120/lithium-lite-0.12.0.jar"
    )
    assert read_back(server, "/config/lithium.properties") == b"mixin.ai=false\n"
    assert read_back(server, "/server.properties") == b"motd=Hearth Pack\n"
    assert "The pack needs fabric 0.15.11 on Minecraft 1.20.1" in job.log
    pack = InstalledPlugin.objects.get(server=server, path="/")
    assert (pack.project_type, pack.version_id) == ("modpack", "vhp10")
    mod = InstalledPlugin.objects.get(server=server, path="/mods/lithium-lite-0.12.0.jar")
    assert (mod.project_id, mod.version_id) == ("hrtLith1", "vl0120")


def test_a_mod_of_the_pack_that_does_not_match_fails_it_all(
    mc_server, customer, client_for, marketplace, django_capture_on_commit_callbacks
):
    server = mc_server("fabric", "1.20.1")
    marketplace.fault(match="/cdn/modrinth/data/hrtFapi1/", corrupt=True, times=None)
    job = job_of(
        install(
            client_for(customer),
            server,
            django_capture_on_commit_callbacks,
            source="modrinth",
            projectId="hrtPack1",
        )
    )
    assert job.status == Job.Status.FAILED and "does not match" in job.error
    assert names_in(server, "/mods") == set() and names_in(server, "/config") == set()
    assert not InstalledPlugin.objects.filter(server=server).exists()


def test_a_paper_server_is_not_given_a_fabric_pack(
    mc_server, customer, client_for, marketplace, django_capture_on_commit_callbacks
):
    answer = install(
        client_for(customer),
        mc_server("paper", "1.20.1"),
        django_capture_on_commit_callbacks,
        source="modrinth",
        projectId="hrtPack1",
    )
    assert answer.status_code == 409


def pack(index=None, extra: dict | None = None, symlink: str = "") -> zipfile.ZipFile:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        entry = {
            "path": "mods/a.jar",
            "hashes": {"sha1": "a", "sha512": "b"},
            "downloads": ["https://cdn.modrinth.com/a"],
        }
        archive.writestr(
            "modrinth.index.json",
            json.dumps(index or {"formatVersion": 1, "game": "minecraft", "files": [entry]}),
        )
        for name, content in (extra or {}).items():
            archive.writestr(name, content)
        if symlink:
            info = zipfile.ZipInfo(symlink)
            info.external_attr = 0o120777 << 16
            archive.writestr(info, "/etc/passwd")
    return zipfile.ZipFile(buffer)


@pytest.mark.parametrize(
    "path", ["../outside.jar", "/etc/cron.d/x", "mods/../../x", "mods\\..\\x", "", "mods//a.jar", "./a"]
)
def test_an_index_path_out_of_the_server_refuses_the_pack(path):
    index = {
        "formatVersion": 1,
        "game": "minecraft",
        "files": [{"path": path, "hashes": {"sha1": "a", "sha512": "b"}, "downloads": ["https://x/a"]}],
    }
    with pytest.raises(DownloadRefused):
        read_index(pack(index))


@pytest.mark.parametrize(
    "index",
    [
        {"formatVersion": 2, "game": "minecraft", "files": []},
        {"formatVersion": 1, "game": "other", "files": []},
        {
            "formatVersion": 1,
            "game": "minecraft",
            "files": [{"path": "a.jar", "hashes": {"sha1": "a"}, "downloads": ["https://x"]}],
        },
        {
            "formatVersion": 1,
            "game": "minecraft",
            "files": [{"path": "a.jar", "hashes": {"sha1": "a", "sha512": "b"}, "downloads": []}],
        },
    ],
)
def test_an_index_that_is_not_format_1_with_both_hashes_is_refused(index):
    with pytest.raises(DownloadRefused):
        read_index(pack(index))


def test_overrides_are_checked_and_the_servers_win():
    found = override_entries(
        pack(extra={"overrides/a.txt": "1", "server-overrides/a.txt": "2", "overrides/b/c": "3"})
    )
    assert {name: info.filename for name, info in found.items()} == {
        "a.txt": "server-overrides/a.txt",
        "b/c": "overrides/b/c",
    }
    with pytest.raises(DownloadRefused):
        override_entries(pack(symlink="overrides/mods"))
    with pytest.raises(DownloadRefused):
        override_entries(pack(extra={"overrides/../../escape": "x"}))
