"""Long file jobs (compress, decompress, pull) per server are capped: they share the workers with
everyone's installs and power actions. A suspended server gets no new helper, even from a job that
began before the suspension."""

from datetime import timedelta

import pytest
from django.utils import timezone

from config.errors import Suspended
from servers.files.access import FILE_JOBS_PER_SERVER
from servers.files.helper import open_session
from servers.models import Job, Server


def test_a_server_with_its_jobs_under_way_gets_409_and_stale_ones_do_not_count(
    files_server, customer, client_for
):
    server = files_server()
    for _ in range(FILE_JOBS_PER_SERVER):
        Job.objects.create(server=server, kind=Job.Kind.PULL, status=Job.Status.RUNNING)
    api = client_for(customer)
    body = {"paths": ["/"], "archiveName": "all.tar.gz"}
    refused = api.post(f"/api/servers/{server.pk}/files/compress", body, format="json")
    assert refused.status_code == 409, refused.content
    assert "jobs under way" in refused.json()["message"]
    Job.objects.filter(server=server).update(created_at=timezone.now() - timedelta(hours=2))
    pull = api.post(
        f"/api/servers/{server.pk}/files/pull",
        {"url": "http://198.51.100.7/x.jar", "path": "/"},
        format="json",
    )
    assert pull.status_code != 409, pull.content


def test_no_helper_starts_for_a_server_suspended_since_it_was_read(files_server):
    server = files_server()
    Server.objects.filter(pk=server.pk).update(status=Server.Status.SUSPENDED)
    with pytest.raises(Suspended):
        open_session(server)  # `server` still says stopped, as a long job's copy would
