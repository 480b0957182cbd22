"""POST /api/servers/<id>/files/pull: a job that downloads a URL (a local HTTP server, allowed by
OUTBOUND_ALLOW in the test) into the server's directory through config/outbound.py."""

import os

import pytest

from accounts.models import AuditLog
from servers.files.helper import session
from servers.models import Job, Server, ServerMember
from tests.config.test_outbound import Site, answer, redirect

MB = 1024 * 1024
NODES = [pytest.param(1, "unix", id="local"), pytest.param(2, "ssh", id="ssh")]


@pytest.fixture
def site(settings):
    settings.OUTBOUND_ALLOW = ["127.0.0.1/32"]
    local = Site()
    yield local
    local.close()


def pull(client, server, capture, **body):
    with capture(execute=True):
        return client.post(f"/api/servers/{server.pk}/files/pull", body, format="json")


def names_in(server, directory: str = "/") -> set[str]:
    with session(server) as files:
        return {e.name for e in files.list(server.template.data_path + directory.rstrip("/"))}


def read_back(server, path: str) -> bytes:
    with session(server) as files:
        return b"".join(files.read(server.template.data_path + path))


@pytest.mark.parametrize(("engine", "via"), NODES)
def test_it_pulls_a_url_into_a_directory_as_a_job(
    files_server, customer, client_for, site, django_capture_on_commit_callbacks, engine, via
):
    server = files_server(engine, via)
    content = os.urandom(3 * MB)
    site.routes["/mods/cool%20mod.jar"] = answer(content)
    answer_ = pull(
        client_for(customer),
        server,
        django_capture_on_commit_callbacks,
        url=site.url + "/mods/cool%20mod.jar",
    )
    assert answer_.status_code == 200, answer_.content
    assert answer_.json()["path"] == "/cool mod.jar"
    job = Job.objects.get(pk=answer_.json()["jobId"])
    assert (job.kind, job.status, job.progress, job.error) == (Job.Kind.PULL, Job.Status.SUCCEEDED, 100, "")
    assert job.detail["bytes"] == job.detail["total"] == len(content)
    assert read_back(server, "/cool mod.jar") == content
    audit = AuditLog.objects.get(action="file.pull", resource_id=str(server.pk))
    assert audit.metadata == {"url": site.url + "/mods/cool%20mod.jar", "path": "/cool mod.jar"}


def test_a_name_and_a_redirect(files_server, customer, client_for, site, django_capture_on_commit_callbacks):
    server = files_server()
    with session(server) as files:
        files.mkdir(server.template.data_path + "/plugins")
    site.routes["/real"] = answer(b"plugin", length=False)  # no Content-Length: progress in bytes only
    site.routes["/latest"] = redirect("/real")
    answer_ = pull(
        client_for(customer),
        server,
        django_capture_on_commit_callbacks,
        url=site.url + "/latest",
        path="/plugins",
        name="p.jar",
    )
    job = Job.objects.get(pk=answer_.json()["jobId"])
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert job.detail["total"] is None
    assert read_back(server, "/plugins/p.jar") == b"plugin"


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://127.0.0.2:9/x.jar", "loopback"),
        ("http://10.0.0.1/x.jar", "private"),
        ("http://169.254.169.254/latest/meta-data/", "metadata"),
        ("file:///etc/passwd", "Only http"),
        ("http://user:pw@example.com/x", "user name or password"),
    ],
)
def test_a_refused_url_is_400_and_makes_no_job(
    files_server, customer, client_for, site, django_capture_on_commit_callbacks, url, says
):
    server = files_server()
    answer_ = pull(client_for(customer), server, django_capture_on_commit_callbacks, url=url)
    assert answer_.status_code == 400
    assert says in answer_.json()["message"]
    assert not Job.objects.filter(server=server).exists()


def test_bad_names_and_paths_are_400(
    files_server, customer, client_for, site, django_capture_on_commit_callbacks
):
    server = files_server()
    client = client_for(customer)
    for body in (
        {"url": site.url + "/", "path": "/"},  # no file name in the URL
        {"url": site.url + "/a.jar", "name": "../x"},
        {"url": site.url + "/a.jar", "name": "a/b"},
        {"url": site.url + "/a.jar", "path": "/../.."},
        {"path": "/"},
    ):
        assert pull(client, server, django_capture_on_commit_callbacks, **body).status_code == 400, body
    assert not Job.objects.filter(server=server).exists()


def test_failures_end_the_job_and_leave_nothing(
    files_server, customer, client_for, site, django_capture_on_commit_callbacks, settings
):
    server = files_server()
    Server.objects.filter(pk=server.pk).update(allocated_disk_mb=1)
    server.refresh_from_db()
    client = client_for(customer)
    site.routes["/big.bin"] = answer(os.urandom(2 * MB), length=False)
    site.routes["/gone.bin"] = answer(b"nope", status=404)
    site.routes["/elsewhere"] = redirect("http://127.0.0.2:9/x")
    expected = {
        "/big.bin": "disk limit of 1 MB",
        "/gone.bin": "answered 404",
        "/elsewhere": "loopback",
        "/nowhere/x": None,
    }
    for path, says in expected.items():
        body = {"url": site.url + path} if says else {"url": site.url + "/big.bin", "path": "/nowhere"}
        job = Job.objects.get(
            pk=pull(client, server, django_capture_on_commit_callbacks, **body).json()["jobId"]
        )
        assert job.status == Job.Status.FAILED
        assert (says or "/nowhere") in job.error
    settings.OUTBOUND_MAX_BYTES = 1024
    Server.objects.filter(pk=server.pk).update(allocated_disk_mb=512)
    job = Job.objects.get(
        pk=pull(client, server, django_capture_on_commit_callbacks, url=site.url + "/big.bin").json()["jobId"]
    )
    assert "1024 bytes" in job.error
    assert names_in(server) == set()


def test_refusals(
    files_server, customer, stranger, make_user, client_for, site, django_capture_on_commit_callbacks
):
    server = files_server()
    body = {"url": site.url + "/a.jar"}
    assert pull(client_for(stranger), server, django_capture_on_commit_callbacks, **body).status_code == 404
    reader = make_user(email="reader@example.com", username="reader")
    ServerMember.objects.create(server=server, user=reader, permissions=["file.read"])
    assert pull(client_for(reader), server, django_capture_on_commit_callbacks, **body).status_code == 403
    Server.objects.filter(pk=server.pk).update(status=Server.Status.SUSPENDED)
    assert pull(client_for(customer), server, django_capture_on_commit_callbacks, **body).status_code == 423
    assert not Job.objects.filter(server=server).exists()
    assert site.hits == []
