"""The marketplace under attack: a customer forging ids, paths and servers; a hostile source (its API
answers, its files, its modpacks); symlinks the customer planted; races. Tests that pass assert what
must hold (each was a problem found in review, or a guard against one)."""

import json
import urllib.request

import pytest

from marketplace.models import InstalledPlugin
from servers.files.helper import session
from servers.models import Job, Server
from tests.marketplace.conftest import names_in, put, read_back
from tests.marketplace.test_install import install, job_of
from tests.standins import marketplace_catalog as catalog

VAULT = "/cdn/modrinth/data/hrtVault/versions/vv173/vaultish-1.7.3.jar"


def vault_job(client_for, customer, server, capture) -> Job:
    """Install Vaultish from Modrinth (the stand-in's answers as the test scripted them); its job."""
    return job_of(install(client_for(customer), server, capture, source="modrinth", projectId="hrtVault"))


def raw_client(client_for, user):
    """An API client that answers a server error as a 500 rather than raising it into the test."""
    client = client_for(user)
    client.raise_request_exception = False
    return client


def standin_json(marketplace, path: str):
    """What the stand-in answers at `path` (e.g. "/modrinth/v2/version/vv173"), to tamper with."""
    with urllib.request.urlopen(marketplace.url(path), timeout=5) as answer:  # noqa: S310 - the stand-in
        return json.loads(answer.read())


def answer_json(marketplace, match: str, data, **extra) -> None:
    """From now on the stand-in answers `match` (a path prefix) with `data` as JSON."""
    body = data if isinstance(data, str) else json.dumps(data)
    marketplace.fault(
        match=match, status=200, body=body, headers={"Content-Type": "application/json"}, **extra
    )


def symlink(server, path: str, target: str) -> None:
    """A symbolic link at `path` (the customer's) to `target`, as the customer's game could plant it."""
    with session(server, denylist=False) as files:
        files.symlink(target, server.template.data_path + path)


def staff_read(server, path: str) -> bytes:
    with session(server, denylist=False) as files:
        return b"".join(files.read(server.template.data_path + path))


def protect(server, *patterns) -> Server:
    server.template.file_denylist = list(patterns)
    server.template.save(update_fields=["file_denylist"])
    return Server.objects.select_related("template", "node").get(pk=server.pk)


# ---- (a) a customer through the API ---------------------------------------------------------------


def test_every_endpoint_hides_other_customers_servers_and_checks_the_permission(
    mc_server, customer, stranger, client_for, member_with, marketplace, django_capture_on_commit_callbacks
):
    server = mc_server("paper", "1.20.1")
    put(server, "/plugins/a.jar", b"PK\x03\x04")
    base = f"/api/servers/{server.pk}"
    body = {"source": "modrinth", "projectId": "hrtVault"}
    reads = [
        ("get", f"{base}/marketplace/search", {}),
        ("get", f"{base}/marketplace/projects/modrinth/hrtVault", {}),
        ("get", f"{base}/plugins", {}),
        ("post", f"{base}/plugins/check-updates", {}),
    ]
    writes = [
        ("post", f"{base}/marketplace/plan", body),
        ("post", f"{base}/marketplace/install", body),
        ("post", f"{base}/plugins/update", {}),
        ("post", f"{base}/plugins/enable", {"path": "/plugins/a.jar"}),
        ("post", f"{base}/plugins/disable", {"path": "/plugins/a.jar"}),
        ("post", f"{base}/plugins/uninstall", {"path": "/plugins/a.jar"}),
    ]
    outsider, reader = client_for(stranger), client_for(member_with(server, "file.read"))
    with django_capture_on_commit_callbacks(execute=True):
        for method, url, data in reads + writes:
            assert getattr(outsider, method)(url, data, format="json").status_code == 404, url
        for method, url, data in writes:
            assert getattr(reader, method)(url, data, format="json").status_code == 403, url
    assert names_in(server, "/plugins") == {"a.jar"}
    assert not Job.objects.filter(server=server).exists()
    assert not [r for r in marketplace.requests() if r["path"].startswith(("/modrinth", "/cdn"))]


