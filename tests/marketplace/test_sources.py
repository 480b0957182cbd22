"""Each source against the stand-in: answers normalized, every call cached, errors and rate limits
reported as the source's (marketplace/sources/)."""

import pytest

from config.errors import InvalidInput
from marketplace.sources import SOURCES, get_source
from marketplace.sources.base import Query, SourceNotFound, SourceRateLimited, SourceUnavailable
from marketplace.target import RUNS

PAPER = RUNS["paper"]


def test_modrinth_searches_with_facets_and_normalizes(marketplace):
    page = SOURCES["modrinth"].search(
        Query(text="lucky", project_type="plugin", game_version="1.20.1"), loads=PAPER
    )
    assert [p.id for p in page.projects] == ["hrtLuck1", "hrtOldPm"]  # OldPerms "clashes with LuckyPerms"
    lucky = page.projects[0]
    assert (lucky.source, lucky.slug, lucky.name, lucky.project_type, lucky.author) == (
        "modrinth",
        "luckyperms",
        "LuckyPerms",
        "plugin",
        "hearthdev",
    )
    assert lucky.latest_version == "5.4.1"  # the latest, and it fits paper 1.20.1
    search = next(r for r in marketplace.requests() if r["path"].endswith("/v2/search"))
    assert "categories%3Apaper" in search["query"] and "versions%3A1.20.1" in search["query"]


def test_modrinth_versions_dependencies_and_hashes(marketplace):
    versions = SOURCES["modrinth"].versions("hrtLuck1", loads=PAPER, game_version="1.21")
    assert [v.name for v in versions] == ["5.4.1"]
    latest = versions[0]
    assert latest.file.filename == "luckyperms-5.4.1.jar"
    assert set(latest.file.hashes) == {"sha1", "sha512"}
    assert [(d.project_id, d.kind) for d in latest.dependencies] == [("hrtVault", "required")]
    with pytest.raises(SourceNotFound):
        SOURCES["modrinth"].project("no-such-project")


def test_hangar_filters_by_platform_and_keeps_sha256(marketplace):
    hangar = SOURCES["hangar"]
    page = hangar.search(Query(text="", game_version="1.20.1"), loads=PAPER)
    assert {p.name for p in page.projects} >= {"HangarChat", "Vaultish"}
    assert "VeloList" not in {p.name for p in page.projects}
    versions = hangar.versions("HangarChat", loads=PAPER, game_version="1.20.1")
    assert [v.name for v in versions] == ["2.1.0", "2.0.0"]
    newest = versions[0]
    assert set(newest.file.hashes) == {"sha256"} and newest.loaders == ("paper",)
    assert [(d.project_id, d.kind) for d in newest.dependencies] == [
        ("Vaultish", "required"),
        ("", "optional"),
    ]
    assert hangar.platform(RUNS["spigot"]) is None  # Hangar's plugins are Paper's, not Spigot's


def test_spiget_lists_what_it_cannot_install_and_why(marketplace):
    spiget = SOURCES["spiget"]
    assert [p.name for p in spiget.search(Query(text="SpigotEssentials")).projects] == ["SpigotEssentials"]
    versions = spiget.versions("1001")
    latest = next(v for v in versions if v.name == "2.20.1")
    older = next(v for v in versions if v.name == "2.19.0")
    assert latest.downloadable and not older.downloadable and "latest" in older.why_not
    premium = spiget.versions("1002")[0]
    assert not premium.downloadable and "premium" in premium.why_not
    external = spiget.versions("1003")[0]
    assert not external.downloadable and "example.com" in external.why_not


def test_curseforge_needs_a_key_and_sends_it(marketplace, settings):
    curseforge = SOURCES["curseforge"]
    versions = curseforge.versions("2001", loads=RUNS["forge"], game_version="1.20.1")
    assert [v.id for v in versions] == ["3001", "3000"]
    assert set(versions[0].file.hashes) == {"sha1", "md5"}
    assert [(d.project_id, d.kind) for d in versions[0].dependencies] == [("2002", "required")]
    blocked = curseforge.versions("2003")[0]
    assert not blocked.downloadable and "only through CurseForge" in blocked.why_not
    assert all(r["headers"].get("x-api-key") == "test-curseforge-key" for r in marketplace.requests())
    settings.CURSEFORGE_API_KEY = ""
    with pytest.raises(InvalidInput):
        get_source("curseforge")


def test_answers_are_cached(marketplace):
    for _ in range(3):
        SOURCES["modrinth"].project("hrtVault")
    assert len([r for r in marketplace.requests() if r["path"].endswith("/project/hrtVault")]) == 1


def test_a_429_blocks_the_source_until_its_reset_for_every_caller(marketplace):
    marketplace.fault(match="/modrinth/v2/project", status=429, headers={"X-Ratelimit-Reset": "30"}, times=1)
    with pytest.raises(SourceRateLimited) as caught:
        SOURCES["modrinth"].project("hrtVault")
    assert 25 <= caught.value.retry_after <= 31
    asked = len(marketplace.requests())
    with pytest.raises(SourceRateLimited):
        SOURCES["modrinth"].project("hrtLuck1")  # not asked at all: the source said to wait
    assert len(marketplace.requests()) == asked


def test_no_requests_left_blocks_before_the_429(marketplace):
    marketplace.fault(
        match="/modrinth/v2/project",
        status=200,
        body='{"id": "x"}',
        headers={"Content-Type": "application/json", "X-Ratelimit-Remaining": "0", "X-Ratelimit-Reset": "12"},
        times=1,
    )
    assert SOURCES["modrinth"].project("hrtVault").id == "x"  # answered, and said it was the last
    with pytest.raises(SourceRateLimited):
        SOURCES["modrinth"].project("hrtLuck1")


def test_the_panel_keeps_under_the_sources_budget(marketplace, monkeypatch):
    monkeypatch.setattr(type(SOURCES["spiget"]), "per_minute", 2)
    SOURCES["spiget"].project("1001")
    SOURCES["spiget"].project("1002")
    with pytest.raises(SourceRateLimited):
        SOURCES["spiget"].project("1003")


@pytest.mark.parametrize(
    ("fault", "says"),
    [
        ({"status": 500, "body": "oops"}, "answered 500"),
        (
            {"status": 200, "body": "<html>Cloudflare</html>", "headers": {"Content-Type": "text/html"}},
            "JSON",
        ),
        ({"size": 9 * 1024 * 1024}, "could not be reached"),
        ({"redirect": "http://10.1.2.3/v2/project/x"}, "could not be reached"),
    ],
)
def test_bad_answers_are_the_sources_unavailability(marketplace, fault, says):
    marketplace.fault(match="/modrinth/v2/project", times=None, **fault)
    with pytest.raises(SourceUnavailable) as caught:
        SOURCES["modrinth"].project("hrtVault")
    assert says in caught.value.message and caught.value.source == "modrinth"
