"""The streamed upload route authenticates, authorizes and limits as the rest of the API does: JWT,
API keys (and their scope), a browser session with CSRF, rate-limit headers; a node that cannot be
reached is a 503, a client that leaves midway leaves nothing."""

import os

import pytest

from accounts.apikeys import apikey_create
from nodes.models import Node
from servers.files.helper import session
from tests.servers.files.test_upload import multipart, names_in, url
from tests.servers.files.transfer_client import asgi

CSRF = "a" * 32


def post(server, headers, fields=(("file", ("a.txt", b"hello")),), **kwargs):
    body, content_type = multipart(list(fields))
    sent = [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode()), *headers]
    return asgi("POST", url(server), headers=sent, chunks=[body], **kwargs)


def test_api_keys_and_their_scope(files_server, customer):
    server = files_server()
    _, full = apikey_create(user=customer, name="all")
    _, read_only = apikey_create(user=customer, name="read", permissions=["file.read"])
    assert post(server, [(b"authorization", f"Bearer {full}".encode())]).status == 200
    narrowed = post(server, [(b"authorization", f"Bearer {read_only}".encode())])
    assert narrowed.status == 403
    assert "file.write" in narrowed.json()["message"]
    wrong = post(server, [(b"authorization", b"Bearer hth_00000000_nope")])
    assert wrong.status == 401


def test_a_browser_session_needs_the_csrf_token(files_server, customer, signed_in):
    server = files_server()
    browser = signed_in(customer)
    cookie = f"sessionid={browser.cookies['sessionid'].value}"
    without = post(server, [(b"cookie", cookie.encode())])
    assert without.status == 403
    assert "CSRF" in without.json()["message"]
    with_token = post(
        server,
        [(b"cookie", f"{cookie}; csrftoken={CSRF}".encode()), (b"x-csrftoken", CSRF.encode())],
    )
    assert with_token.status == 200, with_token.body
    assert names_in(server) == {"a.txt"}


def test_the_answer_carries_the_rate_limit_headers(files_server, customer, settings):
    from tests.servers.files.transfer_client import bearer

    server = files_server()
    answer = post(server, bearer(customer))
    assert answer.status == 200
    assert int(answer.headers["x-ratelimit-limit"]) == settings.RATE_LIMITS["default"]
    assert "x-ratelimit-remaining" in answer.headers


@pytest.mark.parametrize(("engine", "via"), [(1, "unix"), (2, "ssh")])
def test_a_client_that_leaves_midway_leaves_nothing(files_server, customer, engine, via):
    from tests.servers.files.transfer_client import bearer

    server = files_server(engine, via)
    body, content_type = multipart([("file", ("half.bin", os.urandom(2 * 1024 * 1024)))])
    answer = asgi(
        "POST",
        url(server),
        headers=[(b"content-type", content_type.encode()), *bearer(customer)],
        chunks=[body[: len(body) // 2]],
        leave_midway=True,
    )
    assert answer.status == 400
    assert "cut off" in answer.json()["message"]
    assert names_in(server) == set()


def test_an_unreachable_node_is_503(files_server, customer):
    from tests.servers.files.transfer_client import bearer

    server = files_server(2, "ssh")
    with session(server):
        pass  # the helper exists; now the node goes away
    Node.objects.filter(pk=server.node_id).update(docker_url="ssh://hearth@127.0.0.1:1")
    answer = post(server, bearer(customer))
    assert answer.status == 503
    assert answer.json()["statusCode"] == 503
    download = asgi(
        "GET", f"/api/servers/{server.pk}/files/download", query="path=/a.txt", headers=bearer(customer)
    )
    assert download.status == 503