@pytest.mark.parametrize("project_id", ["../../v2/version/vv173", "a?b=1#c", "x/../hrtVault", "%2e%2e"])
def test_a_forged_project_id_stays_one_path_segment(mc_server, customer, client_for, marketplace, project_id):
    server = mc_server("paper", "1.20.1")
    answer = raw_client(client_for, customer).post(
        f"/api/servers/{server.pk}/marketplace/plan",
        {"source": "modrinth", "projectId": project_id},
        format="json",
    )
    assert answer.status_code == 404, answer.content
    asked = [r["path"] for r in marketplace.requests()]
    assert asked and all(path.startswith("/modrinth/v2/project/") for path in asked), asked
    assert all(path.count("/") == 4 for path in asked), asked  # /modrinth/v2/project/<one segment>


@pytest.mark.parametrize(("project_id", "version_id"), [("..", ""), ("hrtVault", ".."), (".", "")])
def test_a_dot_segment_id_is_refused_before_any_request(
    mc_server, customer, client_for, marketplace, project_id, version_id
):
    server = mc_server("paper", "1.20.1")
    body = {
        "source": "modrinth",
        "projectId": project_id,
        **({"versionId": version_id} if version_id else {}),
    }
    answer = raw_client(client_for, customer).post(
        f"/api/servers/{server.pk}/marketplace/plan", body, format="json"
    )
    assert answer.status_code in (400, 404), answer.content
    asked = [r["path"] for r in marketplace.requests()]
    assert not [p for p in asked if p.endswith(("/..", "/.")) or "/../" in p or "/./" in p], asked


@pytest.mark.parametrize(
    "params",
    [
        {"query": "x" * 201},
        {"page": "101"},
        {"perPage": "51"},
        {"gameVersion": "1" * 33},
        {"loader": "../../etc"},
    ],
)
def test_oversized_or_odd_search_parameters_are_400_before_any_request(
    mc_server, customer, client_for, marketplace, params
):
    answer = client_for(customer).get(f"/api/servers/{mc_server().pk}/marketplace/search", params)
    assert answer.status_code == 400, answer.content
    assert not marketplace.requests()


def test_search_answers_are_not_shared_across_servers_that_load_different_things(
    mc_server, customer, stranger, client_for, marketplace
):
    paper, fabric = mc_server("paper", "1.20.1"), mc_server("fabric", "1.20.1", owner=stranger)
    first = client_for(customer).get(f"/api/servers/{paper.pk}/marketplace/search", {"query": "lite"})
    second = client_for(stranger).get(f"/api/servers/{fabric.pk}/marketplace/search", {"query": "lite"})

    def modrinth(answer) -> set:
        return {r["name"] for r in answer.json()["data"]["results"] if r["source"] == "modrinth"}

    assert "Lithium Lite" not in modrinth(first) and "Lithium Lite" in modrinth(second)


# ---- (b) a hostile source: its API's answers --------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        [],
        {"result": "not a list"},
        {"result": [None, 3, "x"]},
        {"result": [{"namespace": "x", "stats": []}]},
        "<html>a captive portal</html>",
        "[" * 200_000,
    ],
    ids=["list", "result-a-string", "result-not-objects", "namespace-a-string", "html", "nested-deep"],
)
def test_a_search_answer_of_the_wrong_shape_is_that_sources_error_only(
    mc_server, customer, client_for, marketplace, body
):
    answer_json(marketplace, "/hangar/api/v1/projects", body)
    answer = client_for(customer).get(f"/api/servers/{mc_server('paper', '1.20.1').pk}/marketplace/search")
    assert answer.status_code == 200, answer.content
    outcomes = {s["source"]: s for s in answer.json()["data"]["sources"]}
    assert outcomes["hangar"]["ok"] is False and outcomes["modrinth"]["ok"] is True


def test_a_number_no_int_can_hold_from_one_source_does_not_break_the_search(
    mc_server, customer, client_for, marketplace
):
    answer_json(
        marketplace,
        "/curseforge/v1/mods/search",
        '{"data": [{"id": 1, "name": "Huge", "downloadCount": 1e400}], "pagination": {"totalCount": 1}}',
    )
    server = mc_server("paper", "1.20.1")
    answer = raw_client(client_for, customer).get(f"/api/servers/{server.pk}/marketplace/search")
    assert answer.status_code == 200, answer.status_code
    outcomes = {s["source"]: s for s in answer.json()["data"]["sources"]}
    assert outcomes["curseforge"]["ok"] is False and outcomes["modrinth"]["ok"] is True, outcomes


