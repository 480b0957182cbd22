"""The egg features' effects on the API: the EULA accept (eula.txt written through the files service,
audited, then a start) and its refusals; the template's features in the server detail."""

import pytest
from django.utils import timezone

from accounts.models import AuditLog
from config.errors import IllegalTransition
from servers.features import CONSOLE_PATTERNS, offers, server_accept_eula
from servers.models import Job, Server, ServerMember
from tests.fixtures.servers import stopped_server
from tests.matrix import on_an_unreachable_node
from tests.servers.conftest import wait_status

S = Server.Status


@pytest.fixture
def eula_server(files_server, game_template):
    """An installed, stopped server of `customer`'s whose template has the eula feature."""
    game_template.features = ["EULA", "java_version"]  # compared without case, as Pterodactyl does
    game_template.save()

    def make(engine: int = 1, via: str = "unix", **fields) -> Server:
        fields.setdefault("installed_at", timezone.now())
        return files_server(engine, via, **fields)

    return make


def test_accepting_the_eula_writes_the_file_audits_and_starts_the_server(
    client_for, customer, make_user, eula_server, monitor
):
    server = eula_server(2, "ssh")
    api = client_for(customer)
    assert api.get(f"/api/servers/{server.pk}").json()["data"]["template"]["features"] == [
        "EULA",
        "java_version",
    ]
    # A member who may start the server and write its files, never restart or stop it: enough here.
    member = member_of(server, make_user, ["server.start", "file.write"])
    response = client_for(member).post(f"/api/servers/{server.pk}/eula")
    assert response.status_code == 200, response.content
    job = Job.objects.get(pk=response.json()["jobId"])
    assert job.kind == Job.Kind.POWER and job.detail["action"] == "start"
    assert api.get(f"/api/servers/{server.pk}/files/content?path=/eula.txt").json()["data"]["content"] == (
        "eula=true\n"
    )
    assert AuditLog.objects.filter(action="server.eula_accepted", user=member).exists()
    wait_status(server, S.RUNNING, S.CRASHED)
    assert server.status == S.RUNNING, server.status_reason
    assert api.post(f"/api/servers/{server.pk}/kill").status_code == 200


def member_of(server: Server, make_user, permissions: list[str]):
    user = make_user()
    ServerMember.objects.create(server=server, user=user, permissions=permissions)
    return user


def test_it_needs_both_file_write_and_start(client_for, make_user, eula_server):
    server = eula_server()
    for permissions in (["server.start"], ["file.write"], ["server.read"]):
        member = member_of(server, make_user, permissions)
        response = client_for(member).post(f"/api/servers/{server.pk}/eula")
        assert response.status_code == 403, (permissions, response.content)
    assert not AuditLog.objects.filter(action="server.eula_accepted").exists()


def test_another_users_server_is_not_found(client_for, stranger, eula_server):
    assert client_for(stranger).post(f"/api/servers/{eula_server().pk}/eula").status_code == 404


def test_a_template_without_the_eula_feature_is_a_conflict(client_for, customer, files_server):
    server = files_server(installed_at=timezone.now())
    response = client_for(customer).post(f"/api/servers/{server.pk}/eula")
    assert response.status_code == 409 and "eula feature" in response.json()["message"]


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"status": S.SUSPENDED}, 423),
        ({"status": S.INSTALLING}, 409),
        ({"status": S.STOPPING}, 409),
        ({"status": S.RUNNING}, 409),  # never a restart: the game printed the line and exited
        ({"status": S.STARTING}, 409),
        ({"installed_at": None}, 409),
    ],
)
def test_a_suspended_busy_running_or_uninstalled_server_writes_nothing(
    client_for, make_user, eula_server, fields, expected
):
    status = fields.pop("status", S.STOPPED)
    server = eula_server(**fields)
    Server.objects.filter(pk=server.pk).update(status=status)
    member = member_of(server, make_user, ["server.start", "file.write"])
    response = client_for(member).post(f"/api/servers/{server.pk}/eula")
    assert response.status_code == expected, response.content
    assert not AuditLog.objects.filter(action__in=["server.eula_accepted", "file.write"]).exists()
    assert not Job.objects.filter(server=server).exists()


def test_a_start_refused_after_the_check_writes_nothing(customer, eula_server):
    """The state moved between the page's request and the start (a stale row here): 409, no eula.txt."""
    server = eula_server()
    Server.objects.filter(pk=server.pk).update(status=S.RUNNING)
    with pytest.raises(IllegalTransition):
        server_accept_eula(server=server, actor=customer)  # this copy still says stopped
    assert not AuditLog.objects.filter(action__in=["server.eula_accepted", "file.write"]).exists()
    assert not Job.objects.filter(server=server).exists()


def test_a_write_that_fails_undoes_the_start(client_for, customer, eula_server):
    server = eula_server()
    api = client_for(customer)
    created = api.post(
        f"/api/servers/{server.pk}/files/create", {"path": "/eula.txt", "isDirectory": True}, format="json"
    )
    assert created.status_code in (200, 201), created.content
    response = api.post(f"/api/servers/{server.pk}/eula")
    assert response.status_code == 400, response.content
    server.refresh_from_db()
    assert server.status == S.STOPPED
    assert not Job.objects.filter(server=server).exists()
    assert not AuditLog.objects.filter(action__in=["server.eula_accepted", "server.start"]).exists()


def test_an_unreachable_node_is_503_and_starts_nothing(client_for, customer, eula_server):
    server = eula_server()
    on_an_unreachable_node({"id": server.pk})
    response = client_for(customer).post(f"/api/servers/{server.pk}/eula")
    assert response.status_code == 503, response.content
    assert not Job.objects.filter(server=server).exists()


def test_the_page_gets_the_patterns_of_its_templates_features_only(game_node, game_template, customer):
    game_template.features = ["eula", "gsl_token", "something_else"]
    game_template.save()
    server = stopped_server(node=game_node(), template=game_template, owner=customer)
    assert offers(server) == {"eula": CONSOLE_PATTERNS["eula"], "gsl_token": CONSOLE_PATTERNS["gsl_token"]}
    assert all(p == p.lower() for patterns in CONSOLE_PATTERNS.values() for p in patterns)
