"""The marketplace stand-in answers each source's search, project, versions and download in the
documented shape, serves the catalog's exact bytes, and applies every kind of fault. Plain HTTP
with urllib: no database, no panel code."""

import json
import time
import urllib.error
import urllib.request

from tests.standins import marketplace_catalog as catalog
from tests.standins.marketplace_files import digest

CF_KEY = {"x-api-key": "test-curseforge-key"}


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def call(url: str, *, data=None, headers=None, follow: bool = False, method=None):
    """(status, headers, body) of one request; redirects are answers unless `follow`."""
    body = None if data is None else json.dumps(data).encode()
    request = urllib.request.Request(url, data=body, headers=headers or {}, method=method)  # noqa: S310 - the stand-in
    if body is not None:
        request.add_header("Content-Type", "application/json")
    opener = urllib.request.build_opener() if follow else urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(request, timeout=10) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def get_json(url: str, **kwargs):
    status, _, body = call(url, **kwargs)
    assert status == 200, (status, body)
    return json.loads(body)


# ---- the process ---------------------------------------------------------------------------------


def test_it_listens_on_its_allowed_address_and_on_loopback(marketplace):
    for host in (marketplace.host, "127.0.0.1"):
        status, _, _ = call(f"http://{host}:{marketplace.port}/modrinth/v2/project/luckyperms")
        assert status == 200


def test_it_records_requests_but_not_control(marketplace):
    call(marketplace.url("/modrinth/v2/version_files"), data={"hashes": ["ab"], "algorithm": "sha1"})
    call(marketplace.url("/spiget/v2/resources/free?size=5&page=1"))
    recorded = marketplace.requests()
    assert [(r["method"], r["path"]) for r in recorded] == [
        ("POST", "/modrinth/v2/version_files"),
        ("GET", "/spiget/v2/resources/free"),
    ]
    assert json.loads(recorded[0]["body"]) == {"hashes": ["ab"], "algorithm": "sha1"}
    assert recorded[1]["query"] == "size=5&page=1"
    assert recorded[1]["headers"]["Host"] == f"{marketplace.host}:{marketplace.port}"
    marketplace.reset()
    assert marketplace.requests() == []


# ---- Modrinth --------------------------------------------------------------------------------


def test_modrinth_search_filters_by_facets_and_calls_plugins_mods(marketplace):
    facets = json.dumps([["project_type:plugin"], ["categories:paper"], ["versions:1.21"]])
    found = get_json(marketplace.url(f"/modrinth/v2/search?facets={urllib.request.quote(facets)}"))
    assert [h["slug"] for h in found["hits"]] == ["luckyperms", "vaultish"]
    assert {h["project_type"] for h in found["hits"]} == {"mod"}
    assert found["total_hits"] == 2 and found["offset"] == 0 and found["limit"] == 10
    hit = found["hits"][0]
    assert hit["latest_version"] == "v541" and hit["versions"] == ["1.20.1", "1.20.4", "1.21"]
    assert {"paper", "spigot", "purpur"} <= set(hit["categories"])
    as_mods = json.dumps([["project_type:mod"], ["categories:paper"]])
    found = get_json(
        marketplace.url(f"/modrinth/v2/search?facets={urllib.request.quote(as_mods)}&query=perms")
    )
    assert [h["slug"] for h in found["hits"]] == ["luckyperms", "oldperms"]


def test_modrinth_project_versions_and_file(marketplace):
    project = get_json(marketplace.url("/modrinth/v2/project/luckyperms"))
    assert project["id"] == "hrtLuck1" and project["versions"] == ["v540", "v541"]
    assert project["license"]["id"] == "MIT" and project["project_type"] == "mod"
    loaders, game = urllib.request.quote('["paper"]'), urllib.request.quote('["1.20.1"]')
    versions = get_json(
        marketplace.url(f"/modrinth/v2/project/hrtLuck1/version?loaders={loaders}&game_versions={game}")
    )
    assert [v["id"] for v in versions] == ["v541", "v540"]  # newest first
    assert versions[0]["dependencies"] == [
        {"version_id": None, "project_id": "hrtVault", "file_name": None, "dependency_type": "required"}
    ]
    file = versions[0]["files"][0]
    path = catalog.modrinth_version("v541")["path"]
    assert file["url"] == marketplace.url(path) and file["hashes"]["sha1"] == catalog.sha1(path)
    status, headers, body = call(file["url"])
    assert status == 200 and body == catalog.FILES[path]
    assert headers["Content-Type"] == "application/java-archive"
    assert headers["Content-Length"] == str(file["size"])


def test_modrinth_unknown_project_is_an_empty_404(marketplace):
    status, _, body = call(marketplace.url("/modrinth/v2/project/nothing-here"))
    assert (status, body) == (404, b"")