def test_a_date_no_datetime_can_hold_from_a_source_is_503_not_500(
    mc_server, customer, client_for, marketplace
):
    answer_json(
        marketplace, "/spiget/v2/resources/1001/versions", [{"id": 5002, "name": "x", "releaseDate": 10**20}]
    )
    server = mc_server("paper", "1.20.1")
    answer = raw_client(client_for, customer).get(
        f"/api/servers/{server.pk}/marketplace/projects/spiget/1001"
    )
    assert answer.status_code == 503, (answer.status_code, answer.content[:200])


@pytest.mark.parametrize("body", [[], {"title": "no id"}], ids=["list", "no-id"])
@pytest.mark.parametrize("endpoint", ["project", "plan"])
def test_a_project_answer_of_the_wrong_shape_is_503_not_500(
    mc_server, customer, client_for, marketplace, body, endpoint
):
    answer_json(marketplace, "/modrinth/v2/project/vaultish", body)
    server, client = mc_server("paper", "1.20.1"), raw_client(client_for, customer)
    if endpoint == "project":
        answer = client.get(f"/api/servers/{server.pk}/marketplace/projects/modrinth/vaultish")
    else:
        answer = client.post(
            f"/api/servers/{server.pk}/marketplace/plan",
            {"source": "modrinth", "projectId": "vaultish"},
            format="json",
        )
    assert answer.status_code == 503, (answer.status_code, answer.content[:200])


@pytest.mark.parametrize(
    ("retry_after", "longest"), [("999999999", 3601), ("inf", 3601), ("nan", 61), ("-5", 61), ("1e400", 3601)]
)
def test_an_absurd_retry_after_blocks_the_source_an_hour_at_most(
    mc_server, customer, client_for, marketplace, retry_after, longest
):
    import time

    from django.core.cache import cache

    marketplace.fault(match="/modrinth/v2/search", status=429, headers={"Retry-After": retry_after}, times=1)
    answer = client_for(customer).get(f"/api/servers/{mc_server('paper', '1.20.1').pk}/marketplace/search")
    assert answer.status_code == 200, answer.content
    modrinth = next(s for s in answer.json()["data"]["sources"] if s["source"] == "modrinth")
    assert modrinth["ok"] is False and 1 <= modrinth["retryAfter"] <= longest
    assert 0 < cache.get("marketplace:blocked:modrinth") - time.time() <= longest


def _versions_with(marketplace, project: str, **changes) -> list:
    versions = standin_json(marketplace, f"/modrinth/v2/project/{project}/version")
    for version in versions:
        version["files"][0].update(changes)
    return versions


@pytest.mark.parametrize(
    "filename",
    ["../../x.jar", "a/b.jar", "x.sh", "x.jar/", "..", "x\x00.jar", "x\\..\\y.jar", "a" * 252 + ".jar"],
    ids=["traversal", "slash", "not-a-jar", "trailing-slash", "dotdot", "nul", "backslash", "too-long"],
)
def test_a_file_name_from_the_source_that_is_not_a_plain_jar_name_is_refused(
    mc_server, customer, client_for, marketplace, django_capture_on_commit_callbacks, filename
):
    server = mc_server("paper", "1.20.1")
    answer_json(
        marketplace,
        "/modrinth/v2/project/hrtVault/version",
        _versions_with(marketplace, "hrtVault", filename=filename),
    )
    answer = install(
        client_for(customer),
        server,
        django_capture_on_commit_callbacks,
        source="modrinth",
        projectId="hrtVault",
    )
    assert answer.status_code == 409, answer.content
    assert not Job.objects.filter(server=server).exists()
    assert names_in(server, "/") == set()


def test_a_file_name_the_templates_denylist_protects_is_not_written(
    mc_server, customer, client_for, marketplace, django_capture_on_commit_callbacks
):
    server = mc_server("paper", "1.20.1")
    put(server, "/plugins/LicenseGuard.jar", b"PK\x03\x04 the host's own")
    server = protect(server, "/plugins/LicenseGuard.jar")
    answer_json(
        marketplace,
        "/modrinth/v2/project/hrtVault/version",
        _versions_with(marketplace, "hrtVault", filename="LicenseGuard.jar"),
    )
    job = vault_job(client_for, customer, server, django_capture_on_commit_callbacks)
    assert job.status == Job.Status.FAILED and "protected" in job.error, job.error
    assert staff_read(server, "/plugins/LicenseGuard.jar") == b"PK\x03\x04 the host's own"
    assert names_in(server, "/plugins") == {"LicenseGuard.jar"}


