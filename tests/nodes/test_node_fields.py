"""Every node value is checked in one place (nodes/validation.py), and the API, the admin form and the
services all go through it: a hostile name, host, data dir or Docker URL is refused by each door."""

import pytest

from config.errors import InvalidInput
from nodes.models import Node
from nodes.services import node_create, node_update
from nodes.validation import Invalid, check_data_dir, check_docker_url, check_host, check_name
from tests.conftest import require_env
from tests.nodes.test_admin import messages_of, node_form

pytestmark = pytest.mark.django_db

HOSTILE_NAMES = [
    "x'; touch /tmp/pwned; echo '",
    "x\nssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAttacker attacker",
    "x$(touch /tmp/pwned)",
    "x`touch /tmp/pwned`",
    'x"; touch /tmp/pwned; "',
    "x\x00y",
    "x y",
    "-rf",
    "ünïcode",
    "name\n",
    "a" * 65,
    "",
]
HOSTILE_DATA_DIRS = [
    "/srv/x'; touch /tmp/pwned; '",
    "/srv/x\ny",
    "/srv/$(touch /tmp/pwned)",
    "/srv/`id`",
    "/srv/a b",
    "/srv/x\x00",
    "/srv/ünï",
    "relative/dir",
    "/srv/../etc",
    "/srv/./x",
    "//etc",
    "/srv//x",
    "/",
    "/etc",
    "/etc/hearth",
    "/proc/1",
    "/sys",
    "/dev/shm/x",
    "/root",
    "/root/hearth",
    "/boot",
    "/usr",
    "/usr/local/hearth",
    "/bin",
    "/var/lib/docker/volumes",
    "/run/hearth",
    "/var",
    "/home",
    "/tmp",
    "/srv/" + "a" * 300,
]
HOSTILE_HOSTS = [
    "a b",
    "a;b",
    "host$(id)",
    "-oProxyCommand=x",
    "a..b",
    "fe80::1%eth0';x",
    "ex\u00e4mple.com",
    "h\n",
]
HOSTILE_DOCKER_URLS = [
    "tcp://203.0.113.5:2375",
    "unix:///etc/passwd",
    "unix:///run/containerd/containerd.sock",
    "unix:///var/run/../run/docker.sock",
    "unix:///var/run//docker.sock",
    "ssh://203.0.113.5:22",  # no user
    "ssh://root;id@203.0.113.5",
    "ssh://hearth:password@203.0.113.5",
    "ssh://hearth@-oProxyCommand=id",
    "ssh://hearth@203.0.113.5:0",
    "ssh://hearth@203.0.113.5:65536",
    "ssh://hearth@203.0.113.5:22/path",
    "ssh://hearth@203.0.113.5?x=1",
    "ssh://hearth@host name",
    "ssh://hearth@203.0.113.5:22\n",
    "ssh://Hearth@203.0.113.5",
    "",
]


class TestTheChecks:
    @pytest.mark.parametrize("name", HOSTILE_NAMES)
    def test_it_refuses_hostile_names(self, name):
        with pytest.raises(Invalid):
            check_name(name)

    @pytest.mark.parametrize("path", HOSTILE_DATA_DIRS)
    def test_it_refuses_hostile_and_system_data_dirs(self, path):
        with pytest.raises(Invalid):
            check_data_dir(path)

    @pytest.mark.parametrize("host", HOSTILE_HOSTS)
    def test_it_refuses_hostile_hosts(self, host):
        with pytest.raises(Invalid):
            check_host(host)

    @pytest.mark.parametrize("url", HOSTILE_DOCKER_URLS)
    def test_it_refuses_other_sockets_and_malformed_ssh_urls(self, url):
        with pytest.raises(Invalid):
            check_docker_url(url)

    @pytest.mark.parametrize(
        "url",
        [
            "ssh://hearth@node1.example.com",
            "ssh://hearth@203.0.113.5:2222",
            "ssh://hearth@[2001:db8::1]:22",
            "unix:///var/run/docker.sock",
        ],
    )
    def test_it_accepts_ordinary_urls(self, url):
        assert check_docker_url(url) == url

    def test_the_test_engines_sockets_are_allowed_by_the_setting(self, settings):
        for engine in (1, 2):
            url = require_env(f"HEARTH_TEST_DOCKER{engine}_URL")
            assert check_docker_url(url) == url
        settings.NODE_LOCAL_SOCKETS = ["/var/run/docker.sock"]
        with pytest.raises(Invalid, match="HEARTH_NODE_LOCAL_SOCKETS"):
            check_docker_url("unix:///run/hearth-docker2.sock")

    def test_ordinary_data_dirs_are_kept_and_normalised(self):
        assert check_data_dir("/var/lib/hearth/") == "/var/lib/hearth"
        assert check_data_dir("/srv/hearth-data_1.2") == "/srv/hearth-data_1.2"
        assert check_data_dir("/tmp/pytest/data") == "/tmp/pytest/data"


