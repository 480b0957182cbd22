"""Installed plugins in the admin: listed across servers with their updates; the actions check for
updates and install them through the same services as the API; nothing is added or edited by hand."""

from marketplace.models import InstalledPlugin
from servers.models import Job
from tests.marketplace.test_install import install

ADMIN = "/admin/marketplace/installedplugin/"


def test_staff_list_check_and_update(
    mc_server, customer, admin, signed_in, client_for, marketplace, django_capture_on_commit_callbacks
):
    server = mc_server("paper", "1.20.1")
    install(
        client_for(customer),
        server,
        django_capture_on_commit_callbacks,
        source="modrinth",
        projectId="hrtLuck1",
        versionId="v540",
    )
    plugin = InstalledPlugin.objects.get(server=server)
    client = signed_in(admin)
    listing = client.get(ADMIN).content.decode()
    assert "LuckyPerms" in listing and "5.4.0" in listing
    assert client.get(f"{ADMIN}add/").status_code == 403
    answer = client.post(
        ADMIN, {"action": "check_updates", "_selected_action": [str(plugin.pk)]}, follow=True
    )
    assert "1 update(s) available" in answer.content.decode()
    plugin.refresh_from_db()
    assert plugin.latest_version_name == "5.4.1"
    with django_capture_on_commit_callbacks(execute=True):
        answer = client.post(
            ADMIN, {"action": "install_updates", "_selected_action": [str(plugin.pk)]}, follow=True
        )
    assert "update job" in answer.content.decode()
    job = Job.objects.filter(server=server, kind=Job.Kind.PLUGIN).latest("created_at")
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert InstalledPlugin.objects.get(server=server, project_id="hrtLuck1").version_id == "v541"


def test_an_action_that_is_refused_says_why(
    mc_server, customer, admin, signed_in, client_for, marketplace, django_capture_on_commit_callbacks
):
    server = mc_server("paper", "1.20.1")
    install(
        client_for(customer),
        server,
        django_capture_on_commit_callbacks,
        source="modrinth",
        projectId="hrtVault",
    )
    plugin = InstalledPlugin.objects.get(server=server)
    answer = signed_in(admin).post(
        ADMIN, {"action": "install_updates", "_selected_action": [str(plugin.pk)]}, follow=True
    )
    assert "None of these has an update" in answer.content.decode()


def test_customers_do_not_see_it(signed_in, customer, marketplace):
    assert signed_in(customer).get(ADMIN).status_code in (302, 403)