def test_a_file_larger_than_the_size_the_source_published_is_refused(
    mc_server, customer, client_for, marketplace, django_capture_on_commit_callbacks
):
    server = mc_server("paper", "1.20.1")
    answer_json(
        marketplace,
        "/modrinth/v2/project/hrtVault/version",
        _versions_with(marketplace, "hrtVault", size=100),
    )
    job = vault_job(client_for, customer, server, django_capture_on_commit_callbacks)
    assert job.status == Job.Status.FAILED and "larger than the 100 bytes published" in job.error, job.error
    assert names_in(server, "/plugins") == set()


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/iam/",
        "http://[::ffff:169.254.169.254]/latest/meta-data/",
        "http://[fd00:ec2::254]/latest/meta-data/",
        "http://100.100.100.200/latest/meta-data/",
    ],
)
def test_a_download_that_points_or_redirects_at_a_metadata_service_is_refused_even_when_allowlisted(
    mc_server, customer, client_for, marketplace, django_capture_on_commit_callbacks, monkeypatch, url
):
    from urllib.parse import urlsplit

    from django.core.cache import cache

    from marketplace.sources import SOURCES

    host = urlsplit(url).hostname
    monkeypatch.setattr(type(SOURCES["modrinth"]), "download_hosts", ("cdn.modrinth.com", host))
    monkeypatch.setattr("django.conf.settings.OUTBOUND_ALLOW", [*marketplace_allow(), "0.0.0.0/0", "::/0"])
    server = mc_server("paper", "1.20.1")
    for fault in ({"redirect": url}, None):
        marketplace.reset()
        cache.clear()  # the version list the first round cached
        if fault:
            marketplace.fault(match="/cdn/modrinth/data/hrtVault/", times=None, **fault)
        else:
            answer_json(
                marketplace,
                "/modrinth/v2/project/hrtVault/version",
                _versions_with(marketplace, "hrtVault", url=url),
            )
        job = vault_job(client_for, customer, server, django_capture_on_commit_callbacks)
        assert job.status == Job.Status.FAILED and "metadata" in job.error, job.error
        assert names_in(server, "/plugins") == set()


def marketplace_allow() -> list:
    from django.conf import settings

    return list(settings.OUTBOUND_ALLOW)


@pytest.mark.parametrize(
    "redirect",
    [
        "https://evil.example/x.jar",
        "http://127.0.0.1:9/x.jar",
        "http://localhost/x.jar",
        "file:///etc/passwd",
    ],
)
def test_a_download_redirect_to_another_host_is_refused_and_leaves_nothing(
    mc_server, customer, client_for, marketplace, django_capture_on_commit_callbacks, redirect
):
    server = mc_server("paper", "1.20.1")
    marketplace.fault(match="/cdn/modrinth/data/hrtVault/", redirect=redirect, times=None)
    job = vault_job(client_for, customer, server, django_capture_on_commit_callbacks)
    assert job.status == Job.Status.FAILED, job.error
    assert names_in(server, "/plugins") == set()
    assert not InstalledPlugin.objects.filter(server=server).exists()


def test_a_very_long_project_name_does_not_leave_an_unrecorded_half_install(
    mc_server, customer, client_for, marketplace, django_capture_on_commit_callbacks
):
    project = standin_json(marketplace, "/modrinth/v2/project/vaultish")
    answer_json(marketplace, "/modrinth/v2/project/vaultish", {**project, "title": "Vaultish " + "v" * 300})
    server = mc_server("paper", "1.20.1")
    job = job_of(
        install(
            client_for(customer),
            server,
            django_capture_on_commit_callbacks,
            source="modrinth",
            projectId="vaultish",
        )
    )
    installed = names_in(server, "/plugins")
    assert (job.status, bool(installed)) in ((Job.Status.SUCCEEDED, True), (Job.Status.FAILED, False)), (
        job.status,
        job.error,
        installed,
    )
    if job.status == Job.Status.SUCCEEDED:
        assert InstalledPlugin.objects.filter(server=server).exists()


