"""GET /api/servers/<id>/plugins and what is done to them: files uploaded by hand recognised by hash,
enable/disable by renaming, uninstall, update checks and updates that change nothing when they fail."""

from accounts.models import AuditLog
from marketplace.models import InstalledPlugin
from servers.models import Job
from tests.marketplace.conftest import names_in, put
from tests.marketplace.test_install import install, job_of
from tests.standins import marketplace_catalog as catalog

OLD_LUCKY = "/cdn/modrinth/data/hrtLuck1/versions/v540/luckyperms-5.4.0.jar"


def listing(client, server):
    answer = client.get(f"/api/servers/{server.pk}/plugins")
    assert answer.status_code == 200, answer.content
    return answer.json()["data"]


def post(client, server, action, **body):
    return client.post(f"/api/servers/{server.pk}/plugins/{action}", body, format="json")


def test_hand_uploaded_files_are_recognised_by_their_hash(mc_server, customer, client_for, marketplace):
    server, client = mc_server("paper", "1.20.1"), client_for(customer)
    put(server, "/plugins/LuckPerms.jar", catalog.content(OLD_LUCKY))
    put(server, "/plugins/homemade.jar", b"PK\x03\x04 not known anywhere")
    put(server, "/plugins/config.yml", b"not a plugin")
    data = listing(client, server)
    rows = {row["path"]: row for row in data["plugins"]}
    assert set(rows) == {"/plugins/LuckPerms.jar", "/plugins/homemade.jar"}
    known = rows["/plugins/LuckPerms.jar"]
    assert (known["origin"], known["source"], known["name"], known["version"], known["enabled"]) == (
        "identified",
        "modrinth",
        "LuckyPerms",
        "5.4.0",
        True,
    )
    assert (
        rows["/plugins/homemade.jar"]["origin"] == "manual"
        and rows["/plugins/homemade.jar"]["source"] is None
    )
    asked = len(marketplace.requests())
    listing(client, server)  # hashes and lookups are cached: nothing asked again
    assert len(marketplace.requests()) == asked, [r["path"] for r in marketplace.requests()]


def test_disable_enable_and_uninstall(
    mc_server, customer, client_for, marketplace, django_capture_on_commit_callbacks
):
    server, client = mc_server("paper", "1.20.1"), client_for(customer)
    install(client, server, django_capture_on_commit_callbacks, source="modrinth", projectId="hrtVault")
    path = "/plugins/vaultish-1.7.3.jar"
    assert post(client, server, "disable", path=path).json()["data"] == {"path": path, "enabled": False}
    assert names_in(server, "/plugins") == {"vaultish-1.7.3.jar.disabled"}
    row = listing(client, server)["plugins"][0]
    assert (row["path"], row["enabled"], row["fileName"], row["source"]) == (
        path,
        False,
        "vaultish-1.7.3.jar.disabled",
        "modrinth",
    )
    assert post(client, server, "disable", path=path).status_code == 200  # already: nothing to do
    assert post(client, server, "enable", path=path + ".disabled").json()["data"]["enabled"] is True
    assert names_in(server, "/plugins") == {"vaultish-1.7.3.jar"}
    assert post(client, server, "uninstall", path=path).status_code == 200
    assert names_in(server, "/plugins") == set()
    assert not InstalledPlugin.objects.filter(server=server).exists()
    actions = set(AuditLog.objects.filter(resource_id=str(server.pk)).values_list("action", flat=True))
    assert {"plugin.disable", "plugin.enable", "plugin.uninstall"} <= actions
    assert post(client, server, "uninstall", path=path).status_code == 404
    for bad in ("/server.properties", "/plugins/../x.jar", "/plugins/x.txt"):
        assert post(client, server, "disable", path=bad).status_code == 400, bad


def test_updates_are_found_and_installed_keeping_the_old_file_until_then(
    mc_server, customer, client_for, marketplace, django_capture_on_commit_callbacks
):
    server, client = mc_server("paper", "1.20.1"), client_for(customer)
    install(
        client,
        server,
        django_capture_on_commit_callbacks,
        source="modrinth",
        projectId="hrtLuck1",
        versionId="v540",
    )
    post(client, server, "disable", path="/plugins/luckyperms-5.4.0.jar")
    checked = post(client, server, "check-updates").json()["data"]
    assert checked["updates"] == 1
    row = next(r for r in checked["plugins"] if r["name"] == "LuckyPerms")
    assert row["update"] == {"versionId": "v541", "version": "5.4.1"}
    marketplace.fault(match="/cdn/modrinth/data/hrtLuck1/versions/v541/", corrupt=True, times=1)
    with django_capture_on_commit_callbacks(execute=True):
        failed = post(client, server, "update")
    assert failed.status_code == 202
    assert job_of(failed).status == Job.Status.FAILED
    assert names_in(server, "/plugins") == {
        "luckyperms-5.4.0.jar.disabled"
    }  # Vaultish came with it: gone too
    with django_capture_on_commit_callbacks(execute=True):
        done = post(client, server, "update", paths=["/plugins/luckyperms-5.4.0.jar"])
    assert job_of(done).status == Job.Status.SUCCEEDED, job_of(done).error
    # 5.4.1 needs Vaultish, which the server lacked: the update brought it.
    assert names_in(server, "/plugins") == {"luckyperms-5.4.1.jar.disabled", "vaultish-1.7.3.jar"}
    record = InstalledPlugin.objects.get(server=server, project_id="hrtLuck1")
    assert (record.path, record.version_id, record.has_update) == (
        "/plugins/luckyperms-5.4.1.jar",
        "v541",
        False,
    )
    assert post(client, server, "update").status_code == 409  # nothing left to update


def test_who_may_list_and_change(mc_server, customer, stranger, client_for, member_with, marketplace):
    server = mc_server()
    put(server, "/plugins/a.jar", b"PK\x03\x04")
    assert client_for(stranger).get(f"/api/servers/{server.pk}/plugins").status_code == 404
    reader = client_for(member_with(server, "file.read"))
    assert reader.get(f"/api/servers/{server.pk}/plugins").status_code == 200
    assert post(reader, server, "disable", path="/plugins/a.jar").status_code == 403
    assert post(reader, server, "uninstall", path="/plugins/a.jar").status_code == 403
    assert names_in(server, "/plugins") == {"a.jar"}
