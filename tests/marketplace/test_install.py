"""POST /api/servers/<id>/marketplace/plan and /install: the version that fits, its required
dependencies, conflicts refused before any job, and a job that writes verified files or nothing."""

import pytest

from accounts.models import AuditLog
from marketplace.models import InstalledPlugin
from servers.models import Job, Server
from tests.marketplace.conftest import names_in, put, read_back
from tests.standins import marketplace_catalog as catalog

LUCKY = "/cdn/modrinth/data/hrtLuck1/versions/v541/luckyperms-5.4.1.jar"
VAULT = "/cdn/modrinth/data/hrtVault/versions/vv173/vaultish-1.7.3.jar"


def install(client, server, capture, **body):
    with capture(execute=True):
        return client.post(f"/api/servers/{server.pk}/marketplace/install", body, format="json")


def job_of(answer) -> Job:
    return Job.objects.get(pk=answer.json()["jobId"])


@pytest.mark.parametrize(("engine", "via"), [(1, "unix"), (2, "ssh")])
def test_a_plugin_installs_with_its_dependency(
    mc_server, customer, client_for, marketplace, django_capture_on_commit_callbacks, engine, via
):
    server = mc_server("paper", "1.20.1", engine=engine, via=via)
    answer = install(
        client_for(customer),
        server,
        django_capture_on_commit_callbacks,
        source="modrinth",
        projectId="luckyperms",
    )
    assert answer.status_code == 202, answer.content
    plan = answer.json()["data"]
    assert [(s["projectName"], s["versionName"], s["reason"]) for s in plan["steps"]] == [
        ("LuckyPerms", "5.4.1", "requested"),
        ("Vaultish", "1.7.3", "needed by LuckyPerms"),
    ]
    job = job_of(answer)
    assert (job.kind, job.status, job.error) == (Job.Kind.PLUGIN, Job.Status.SUCCEEDED, "")
    assert names_in(server, "/plugins") == {"luckyperms-5.4.1.jar", "vaultish-1.7.3.jar"}
    assert read_back(server, "/plugins/luckyperms-5.4.1.jar") == catalog.content(LUCKY)
    record = InstalledPlugin.objects.get(server=server, path="/plugins/luckyperms-5.4.1.jar")
    assert (record.source, record.project_id, record.version_id, record.size) == (
        "modrinth",
        "hrtLuck1",
        "v541",
        len(catalog.content(LUCKY)),
    )
    assert record.hashes["sha512"] == catalog.sha512(LUCKY) and record.installed_by == customer
    audit = AuditLog.objects.get(action="plugin.install", resource_id=str(server.pk))
    assert audit.metadata["files"] == ["/plugins/luckyperms-5.4.1.jar", "/plugins/vaultish-1.7.3.jar"]


def test_an_installed_dependency_is_not_installed_again_and_a_version_can_be_chosen(
    mc_server, customer, client_for, marketplace, django_capture_on_commit_callbacks
):
    server, client = mc_server("paper", "1.20.1"), client_for(customer)
    install(client, server, django_capture_on_commit_callbacks, source="modrinth", projectId="hrtVault")
    answer = install(
        client,
        server,
        django_capture_on_commit_callbacks,
        source="modrinth",
        projectId="hrtLuck1",
        versionId="v540",
    )
    assert [s["versionId"] for s in answer.json()["data"]["steps"]] == ["v540"]
    plan = client.post(
        f"/api/servers/{server.pk}/marketplace/plan",
        {"source": "modrinth", "projectId": "hrtLuck1"},
        format="json",
    ).json()["data"]
    assert [(s["versionId"], s["replaces"]) for s in plan["steps"]] == [
        ("v541", "/plugins/luckyperms-5.4.0.jar")
    ]


def test_hangar_and_curseforge_installs_check_their_hashes(
    mc_server, customer, client_for, marketplace, django_capture_on_commit_callbacks
):
    paper, forge = mc_server("paper", "1.20.1"), mc_server("forge", "1.20.1", engine=1, via="unix")
    client = client_for(customer)
    job = job_of(
        install(client, paper, django_capture_on_commit_callbacks, source="hangar", projectId="HangarChat")
    )
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert names_in(paper, "/plugins") == {"HangarChat-2.1.0.jar", "Vaultish-1.7.3.jar"}
    assert job.detail["plan"]["optional"][0]["kind"] == "optional"  # PlaceholderAPI: offered only
    job = job_of(
        install(client, forge, django_capture_on_commit_callbacks, source="curseforge", projectId="2001")
    )
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert names_in(forge, "/mods") == {"forge-lite-mod-1.1.0.jar", "forge-lib-2.0.jar"}


