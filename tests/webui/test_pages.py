"""The server list and the server page: what each user sees, and that nothing they typed runs."""

import json
import re

from django.contrib.staticfiles import finders

from nodes.models import Allocation
from servers.models import Server

S = Server.Status


def page_data(response) -> dict:
    match = re.search(
        r'<script id="page-data" type="application/json">(.*?)</script>', response.content.decode()
    )
    return json.loads(match.group(1))


def power_buttons(response) -> dict[str, bool]:
    """{action: disabled} for each power button on the page."""
    html = response.content.decode()
    return {
        action: disabled == " disabled"
        for action, disabled in re.findall(r'data-action="(\w+)"( disabled)?', html)
    }


def test_the_list_shows_my_servers_and_the_ones_shared_with_me(
    signed_in, customer, stranger, make_user, make_server, share
):
    mine = make_server(customer, name="survival", status=S.RUNNING)
    Allocation.objects.create(node=mine.node, ip="0.0.0.0", port=25565, server=mine, is_primary=True)  # noqa: S104
    shared = make_server(stranger, name="creative")
    share(shared, customer, ["server.console"])
    make_server(stranger, name="secret-base")
    response = signed_in(customer).get("/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "survival" in html and "creative" in html and "secret-base" not in html
    assert f'href="/servers/{mine.pk}"' in html
    assert "play.example.com:25565" in html
    assert "node-ui" in html and "1024 MB" in html and "2 cores" in html
    assert 'data-status="running"' in html
    # Live badges only where the WebSocket will accept the subscription (server.read).
    assert page_data(response) == {"live": [str(mine.pk)]}


def test_the_list_is_empty_for_a_newcomer(signed_in, customer):
    response = signed_in(customer).get("/")
    assert "You have no servers yet." in response.content.decode()


def test_staff_see_a_link_to_the_admin_and_customers_do_not(signed_in, customer, admin):
    assert 'href="/admin/"' in signed_in(admin).get("/").content.decode()
    assert 'href="/admin/"' not in signed_in(customer).get("/").content.decode()


def test_a_strangers_server_is_not_found(signed_in, customer, stranger, make_server):
    server = make_server(stranger)
    response = signed_in(customer).get(f"/servers/{server.pk}")
    assert response.status_code == 404
    assert server.name not in response.content.decode()
    assert signed_in(customer).get("/servers/00000000-0000-0000-0000-000000000000").status_code == 404


def test_the_owner_sees_every_power_button_the_console_and_the_charts(signed_in, customer, make_server):
    server = make_server(customer)
    response = signed_in(customer).get(f"/servers/{server.pk}")
    assert response.status_code == 200
    html = response.content.decode()
    assert power_buttons(response) == {"start": False, "stop": True, "restart": False, "kill": True}
    assert 'id="console"' in html and 'id="command"' in html and 'id="cpu-chart"' in html
    assert '<label for="command" class="visually-hidden">Command</label>' in html
    data = page_data(response)
    assert data["serverId"] == str(server.pk) and data["status"] == "stopped"
    assert all(data["may"].values())
    assert data["allowedFrom"]["stop"] == ["running", "starting"]


def test_buttons_follow_the_status(signed_in, customer, make_server):
    running = make_server(customer, status=S.RUNNING)
    client = signed_in(customer)
    buttons = power_buttons(client.get(f"/servers/{running.pk}"))
    assert buttons == {"start": True, "stop": False, "restart": False, "kill": False}
    installing = make_server(customer, name="new", status=S.INSTALLING, installed_at=None)
    response = client.get(f"/servers/{installing.pk}")
    assert power_buttons(response) == {"start": True, "stop": True, "restart": True, "kill": True}
    assert "Not installed yet." in response.content.decode()


def test_a_member_with_only_the_console_sees_no_power_buttons(
    signed_in, customer, make_user, make_server, share
):
    server = make_server(customer)
    member = make_user()
    share(server, member, ["server.console"])
    response = signed_in(member).get(f"/servers/{server.pk}")
    assert response.status_code == 200
    html = response.content.decode()
    assert power_buttons(response) == {}
    assert 'role="group" aria-label="Power"' not in html
    assert 'id="command"' in html
    assert 'id="console"' not in html and "You may not read this server's console." in html
    assert 'id="cpu-chart"' not in html
    assert page_data(response)["may"] == {
        "start": False,
        "stop": False,
        "restart": False,
        "kill": False,
        "read": False,
        "console": True,
        "logs": False,
    }


def test_a_member_sees_only_the_buttons_they_were_granted(signed_in, customer, make_user, make_server, share):
    server = make_server(customer)
    member = make_user()
    share(server, member, ["server.read", "server.logs.read", "server.start", "server.stop"])
    response = signed_in(member).get(f"/servers/{server.pk}")
    assert power_buttons(response) == {"start": False, "stop": True}
    html = response.content.decode()
    assert 'id="console"' in html and 'id="command"' not in html


def test_support_staff_see_every_server_but_no_power_buttons(signed_in, customer, make_user, make_server):
    server = make_server(customer)
    support = make_user(role="Support")
    response = signed_in(support).get(f"/servers/{server.pk}")
    assert response.status_code == 200
    assert power_buttons(response) == {}
    assert 'id="command"' in response.content.decode()


def test_pages_escape_a_server_name_with_markup(signed_in, customer, make_server):
    name = '<script>alert("owned")</script>'
    server = make_server(customer, name=name, description='<img src=x onerror="alert(1)">')
    client = signed_in(customer)
    for path in ("/", f"/servers/{server.pk}"):
        html = client.get(path).content.decode()
        assert name not in html and "<img src=x" not in html
        assert "&lt;script&gt;alert(&quot;owned&quot;)&lt;/script&gt;" in html


def test_the_crash_reason_is_shown_on_a_crashed_server(signed_in, customer, make_server):
    server = make_server(customer, status=S.CRASHED, status_reason="Exited with code 1 <oops>")
    html = signed_in(customer).get(f"/servers/{server.pk}").content.decode()
    assert "Exited with code 1 &lt;oops&gt;" in html


def test_pages_set_the_csrf_cookie_the_scripts_send(signed_in, customer, make_server):
    server = make_server(customer)
    client = signed_in(customer)
    client.cookies.pop("csrftoken", None)
    response = client.get(f"/servers/{server.pk}")
    assert response.cookies["csrftoken"].value


def test_the_scripts_and_stylesheet_are_shipped_with_the_app(signed_in, customer, make_server):
    server = make_server(customer)
    html = signed_in(customer).get(f"/servers/{server.pk}").content.decode()
    for asset in re.findall(r'(?:src|href)="/static/([^"]+)"', html):
        assert finders.find(asset), asset
    assert not re.search(r'(?:src|href)="(?:https?:)?//', html)  # nothing is fetched from elsewhere
