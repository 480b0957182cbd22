"""The proxy's path view: `/` is the server's root, `..` stops there, and the mount is taken off the
paths the helper names. (Cosmetic: the helper container is what contains; test_containment.py.)"""

import pytest

from servers.sftp.proxy import Paths

MOUNT = "/home/container"


@pytest.mark.parametrize(
    ("client", "helper"),
    [
        (b"", b"/home/container"),
        (b".", b"/home/container"),
        (b"/", b"/home/container"),
        (b"//", b"/home/container"),
        (b"world", b"/home/container/world"),
        (b"/world/./level.dat", b"/home/container/world/level.dat"),
        (b"../../../etc/passwd", b"/home/container/etc/passwd"),
        (b"/a/../../b", b"/home/container/b"),
        (b"//etc", b"/home/container/etc"),
        (b"/home/container", b"/home/container/home/container"),
        (b"a\\..\\..\\b", b"/home/container/a\\..\\..\\b"),  # a backslash is a name's character
        (b"\xff\xfe/x", b"/home/container/\xff\xfe/x"),
    ],
)
def test_client_paths_land_under_the_mount(client, helper):
    assert Paths(MOUNT).inside(client) == helper


@pytest.mark.parametrize(
    ("helper", "client"),
    [
        (b"/home/container", b"/"),
        (b"/home/container/world", b"/world"),
        (b"/home/containerx/world", b"/home/containerx/world"),  # a sibling is not under the mount
        (b"/etc", b"/etc"),
    ],
)
def test_helper_paths_are_shown_from_the_servers_root(helper, client):
    assert Paths(MOUNT).outside(helper) == client