def test_modrinth_identifies_and_updates_files_by_hash(marketplace):
    new, old = catalog.modrinth_version("v541")["path"], catalog.modrinth_version("v540")["path"]
    known = {"hashes": [catalog.sha512(new), "0" * 128], "algorithm": "sha512"}
    found = get_json(marketplace.url("/modrinth/v2/version_files"), data=known)
    assert list(found) == [catalog.sha512(new)] and found[catalog.sha512(new)]["id"] == "v541"
    update = {
        "hashes": [catalog.sha1(old)],
        "algorithm": "sha1",
        "loaders": ["paper"],
        "game_versions": ["1.20.1"],
    }
    latest = get_json(marketplace.url("/modrinth/v2/version_files/update"), data=update)
    assert latest[catalog.sha1(old)]["id"] == "v541"
    assert (
        get_json(marketplace.url(f"/modrinth/v2/version_file/{catalog.sha1(new)}?algorithm=sha1"))["id"]
        == "v541"
    )


def test_modrinth_modpack_is_built_for_the_address_it_is_asked_on(marketplace):
    version = get_json(marketplace.url("/modrinth/v2/version/vhp10"))
    file = version["files"][0]
    status, headers, body = call(file["url"])
    assert status == 200 and body == marketplace.content(catalog.MRPACK_PATH)
    assert headers["Content-Type"] == "application/x-modrinth-modpack+zip"
    assert (
        file["hashes"]["sha1"] == catalog.sha1(catalog.MRPACK_PATH, marketplace.base) == digest(body, "sha1")
    )
    index = catalog.mrpack_index(marketplace.base)
    assert index["files"][0]["downloads"] == [marketplace.url(catalog.modrinth_version("vl0120")["path"])]


def test_modrinth_counts_down_its_rate_limit_then_refuses(marketplace):
    marketplace.ratelimit(limit=2)
    first = call(marketplace.url("/modrinth/v2/project/luckyperms"))
    second = call(marketplace.url("/modrinth/v2/project/luckyperms"))
    status, headers, body = call(marketplace.url("/modrinth/v2/project/luckyperms"))
    assert [first[1]["X-Ratelimit-Remaining"], second[1]["X-Ratelimit-Remaining"]] == ["1", "0"]
    assert status == 429 and headers["X-Ratelimit-Limit"] == "2" and int(headers["X-Ratelimit-Reset"]) > 0
    assert json.loads(body)["error"] == "ratelimit_error"
    marketplace.reset()
    assert call(marketplace.url("/modrinth/v2/project/luckyperms"))[1]["X-Ratelimit-Remaining"] == "299"


# ---- Hangar ----------------------------------------------------------------------------------


def test_hangar_search_versions_and_download(marketplace):
    found = get_json(
        marketplace.url("/hangar/api/v1/projects?query=chat&platform=PAPER&version=1.21&sort=-downloads")
    )
    assert found["pagination"] == {"limit": 25, "offset": 0, "count": 1}
    assert found["result"][0]["namespace"] == {"owner": "hearth", "slug": "HangarChat"}
    versions = get_json(marketplace.url("/hangar/api/v1/projects/HangarChat/versions?platform=PAPER"))
    assert [v["name"] for v in versions["result"]] == ["2.1.0", "2.0.0"]
    newest = versions["result"][0]
    assert [d["name"] for d in newest["pluginDependencies"]["PAPER"]] == ["Vaultish", "PlaceholderAPI"]
    download = newest["downloads"]["PAPER"]
    status, _, body = call(download["downloadUrl"])
    assert status == 200 and digest(body, "sha256") == download["fileInfo"]["sha256Hash"]
    assert len(body) == download["fileInfo"]["sizeBytes"]
    assert (
        get_json(marketplace.url("/hangar/api/v1/projects/hearth/Vaultish/versions/1.7.3"))["name"] == "1.7.3"
    )


def test_hangar_refusals_have_its_error_shape(marketplace):
    status, _, body = call(marketplace.url("/hangar/api/v1/projects/NoSuchThing"))
    assert status == 404 and json.loads(body)["httpError"] == {"statusCode": 404}
    status, _, body = call(marketplace.url("/hangar/api/v1/projects?nonsense=1"))
    assert status == 400 and json.loads(body)["isHangarApiException"] is True


# ---- Spiget ----------------------------------------------------------------------------------


def test_spiget_search_pages_and_download_redirect(marketplace):
    status, headers, body = call(marketplace.url("/spiget/v2/search/resources/essentials?field=name&size=5"))
    assert status == 200 and headers["X-Page-Index"] == "1" and headers["X-Total"] == "1"
    assert headers["Content-Type"] == "application/json; charset=utf-8"
    (resource,) = json.loads(body)
    assert resource["id"] == 1001 and resource["version"]["id"] == 5002 and "versions" not in resource
    assert call(marketplace.url("/spiget/v2/search/resources/zzz"))[::2] == (404, b"[]")
    latest = get_json(marketplace.url("/spiget/v2/resources/1001/versions/latest"))
    assert latest["name"] == "2.20.1"
    status, headers, _ = call(marketplace.url("/spiget/v2/resources/1001/download"))
    assert status == 302 and headers["X-Spiget-File-Source"] == "cdn"
    assert call(headers["Location"])[2] == catalog.FILES["/cdn/spiget/file/spiget-resources/1001.jar"]