def api_body(location, **overrides):
    return {
        "name": "edge-1",
        "locationId": str(location.pk),
        "hostname": "127.0.0.1",
        "publicAddress": "127.0.0.1",
        "maxMemoryMb": 2048,
        "maxCpuCores": 2,
        "dockerUrl": require_env("HEARTH_TEST_DOCKER1_URL"),
        "dataDir": "/srv/hearth",
        **overrides,
    }


HOSTILE_FIELDS = [
    ("name", "name", "x'; touch /tmp/pwned; echo '"),
    ("name", "name", "x\nssh-ed25519 AAAA attacker"),
    ("data_dir", "dataDir", "/srv/x'; touch /tmp/pwned; '"),
    ("data_dir", "dataDir", "/srv/$(id)"),
    ("data_dir", "dataDir", "/etc"),
    ("data_dir", "dataDir", "/srv/../root"),
    ("hostname", "hostname", "a;b"),
    ("public_address", "publicAddress", "play $(id)"),
    ("docker_url", "dockerUrl", "unix:///etc/passwd"),
    ("docker_url", "dockerUrl", "ssh://hearth@127.0.0.1:2201/x"),
]


class TestEveryDoor:
    @pytest.mark.parametrize(("field", "api_field", "value"), HOSTILE_FIELDS)
    def test_the_api_refuses_it_on_create_and_on_edit(
        self, client_for, admin, location, make_node, field, api_field, value
    ):
        staff = client_for(admin)
        response = staff.post("/api/nodes", api_body(location, **{api_field: value}), format="json")
        assert response.status_code == 400, response.content
        assert api_field in response.json()["fields"]
        assert not Node.objects.exists()

        node = make_node(engine=2, via="unix")
        before = {f.name: getattr(node, f.name) for f in Node._meta.fields}
        response = staff.patch(f"/api/nodes/{node.pk}", {api_field: value}, format="json")
        assert response.status_code == 400, response.content
        assert api_field in response.json()["fields"]
        node.refresh_from_db()
        assert getattr(node, field) == before[field]

    @pytest.mark.parametrize(("field", "api_field", "value"), HOSTILE_FIELDS)
    def test_the_admin_form_refuses_it_on_create_and_on_edit(
        self, signed_in, admin, location, make_node, field, api_field, value
    ):
        client = signed_in(admin)
        response = client.post("/admin/nodes/node/add/", node_form(location, **{field: value}))
        assert response.status_code == 200  # the form again, with the field's error
        assert field in response.context["adminform"].form.errors
        assert not Node.objects.exists()

        node = make_node(engine=2, via="unix")
        current = {"name": node.name, "docker_url": node.docker_url, "data_dir": node.data_dir}
        form = node_form(location, **{**current, field: value})
        response = client.post(f"/admin/nodes/node/{node.pk}/change/", form)
        assert response.status_code == 200
        assert field in response.context["adminform"].form.errors
        node.refresh_from_db()
        assert getattr(node, field) != value

    @pytest.mark.parametrize(("field", "api_field", "value"), HOSTILE_FIELDS)
    def test_the_services_refuse_it(self, location, make_node, field, api_field, value):
        fields = {
            "name": "edge-1",
            "location": location,
            "hostname": "127.0.0.1",
            "public_address": "127.0.0.1",
            "docker_url": require_env("HEARTH_TEST_DOCKER1_URL"),
            "data_dir": "/srv/hearth",
            "max_memory_mb": 1024,
            "max_cpu_cores": 1,
        }
        with pytest.raises(InvalidInput) as refused:
            node_create(**{**fields, field: value})
        assert field in refused.value.detail
        assert not Node.objects.exists()

        node = make_node(engine=2, via="unix")
        with pytest.raises(InvalidInput) as refused:
            node_update(node=node, **{field: value})
        assert field in refused.value.detail
        node.refresh_from_db()
        assert getattr(node, field) != value

    def test_the_admin_no_longer_skips_the_data_dir_check(self, signed_in, admin, make_node, location):
        """Before, the admin form saved any data dir (only the API's serializer checked it)."""
        node = make_node(engine=2, via="unix")
        form = node_form(location, name=node.name, docker_url=node.docker_url, data_dir="/srv/x';id>/tmp/p;'")
        response = signed_in(admin).post(f"/admin/nodes/node/{node.pk}/change/", form)
        errors = response.context["adminform"].form.errors["data_dir"]
        assert "absolute path of letters, digits" in errors[0]
        node.refresh_from_db()
        assert node.data_dir == require_env("HEARTH_TEST_NODE2_DATA_DIR")
        assert not messages_of(response)

    def test_a_good_admin_edit_still_saves_with_the_data_dir_normalised(
        self, signed_in, admin, make_node, location, tmp_path
    ):
        node = make_node(engine=2, via="unix")
        form = node_form(location, name=node.name, docker_url=node.docker_url, data_dir=f"{tmp_path}/data/")
        response = signed_in(admin).post(f"/admin/nodes/node/{node.pk}/change/", form, follow=True)
        assert response.status_code == 200
        node.refresh_from_db()
        assert node.data_dir == f"{tmp_path}/data"