def test_conflicts_and_misfits_are_409_before_any_job(
    mc_server, customer, client_for, marketplace, django_capture_on_commit_callbacks
):
    server, client = mc_server("paper", "1.20.1"), client_for(customer)
    install(client, server, django_capture_on_commit_callbacks, source="modrinth", projectId="hrtLuck1")
    jobs_before = Job.objects.count()
    cases = [
        ({"source": "modrinth", "projectId": "hrtOldPm"}, "incompatible with LuckyPerms"),
        ({"source": "modrinth", "projectId": "hrtVelo1"}, "No version of Velocity MOTD fits paper 1.20.1"),
        ({"source": "modrinth", "projectId": "hrtLith1", "versionId": "vl0120"}, "fabric, quilt"),
        ({"source": "spiget", "projectId": "1002"}, "premium"),
    ]
    for body, says in cases:
        answer = install(client, server, django_capture_on_commit_callbacks, **body)
        assert answer.status_code == 409, (body, answer.content)
        assert says in answer.json()["message"], (body, answer.json())
    forge = mc_server("forge", "1.20.1")
    answer = install(client, forge, django_capture_on_commit_callbacks, source="curseforge", projectId="2003")
    assert answer.status_code == 409 and "only through CurseForge" in answer.json()["message"]
    assert Job.objects.count() == jobs_before


@pytest.mark.parametrize(
    ("fault", "says"),
    [
        ({"corrupt": True}, "does not match its published sha512"),
        (
            {"status": 200, "body": "<html>Just a moment…</html>", "headers": {"Content-Type": "text/html"}},
            "web page",
        ),
        (
            {
                "status": 200,
                "body": "not a jar at all",
                "headers": {"Content-Type": "application/java-archive"},
            },
            "not a .jar or .zip",
        ),
        (
            {"redirect": "http://10.9.8.7/luckyperms.jar"},
            "http://10.9.8.7 is not a host this request may go to",
        ),
        ({"redirect": "http://127.0.0.1:9/luckyperms.jar"}, "not a host this request may go to"),
        ({"status": 404, "body": "gone"}, "answered 404"),
    ],
)
def test_a_bad_download_fails_the_job_and_leaves_nothing(
    mc_server, customer, client_for, marketplace, django_capture_on_commit_callbacks, fault, says
):
    server = mc_server("paper", "1.20.1")
    marketplace.fault(match="/cdn/modrinth/data/hrtVault/", times=None, **fault)
    job = job_of(
        install(
            client_for(customer),
            server,
            django_capture_on_commit_callbacks,
            source="modrinth",
            projectId="hrtLuck1",
        )
    )
    assert job.status == Job.Status.FAILED
    assert says in job.error, job.error
    assert names_in(server, "/plugins") == set()  # LuckyPerms was staged, then removed with the rest
    assert not InstalledPlugin.objects.filter(server=server).exists()


def test_a_download_host_that_resolves_to_a_private_address_is_refused(
    mc_server, customer, client_for, marketplace, django_capture_on_commit_callbacks, monkeypatch
):
    from marketplace.sources import SOURCES

    monkeypatch.setattr(type(SOURCES["modrinth"]), "download_hosts", ("cdn.modrinth.com", "10.9.8.7"))
    marketplace.fault(match="/cdn/modrinth/data/hrtVault/", redirect="http://10.9.8.7/v.jar", times=None)
    server = mc_server("paper", "1.20.1")
    job = job_of(
        install(
            client_for(customer),
            server,
            django_capture_on_commit_callbacks,
            source="modrinth",
            projectId="hrtVault",
        )
    )
    assert job.status == Job.Status.FAILED and "non-public address (private)" in job.error, job.error


def test_a_file_over_the_cap_or_the_disk_limit_is_refused(
    mc_server, customer, client_for, marketplace, django_capture_on_commit_callbacks, settings
):
    server, client = mc_server("paper", "1.20.1"), client_for(customer)
    settings.MARKETPLACE_MAX_FILE_BYTES = 100
    job = job_of(
        install(client, server, django_capture_on_commit_callbacks, source="modrinth", projectId="hrtVault")
    )
    assert job.status == Job.Status.FAILED and "100" in job.error
    settings.MARKETPLACE_MAX_FILE_BYTES = 512 * 1024**2
    marketplace.fault(match="/cdn/modrinth/data/hrtVault/", size=3 * 1024 * 1024, times=None)
    Server.objects.filter(pk=server.pk).update(allocated_disk_mb=1)
    server.refresh_from_db()
    job = job_of(
        install(client, server, django_capture_on_commit_callbacks, source="modrinth", projectId="hrtVault")
    )
    assert job.status == Job.Status.FAILED
    assert names_in(server, "/plugins") == set()