def test_spiget_external_and_premium_downloads(marketplace):
    status, headers, _ = call(marketplace.url("/spiget/v2/resources/1003/download"))
    assert (status, headers["Location"]) == (302, "https://example.com/thing.jar")
    status, headers, _ = call(marketplace.url("/spiget/v2/resources/1002/download"))
    assert status == 302 and call(headers["Location"])[0] == 404  # Spiget redirects; its CDN has nothing
    status, _, body = call(marketplace.url("/spiget/v2/resources/4242"))
    assert (status, json.loads(body)) == (404, {"error": "resource not found"})


# ---- CurseForge ------------------------------------------------------------------------------


def test_curseforge_wants_its_api_key(marketplace):
    assert call(marketplace.url("/curseforge/v1/mods/2001"))[::2] == (403, b"")
    wrong = {"x-api-key": "nope"}
    assert call(marketplace.url("/curseforge/v1/mods/2001"), headers=wrong)[0] == 403


def test_curseforge_search_mod_and_files(marketplace):
    query = "gameId=432&classId=6&gameVersion=1.20.1&modLoaderType=1&sortField=6&sortOrder=desc&pageSize=2"
    found = get_json(marketplace.url(f"/curseforge/v1/mods/search?{query}"), headers=CF_KEY)
    assert [m["id"] for m in found["data"]] == [2002, 2001]
    assert found["pagination"] == {"index": 0, "pageSize": 2, "resultCount": 2, "totalCount": 3}
    files = get_json(marketplace.url("/curseforge/v1/mods/2001/files"), headers=CF_KEY)["data"]
    assert [f["id"] for f in files] == [3001, 3000] and files[0]["dependencies"] == [
        {"modId": 2002, "relationType": 3}
    ]
    path = catalog.CURSEFORGE_MODS[0]["files"][0]["path"]
    assert files[0]["hashes"] == [
        {"value": catalog.sha1(path), "algo": 1},
        {"value": catalog.md5(path), "algo": 2},
    ]
    assert call(files[0]["downloadUrl"])[2] == catalog.FILES[path]
    locked = get_json(marketplace.url("/curseforge/v1/mods/2003/files/3201"), headers=CF_KEY)["data"]
    assert locked["downloadUrl"] is None
    assert call(marketplace.url("/curseforge/v1/mods/9999"), headers=CF_KEY)[::2] == (404, b"")


# ---- faults ----------------------------------------------------------------------------------


def test_a_status_fault_applies_its_times_then_stops(marketplace):
    marketplace.fault(
        match="/modrinth/v2/search", times=1, status=429, headers={"Retry-After": "3"}, body="slow down"
    )
    status, headers, body = call(marketplace.url("/modrinth/v2/search"))
    assert (status, headers["Retry-After"], body) == (429, "3", b"slow down")
    assert call(marketplace.url("/modrinth/v2/search"))[0] == 200


def test_an_html_page_fault(marketplace):
    marketplace.fault(
        match="/hangar/", status=200, headers={"Content-Type": "text/html"}, body="<html>cf</html>"
    )
    status, headers, body = call(marketplace.url("/hangar/api/v1/projects"))
    assert (status, headers["Content-Type"], body) == (200, "text/html", b"<html>cf</html>")
    assert call(marketplace.url("/hangar/api/v1/projects"))[2] == b"<html>cf</html>"  # times: until reset


def test_a_redirect_fault(marketplace):
    marketplace.fault(match="/cdn/", redirect="http://169.254.169.254/latest/meta-data/", times=1)
    status, headers, _ = call(marketplace.url(catalog.modrinth_version("v540")["path"]))
    assert (status, headers["Location"]) == (302, "http://169.254.169.254/latest/meta-data/")


def test_size_faults_with_and_without_a_length(marketplace):
    marketplace.faults(
        [
            {"match": "/cdn/", "times": 1, "size": 300_000},
            {"match": "/cdn/", "times": 1, "size": 70_000, "length": False},
        ]
    )
    path = catalog.modrinth_version("v540")["path"]
    status, headers, body = call(marketplace.url(path))
    assert (status, headers["Content-Length"], len(body)) == (200, "300000", 300_000)
    status, headers, body = call(marketplace.url(path))
    assert status == 200 and headers["Content-Length"] is None and len(body) == 70_000


def test_a_corrupt_fault_keeps_the_length_but_not_the_hash(marketplace):
    path = catalog.modrinth_version("v541")["path"]
    marketplace.fault(match=path, corrupt=True, times=1)
    body = call(marketplace.url(path))[2]
    assert len(body) == len(catalog.FILES[path]) and digest(body, "sha1") != catalog.sha1(path)
    assert call(marketplace.url(path))[2] == catalog.FILES[path]


def test_a_delay_fault_answers_late_but_normally(marketplace):
    marketplace.fault(match="/spiget/v2/resources/1001", delay=0.5, times=1)
    started = time.monotonic()
    resource = get_json(marketplace.url("/spiget/v2/resources/1001"))
    assert time.monotonic() - started >= 0.5 and resource["name"] == "SpigotEssentials"
