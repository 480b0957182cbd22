"""GET /api/servers/<id>/marketplace/search and /projects/<source>/<id>: what fits the server by
default, every source at once, a failing one reported beside the others' results."""

import pytest

from servers.models import Server


def search(client, server, **params):
    return client.get(f"/api/servers/{server.pk}/marketplace/search", params)


def test_a_paper_server_sees_paper_plugins_from_every_source(mc_server, customer, client_for, marketplace):
    answer = search(client_for(customer), mc_server("paper", "1.20.1"))
    assert answer.status_code == 200, answer.content
    data = answer.json()["data"]
    assert data["filters"] == {
        "type": "plugin",
        "loader": "paper",
        "gameVersion": "1.20.1",
        "sort": "relevance",
    }
    assert data["server"] == {"loader": "paper", "gameVersion": "1.20.1"}
    found = {(r["source"], r["name"]) for r in data["results"]}
    assert ("modrinth", "LuckyPerms") in found and ("hangar", "HangarChat") in found
    assert ("spiget", "SpigotEssentials") in found
    assert ("modrinth", "Velocity MOTD") not in found and ("modrinth", "Lithium Lite") not in found
    outcomes = {s["source"]: s for s in data["sources"]}
    assert all(outcomes[name]["ok"] for name in ("modrinth", "hangar", "spiget", "curseforge"))
    assert set(data["results"][0]) >= {
        "id",
        "source",
        "name",
        "slug",
        "description",
        "author",
        "iconUrl",
        "downloads",
        "categories",
        "latestVersion",
    }


def test_a_fabric_server_sees_mods_and_not_plugin_sources(mc_server, customer, client_for, marketplace):
    data = search(client_for(customer), mc_server("fabric", "1.20.1")).json()["data"]
    assert {r["name"] for r in data["results"] if r["source"] == "modrinth"} == {
        "Lithium Lite",
        "Fabric API Lite",
    }
    outcomes = {s["source"]: s for s in data["sources"]}
    assert "skipped" in outcomes["hangar"] and "skipped" in outcomes["spiget"]
    assert {r["name"] for r in data["results"] if r["source"] == "curseforge"} == {"Fabric Thing"}


def test_an_unknown_server_searches_unfiltered(mc_server, customer, client_for, marketplace):
    data = search(client_for(customer), mc_server("", ""), query="lite").json()["data"]
    assert data["filters"]["loader"] == "" and data["filters"]["gameVersion"] == ""
    assert {"Lithium Lite", "Terra Lite", "Fabric API Lite"} <= {r["name"] for r in data["results"]}


def test_a_failing_source_is_reported_and_the_others_answer(mc_server, customer, client_for, marketplace):
    marketplace.fault(match="/hangar/", status=503, body="<html>down</html>", times=None)
    marketplace.fault(match="/spiget/", delay=8, times=None)
    answer = search(client_for(customer), mc_server("paper", "1.20.1"), limit=5)
    data = answer.json()["data"]
    outcomes = {s["source"]: s for s in data["sources"]}
    assert outcomes["hangar"] == {"source": "hangar", "ok": False, "error": "Hangar answered 503."}
    assert not outcomes["spiget"]["ok"] and "too long" in outcomes["spiget"]["error"]
    assert {r["source"] for r in data["results"]} == {"modrinth", "curseforge"}


@pytest.fixture
def _short_deadline(settings):
    settings.MARKETPLACE_SEARCH_SECONDS = 1.5


pytestmark = pytest.mark.usefixtures("_short_deadline")


def test_a_rate_limited_source_says_when_to_come_back(mc_server, customer, client_for, marketplace):
    marketplace.fault(match="/modrinth/v2/search", status=429, headers={"Retry-After": "40"}, times=1)
    data = search(client_for(customer), mc_server("paper", "1.20.1")).json()["data"]
    modrinth = next(s for s in data["sources"] if s["source"] == "modrinth")
    assert not modrinth["ok"] and 35 <= modrinth["retryAfter"] <= 41


def test_one_source_sort_and_paging_are_passed_on(mc_server, customer, client_for, marketplace):
    data = search(
        client_for(customer),
        mc_server("paper", "1.20.1"),
        source="modrinth",
        sort="downloads",
        page=2,
        limit=1,
    ).json()["data"]
    assert [s["source"] for s in data["sources"]] == ["modrinth"]
    request = next(r for r in marketplace.requests() if r["path"].endswith("/v2/search"))
    assert (
        "index=downloads" in request["query"]
        and "offset=1" in request["query"]
        and "limit=1" in request["query"]
    )


@pytest.mark.parametrize(
    "params",
    [
        {"source": "nowhere"},
        {"loader": "minestom"},
        {"type": "shader"},
        {"sort": "random"},
        {"page": "0"},
        {"limit": "500"},
    ],
)
def test_bad_parameters_are_400(mc_server, customer, client_for, marketplace, params):
    answer = search(client_for(customer), mc_server(), **params)
    assert answer.status_code == 400
    assert answer.json()["message"]


def test_who_may_search(mc_server, customer, stranger, client_for, member_with, marketplace):
    server = mc_server()
    assert search(client_for(stranger), server).status_code == 404
    assert search(client_for(member_with(server, "server.read")), server).status_code == 403
    Server.objects.filter(pk=server.pk).update(status=Server.Status.SUSPENDED)
    assert search(client_for(customer), server).status_code == 423
    assert not [r for r in marketplace.requests() if "/search" in r["path"]]


def test_a_project_and_the_versions_that_fit(mc_server, customer, client_for, marketplace):
    client, server = client_for(customer), mc_server("paper", "1.20.1")
    data = client.get(f"/api/servers/{server.pk}/marketplace/projects/modrinth/luckyperms").json()["data"]
    assert data["project"]["id"] == "hrtLuck1"
    assert [(v["name"], v["compatible"]) for v in data["versions"]] == [("5.4.1", True), ("5.4.0", True)]
    wide = client.get(f"/api/servers/{server.pk}/marketplace/projects/modrinth/hrtVelo1?all=1").json()["data"]
    assert [(v["name"], v["compatible"]) for v in wide["versions"]] == [("1.0.0", False)]
    missing = client.get(f"/api/servers/{server.pk}/marketplace/projects/modrinth/nope")
    assert missing.status_code == 404


def test_one_person_spends_at_most_a_share_of_a_sources_budget(
    mc_server, customer, stranger, client_for, marketplace
):
    import time

    if time.time() % 60 > 45:  # the budgets are per clock minute
        time.sleep(61 - time.time() % 60)
    mine, theirs = mc_server("paper", "1.20.1"), mc_server("paper", "1.20.4", owner=stranger)
    client = client_for(customer)
    outcomes = [
        next(s for s in search(client, mine, source="spiget", query=f"word{n}").json()["data"]["sources"])
        for n in range(26)
    ]
    assert all(o["ok"] for o in outcomes[:25])
    assert not outcomes[25]["ok"] and "You have used your 25 requests" in outcomes[25]["error"]
    other = search(client_for(stranger), theirs, source="spiget", query="word99").json()["data"]["sources"][0]
    assert other["ok"], other  # the source itself was not blocked for everyone