def test_who_may_install(
    mc_server, customer, stranger, client_for, member_with, marketplace, django_capture_on_commit_callbacks
):
    server = mc_server()
    body = {"source": "modrinth", "projectId": "hrtVault"}
    capture = django_capture_on_commit_callbacks
    assert install(client_for(stranger), server, capture, **body).status_code == 404
    assert install(client_for(member_with(server, "file.read")), server, capture, **body).status_code == 403
    assert install(client_for(customer), server, capture, source="modrinth").status_code == 400
    assert (
        install(client_for(customer), server, capture, source="elsewhere", projectId="x").status_code == 400
    )
    Server.objects.filter(pk=server.pk).update(status=Server.Status.INSTALLING)
    assert install(client_for(customer), server, capture, **body).status_code == 409
    Server.objects.filter(pk=server.pk).update(status=Server.Status.SUSPENDED)
    assert install(client_for(customer), server, capture, **body).status_code == 423
    assert not Job.objects.filter(server=server).exists()


def test_an_unreachable_source_is_503_and_makes_no_job(
    mc_server, customer, client_for, marketplace, django_capture_on_commit_callbacks, settings
):
    server = mc_server()
    settings.MODRINTH_URL = "http://127.0.0.1:9"  # nothing listens there (and loopback is refused)
    answer = install(
        client_for(customer),
        server,
        django_capture_on_commit_callbacks,
        source="modrinth",
        projectId="hrtVault",
    )
    assert answer.status_code == 503 and "Modrinth" in answer.json()["message"]
    assert not Job.objects.filter(server=server).exists()


def test_spiget_installs_its_latest_version_through_its_redirect(
    mc_server, customer, client_for, marketplace, django_capture_on_commit_callbacks
):
    server = mc_server("paper", "1.20.1")
    job = job_of(
        install(
            client_for(customer),
            server,
            django_capture_on_commit_callbacks,
            source="spiget",
            projectId="1001",
        )
    )
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert names_in(server, "/plugins") == {"SpigotEssentials-2.20.1.jar"}
    assert read_back(server, "/plugins/SpigotEssentials-2.20.1.jar") == catalog.content(
        "/cdn/spiget/file/spiget-resources/1001.jar"
    )
    record = InstalledPlugin.objects.get(server=server)
    assert record.hashes["sha1"] == catalog.sha1(
        "/cdn/spiget/file/spiget-resources/1001.jar"
    )  # ours: Spiget has none


def test_a_node_that_went_away_fails_the_job_with_the_reason(
    mc_server, customer, client_for, marketplace, django_capture_on_commit_callbacks
):
    from nodes.models import Node

    server = mc_server("paper", "1.20.1", engine=2, via="ssh")
    with django_capture_on_commit_callbacks(execute=True):
        answer = client_for(customer).post(
            f"/api/servers/{server.pk}/marketplace/install",
            {"source": "modrinth", "projectId": "hrtVault"},
            format="json",
        )
        Node.objects.filter(pk=server.node_id).update(docker_url="ssh://hearth@127.0.0.1:9")  # nothing there
    job = job_of(answer)
    assert job.status == Job.Status.FAILED
    assert "is unreachable" in job.error, job.error
    assert not InstalledPlugin.objects.filter(server=server).exists()


def test_two_installs_of_one_file_at_once_never_write_into_each_others_staged_copy(mc_server):
    from marketplace.install import staged
    from servers.files.helper import session

    server = mc_server("paper", "1.20.1")
    mount = server.template.data_path
    final = f"{mount}/plugins/same.jar"
    put(server, "/plugins/.keep", b"")
    with session(server) as files, staged(files, mount) as first, staged(files, mount) as second:
        first.write(final, [b"first install"])
        second.write(final, [b"second, half writ"])  # then it fails: it leaves without commit
        first.commit()
    assert read_back(server, "/plugins/same.jar") == b"first install"
    assert names_in(server, "/plugins") == {".keep", "same.jar"}  # the failed one's copy is gone
