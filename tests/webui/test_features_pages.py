"""The server page's data for the egg features' offers (features.js): the patterns, the template's
images, and which offer the user may act on, as the API decides (no browser: rows only)."""

from servers.features import CONSOLE_PATTERNS
from servers.models import Job
from tests.webui.test_pages import page_data


def test_the_owner_may_take_every_offer_and_sees_the_templates_images(
    signed_in, customer, make_server, template
):
    template.docker_images = {"Java 17": "example/game:17", "Java 21": "example/game:21"}
    template.save()
    response = signed_in(customer).get(f"/servers/{make_server(customer).pk}")
    html = response.content.decode()
    assert 'id="feature-offer"' in html and "webui/js/features" in html
    data = page_data(response)["features"]
    assert data["patterns"] == CONSOLE_PATTERNS
    assert data["images"] == [
        {"label": "Default", "image": "example/game:1"},
        {"label": "Java 17", "image": "example/game:17"},
        {"label": "Java 21", "image": "example/game:21"},
    ]
    assert data["dockerImage"] == "example/game:1"
    assert data["may"] == {"eula": True, "image": True, "resources": False}


def test_a_member_may_accept_only_with_file_write_and_start(
    signed_in, customer, make_user, make_server, share
):
    server = make_server(customer)
    for permissions, eula in (
        (["server.logs.read", "server.start"], False),
        (["server.logs.read", "file.write"], False),
        (["server.logs.read", "file.write", "server.start"], True),
    ):
        member = make_user()
        share(server, member, permissions)
        assert page_data(signed_in(member).get(f"/servers/{server.pk}"))["features"]["may"]["eula"] is eula


def test_without_the_console_there_is_no_offer(signed_in, customer, make_user, make_server, share):
    server = make_server(customer)
    member = make_user()
    share(server, member, ["server.read"])
    response = signed_in(member).get(f"/servers/{server.pk}")
    assert page_data(response)["features"] is None
    assert 'id="feature-offer"' not in response.content.decode()


def test_the_server_detail_lists_the_templates_features(client_for, customer, make_server, template):
    template.features = ["eula", "pid_limit"]
    template.save()
    server = make_server(customer)
    detail = client_for(customer).get(f"/api/servers/{server.pk}").json()["data"]
    assert detail["template"]["features"] == ["eula", "pid_limit"]


def test_the_page_knows_when_the_last_start_was_asked(signed_in, customer, make_server):
    """features.js ignores the replayed lines of earlier runs (stamped as the console stamps them)."""
    server = make_server(customer)
    path = f"/servers/{server.pk}"
    assert page_data(signed_in(customer).get(path))["features"]["lastStartAt"] is None
    start = Job.objects.create(server=server, kind=Job.Kind.POWER, detail={"action": "start"})
    Job.objects.create(server=server, kind=Job.Kind.POWER, detail={"action": "stop"})  # not a start
    stamp = page_data(signed_in(customer).get(path))["features"]["lastStartAt"]
    assert stamp == start.created_at.isoformat(timespec="milliseconds").replace("+00:00", "Z")
