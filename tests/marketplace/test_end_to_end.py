"""The marketplace end to end on the SSH node (engine 2 over ssh://): a mod installed with its
dependency into a real server's directory, listed, disabled, updated and uninstalled, through the API."""

from servers.models import Job
from tests.marketplace.conftest import names_in, read_back
from tests.marketplace.test_install import install, job_of
from tests.marketplace.test_installed import listing, post
from tests.standins import marketplace_catalog as catalog

FAPI_091 = "/cdn/modrinth/data/hrtFapi1/versions/vfa091/fabric-api-lite-0.91.0.jar"


def test_install_list_disable_update_and_uninstall_on_the_ssh_node(
    mc_server, customer, client_for, marketplace, django_capture_on_commit_callbacks
):
    server, client = mc_server("fabric", "1.20.1", engine=2, via="ssh"), client_for(customer)
    capture = django_capture_on_commit_callbacks

    job = job_of(install(client, server, capture, source="modrinth", projectId="lithium-lite"))
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert names_in(server, "/mods") == {"lithium-lite-0.12.0.jar", "fabric-api-lite-0.90.0.jar"}

    rows = {row["name"]: row for row in listing(client, server)["plugins"]}
    assert (rows["Fabric API Lite"]["version"], rows["Lithium Lite"]["version"]) == ("0.90.0", "0.12.0")

    assert post(client, server, "disable", path="/mods/fabric-api-lite-0.90.0.jar").status_code == 200
    checked = post(client, server, "check-updates").json()["data"]
    assert checked["updates"] == 1
    fapi = next(row for row in checked["plugins"] if row["name"] == "Fabric API Lite")
    assert (fapi["enabled"], fapi["update"]["version"]) == (False, "0.91.0")

    with capture(execute=True):
        answer = post(client, server, "update")
    updated = job_of(answer)
    assert updated.status == Job.Status.SUCCEEDED, updated.error
    assert names_in(server, "/mods") == {"lithium-lite-0.12.0.jar", "fabric-api-lite-0.91.0.jar.disabled"}
    assert read_back(server, "/mods/fabric-api-lite-0.91.0.jar.disabled") == catalog.content(FAPI_091)

    for path in ("/mods/lithium-lite-0.12.0.jar", "/mods/fabric-api-lite-0.91.0.jar"):
        assert post(client, server, "uninstall", path=path).status_code == 200
    assert names_in(server, "/mods") == set()
    assert listing(client, server)["plugins"] == []