# ---- (b) a hostile modpack -----------------------------------------------------------------------

LITH = "/cdn/modrinth/data/hrtLith1/versions/vl0120/lithium-lite-0.12.0.jar"


def pack_entry(marketplace, path: str, cdn_path: str = VAULT) -> dict:
    data = catalog.content(cdn_path)
    return {
        "path": path,
        "hashes": {"sha1": catalog.sha1(cdn_path), "sha512": catalog.sha512(cdn_path)},
        "env": {"client": "required", "server": "required"},
        "downloads": [marketplace.url(cdn_path)],
        "fileSize": len(data),
    }


def mrpack(files: list, entries: dict | None = None, *, symlinks: dict | None = None) -> bytes:
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        index = {"formatVersion": 1, "game": "minecraft", "versionId": "x", "name": "Hostile", "files": files}
        archive.writestr("modrinth.index.json", json.dumps(index))
        for name, content in (entries or {}).items():
            archive.writestr(name, content)
        for name, target in (symlinks or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = 0o120777 << 16
            archive.writestr(info, target)
    return buffer.getvalue()


@pytest.fixture
def hostile_pack(monkeypatch):
    """`hostile_pack(data)`: the modpack's .mrpack download yields `data` (as if the source had
    published it with matching hashes); the files it names are downloaded for real."""
    import contextlib

    from marketplace import download as downloads

    served = {}

    @contextlib.contextmanager
    def download(source, url, *, filename, hashes, size=None, hosts=None):
        if filename.endswith(".mrpack"):
            yield downloads.Verified(iter([served["pack"]]), filename=filename, hashes={}, size=None)
            return
        with downloads.download(source, url, filename=filename, hashes=hashes, size=size, hosts=hosts) as got:
            yield got

    monkeypatch.setattr("marketplace.modpack.download", download)
    return lambda data: served.update(pack=data)


def install_pack(client_for, customer, server, capture) -> Job:
    return job_of(install(client_for(customer), server, capture, source="modrinth", projectId="hearth-pack"))


def test_the_hostile_pack_fixture_installs_a_plain_pack(
    mc_server, customer, client_for, marketplace, django_capture_on_commit_callbacks, hostile_pack
):
    server = mc_server("fabric", "1.20.1")
    hostile_pack(mrpack([pack_entry(marketplace, "mods/a.jar")], {"overrides/config/a.txt": "a=1\n"}))
    job = install_pack(client_for, customer, server, django_capture_on_commit_callbacks)
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert read_back(server, "/mods/a.jar") == catalog.content(VAULT)
    assert read_back(server, "/config/a.txt") == b"a=1\n"


@pytest.mark.parametrize(
    ("files", "entries", "symlinks"),
    [
        ([{"path": "../../escape.jar"}], {}, {}),
        ([{"path": "/etc/cron.d/x"}], {}, {}),
        ([], {"overrides/../../escape.txt": "x"}, {}),
        ([], {"server-overrides/mods/../../../x": "x"}, {}),
        ([], {}, {"overrides/mods": "/"}),
        ([], {}, {"overrides/config/link.txt": "../../../../etc/passwd"}),
    ],
    ids=[
        "index-traversal",
        "index-absolute",
        "override-traversal",
        "server-override-traversal",
        "symlink-dir",
        "symlink-file",
    ],
)
def test_a_pack_naming_a_path_out_of_the_server_or_a_link_writes_nothing(
    mc_server,
    customer,
    client_for,
    marketplace,
    django_capture_on_commit_callbacks,
    hostile_pack,
    files,
    entries,
    symlinks,
):
    server = mc_server("fabric", "1.20.1")
    files = [{**pack_entry(marketplace, "mods/ok.jar"), **f} for f in files]
    hostile_pack(
        mrpack(
            [pack_entry(marketplace, "mods/first.jar"), *files],
            {"overrides/a.txt": "a", **entries},
            symlinks=symlinks,
        )
    )
    job = install_pack(client_for, customer, server, django_capture_on_commit_callbacks)
    assert job.status == Job.Status.FAILED and "refuse" in job.error, job.error
    assert names_in(server, "/") == set()


def test_a_pack_download_from_a_host_the_format_does_not_allow_is_refused(
    mc_server, customer, client_for, marketplace, django_capture_on_commit_callbacks, hostile_pack
):
    server = mc_server("fabric", "1.20.1")
    entry = {**pack_entry(marketplace, "mods/a.jar"), "downloads": ["https://evil.example/a.jar"]}
    hostile_pack(mrpack([pack_entry(marketplace, "mods/first.jar"), entry]))
    job = install_pack(client_for, customer, server, django_capture_on_commit_callbacks)
    assert job.status == Job.Status.FAILED and "evil.example is not a host" in job.error, job.error
    assert names_in(server, "/mods") == set()


def test_a_zip_bomb_in_the_overrides_stops_at_the_disk_limit_and_leaves_nothing(
    mc_server, customer, client_for, marketplace, django_capture_on_commit_callbacks, hostile_pack
):
    server = mc_server("fabric", "1.20.1")
    Server.objects.filter(pk=server.pk).update(allocated_disk_mb=2)
    server.refresh_from_db()
    hostile_pack(mrpack([], {"overrides/world/bomb.dat": b"\0" * (64 * 1024 * 1024)}))
    job = install_pack(client_for, customer, server, django_capture_on_commit_callbacks)
    assert job.status == Job.Status.FAILED and "disk limit" in job.error, job.error
    assert names_in(server, "/world") == set()


def test_a_pack_that_names_one_path_twice_changes_nothing_when_it_fails(
    mc_server, customer, client_for, marketplace, django_capture_on_commit_callbacks, hostile_pack
):
    server = mc_server("fabric", "1.20.1")
    put(server, "/mods/a.jar", b"PK\x03\x04 the customer's own")
    hostile_pack(
        mrpack(
            [pack_entry(marketplace, "mods/a.jar"), pack_entry(marketplace, "mods/b.jar", LITH)],
            {"overrides/mods/a.jar": "PK\x03\x04 from the overrides"},
        )
    )
    job = install_pack(client_for, customer, server, django_capture_on_commit_callbacks)
    if job.status == Job.Status.FAILED:
        assert read_back(server, "/mods/a.jar") == b"PK\x03\x04 the customer's own", job.error
        assert names_in(server, "/mods") == {"a.jar"}, job.error
    else:
        assert read_back(server, "/mods/a.jar") == b"PK\x03\x04 from the overrides"


# ---- (c) symlinks the customer planted -------------------------------------------------------------


@pytest.mark.parametrize("target", ["/etc", "/", "/proc/self", "../../.."])
def test_a_plugins_link_out_of_the_server_neither_writes_nor_lists_outside(
    mc_server, customer, client_for, marketplace, django_capture_on_commit_callbacks, target
):
    server = mc_server("paper", "1.20.1")
    put(server, "/keep.txt", b"x")
    symlink(server, "/plugins", target)
    job = vault_job(client_for, customer, server, django_capture_on_commit_callbacks)
    assert job.status == Job.Status.FAILED, job.error
    listing = client_for(customer).get(f"/api/servers/{server.pk}/plugins")
    assert listing.status_code == 200, listing.content
    assert listing.json()["data"]["plugins"] == []
    assert names_in(server, "/") == {"keep.txt", "plugins"}
    assert not InstalledPlugin.objects.filter(server=server).exists()


def test_a_plugins_link_into_a_protected_directory_is_refused(
    mc_server, customer, client_for, marketplace, django_capture_on_commit_callbacks
):
    server = mc_server("paper", "1.20.1")
    put(server, "/secret/key.jar", b"PK\x03\x04 the host's licence")
    symlink(server, "/plugins", "secret")
    server = protect(server, "/secret/")
    client = client_for(customer)
    job = job_of(
        install(client, server, django_capture_on_commit_callbacks, source="modrinth", projectId="hrtVault")
    )
    assert job.status == Job.Status.FAILED and "protected" in job.error, job.error
    for action in ("disable", "uninstall"):
        answer = client.post(
            f"/api/servers/{server.pk}/plugins/{action}", {"path": "/plugins/key.jar"}, format="json"
        )
        assert answer.status_code == 403, (action, answer.content)
    with session(server, denylist=False) as files:
        assert {e.name for e in files.list(server.template.data_path + "/secret")} == {"key.jar"}
    assert staff_read(server, "/secret/key.jar") == b"PK\x03\x04 the host's licence"


def test_a_plugin_that_is_a_link_is_removed_or_renamed_itself_never_its_target(
    mc_server, customer, client_for, marketplace
):
    server = mc_server("paper", "1.20.1")
    put(server, "/server.properties", b"motd=mine\n")
    put(server, "/plugins/real.jar", b"PK\x03\x04")
    symlink(server, "/plugins/link.jar", "/home/container/server.properties")
    client = client_for(customer)
    rows = client.get(f"/api/servers/{server.pk}/plugins").json()["data"]["plugins"]
    assert [r["path"] for r in rows] == ["/plugins/real.jar"]  # a link is not hashed or listed

    def post(action):
        path = {"path": "/plugins/link.jar"}
        return client.post(f"/api/servers/{server.pk}/plugins/{action}", path, format="json")

    assert post("disable").status_code == 200
    assert names_in(server, "/plugins") == {"real.jar", "link.jar.disabled"}
    assert post("uninstall").status_code == 200
    assert names_in(server, "/plugins") == {"real.jar"}
    assert read_back(server, "/server.properties") == b"motd=mine\n"


# ---- (d) races -----------------------------------------------------------------------------------


def test_a_server_suspended_while_its_install_downloads_gets_nothing(
    mc_server, customer, client_for, marketplace, django_capture_on_commit_callbacks, monkeypatch
):
    import contextlib

    from marketplace import download as downloads
    from servers.files.helper import remove_helper

    server = mc_server("paper", "1.20.1")

    @contextlib.contextmanager
    def download(*args, **kwargs):
        with downloads.download(*args, **kwargs) as got:
            Server.objects.filter(pk=server.pk).update(status=Server.Status.SUSPENDED)
            remove_helper(server)  # what the suspension's files_helper_remove_task does
            yield got

    monkeypatch.setattr("marketplace.install.download", download)
    job = vault_job(client_for, customer, server, django_capture_on_commit_callbacks)
    assert job.status == Job.Status.FAILED, job.error
    Server.objects.filter(pk=server.pk).update(status=Server.Status.STOPPED)
    assert names_in(server, "/plugins") == set()
    assert not InstalledPlugin.objects.filter(server=server).exists()


def test_a_modpack_job_does_not_write_to_the_node_its_server_was_transferred_from(
    mc_server, game_node, customer, client_for, marketplace, django_capture_on_commit_callbacks, monkeypatch
):
    from marketplace import modpack
    from servers.files.helper import remove_helper

    server = mc_server("fabric", "1.20.1", engine=1, via="unix")
    before = Server.objects.select_related("node", "template").get(pk=server.pk)  # on node 1
    target = game_node(2, "ssh")
    real_needs = modpack.needs

    def transferred_meanwhile(index, job_server):
        remove_helper(before)  # what the transfer's _prepare does on the source
        Server.objects.filter(pk=server.pk).update(node=target)  # ...and its end: the server is on node 2
        return real_needs(index, job_server)

    monkeypatch.setattr(modpack, "needs", transferred_meanwhile)
    job = install_pack(client_for, customer, server, django_capture_on_commit_callbacks)
    now = Server.objects.select_related("node", "template").get(pk=server.pk)
    on_old_node = names_in(before, "/mods")
    assert on_old_node == set(), (job.status, on_old_node, names_in(now, "/mods"))
    assert job.status == Job.Status.FAILED or names_in(now, "/mods"), job.status


# ---- availability: one customer, or one slow source, against everyone -------------------------------


def _not_at_a_minute_boundary():
    import time

    if time.time() % 60 > 50:  # the sources' budgets are per clock minute
        time.sleep(61 - time.time() % 60)


def test_one_update_check_does_not_use_up_every_customers_source_budget(
    mc_server, customer, stranger, client_for, marketplace
):
    mine, theirs = mc_server("paper", "1.20.1"), mc_server("paper", "1.20.4", owner=stranger)
    InstalledPlugin.objects.bulk_create(
        InstalledPlugin(
            server=mine,
            source="spiget",
            project_id="1001",
            project_type="plugin",
            version_id="5001",
            path=f"/plugins/p{n}.jar",
        )
        for n in range(50)
    )
    _not_at_a_minute_boundary()
    checked = client_for(customer).post(f"/api/servers/{mine.pk}/plugins/check-updates")
    assert checked.status_code == 200, checked.content
    answer = client_for(stranger).get(f"/api/servers/{theirs.pk}/marketplace/search", {"query": "essentials"})
    spiget = next(s for s in answer.json()["data"]["sources"] if s["source"] == "spiget")
    assert spiget["ok"], spiget


def test_a_source_call_does_not_outlive_the_search_deadline(
    mc_server, customer, client_for, marketplace, settings, monkeypatch
):
    import time

    from marketplace import search

    settings.MARKETPLACE_SEARCH_SECONDS = 1.5
    marketplace.fault(match="/modrinth/v2/versions", delay=6, times=None)
    took = {}
    real = search._search_one

    def timed(origin, *args):
        start = time.monotonic()
        try:
            return real(origin, *args)
        finally:
            took[origin.name] = time.monotonic() - start

    monkeypatch.setattr(search, "_search_one", timed)
    answer = client_for(customer).get(f"/api/servers/{mc_server('paper', '1.20.1').pk}/marketplace/search")
    assert answer.status_code == 200
    for _ in range(80):
        if "modrinth" in took:
            break
        time.sleep(0.1)
    assert took.get("modrinth", 99) <= 1.5 + 1.0, took


def test_a_plan_against_a_slow_source_answers_within_the_request_deadline(
    mc_server, customer, client_for, marketplace, settings
):
    """A plan makes its source calls one after another (the project, its versions, each dependency's):
    a slow source must not hold a web worker for their sum (up to 2 + 2 x MAX_DEPENDENCIES calls)."""
    import time

    settings.MARKETPLACE_REQUEST_SECONDS = 5
    server = mc_server("paper", "1.20.1")
    marketplace.fault(match="/modrinth/v2/", delay=3, times=None)  # luckyperms' plan: 4 calls, 12 s
    started = time.monotonic()
    answer = raw_client(client_for, customer).post(
        f"/api/servers/{server.pk}/marketplace/plan",
        {"source": "modrinth", "projectId": "luckyperms"},
        format="json",
    )
    assert time.monotonic() - started <= 5 + 1.5
    assert answer.status_code == 503, answer.content


def test_listing_the_plugins_reads_a_bounded_number_of_bytes(
    mc_server, customer, client_for, marketplace, monkeypatch
):
    """The listing hashes unknown files in the GET (file.read is enough): sparse files cost the
    customer no disk and, touched between requests, are unknown again; what one listing reads must be
    bounded in all, not only per file (HASH_MAX_BYTES)."""
    from nodes.client.files_session import FileSession

    cap = 4 * 1024 * 1024
    monkeypatch.setattr("marketplace.installed.HASH_MAX_BYTES", cap)
    monkeypatch.setattr("marketplace.installed.HASH_BYTES_PER_LISTING", 2 * cap, raising=False)
    server = mc_server("paper", "1.20.1")
    put(server, "/plugins/real.jar", b"PK\x03\x04")
    with session(server, denylist=False) as files:
        for n in range(8):  # sparse: `cap` bytes long, one block on disk
            handle = files._sftp.open(f"{server.template.data_path}/plugins/sparse-{n}.jar", "w")
            handle.seek(cap - 1)
            handle.write(b"\0")
            handle.close()
    read = []
    real = FileSession.read

    def counting(self, path, **options):
        for chunk in real(self, path, **options):
            read.append(len(chunk))
            yield chunk

    monkeypatch.setattr(FileSession, "read", counting)
    answer = client_for(customer).get(f"/api/servers/{server.pk}/plugins")
    assert answer.status_code == 200 and len(answer.json()["data"]["plugins"]) == 9
    assert sum(read) <= 2 * cap, f"one listing read {sum(read) // 1024 // 1024} MB"
    client_for(customer).get(f"/api/servers/{server.pk}/plugins")  # the next listing hashes the rest
    assert sum(read) <= 4 * cap + 8, f"two listings read {sum(read) // 1024 // 1024} MB"
