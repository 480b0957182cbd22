"""Registration checks a node at once: data dir created, first probe run, one engine never two nodes,
and every way a probe can fail is a failed check with its reason (never a 500)."""

import shutil
from pathlib import Path

import pytest

from config.errors import InvalidInput
from nodes.health import EngineTaken, ProbeUnreadable, _parse_probe, node_check_health
from nodes.local import node_register_local
from nodes.models import Node, NodeEvent
from nodes.services import node_create, node_update
from tests.conftest import require_env

pytestmark = pytest.mark.django_db

ENGINE1_SOCKET = Path("/var/run/docker.sock")


def api_body(location, **overrides):
    return {
        "name": "api-node",
        "locationId": str(location.pk),
        "hostname": "127.0.0.1",
        "publicAddress": "127.0.0.1",
        "maxMemoryMb": 2048,
        "maxCpuCores": 2,
        "dockerUrl": require_env("HEARTH_TEST_DOCKER1_URL"),
        **overrides,
    }


class TestFirstProbe:
    def test_the_local_node_of_a_fresh_install_is_online_at_once_with_its_data_dir(self, settings, tmp_path):
        settings.DATA_DIR = tmp_path / "data"  # a fresh var/: nothing exists yet
        socket = Path(require_env("HEARTH_TEST_DOCKER1_URL").removeprefix("unix://"))
        node, message = node_register_local(socket=socket)
        assert node.is_online, node.last_health
        assert (tmp_path / "data" / "node-local").is_dir()
        assert node.last_health["ok"] and node.last_health["disk_total_mb"] > 0
        assert "(online)" in message
        assert NodeEvent.objects.filter(node=node, kind="online").exists()

    def test_a_local_node_left_offline_is_checked_again_by_bootstrap(self, settings, tmp_path):
        settings.DATA_DIR = tmp_path / "data"
        socket = Path(require_env("HEARTH_TEST_DOCKER1_URL").removeprefix("unix://"))
        node, _ = node_register_local(socket=socket)
        Node.objects.filter(pk=node.pk).update(is_online=False)
        again, message = node_register_local(socket=socket)
        assert again.pk == node.pk and again.is_online
        assert "already registered (online)" in message

    def test_the_api_registers_a_healthy_node_online_and_creates_its_data_dir(
        self, staff, location, tmp_path
    ):
        data_dir = tmp_path / "not" / "there" / "yet"
        response = staff.post("/api/nodes", api_body(location, dataDir=str(data_dir)), format="json")
        assert response.status_code == 201, response.content
        data = response.json()["data"]
        assert data["isOnline"] is True and data["lastHealth"]["ok"] is True
        assert data["engineId"]
        assert data_dir.is_dir()

    def test_an_unreachable_node_is_registered_offline_with_the_reason(self, staff, location):
        body = api_body(location, dockerUrl="ssh://hearth@127.0.0.1:1", dataDir="/srv/hearth")
        response = staff.post("/api/nodes", body, format="json")
        assert response.status_code == 201
        data = response.json()["data"]
        assert data["isOnline"] is False
        assert "unreachable" in data["lastHealth"]["error"]

    def test_a_data_dir_that_cannot_be_created_is_a_failed_check_naming_it(self, staff, location, tmp_path):
        (tmp_path / "file").write_text("")
        data_dir = f"{tmp_path}/file/hearth"  # under a file: mkdir must fail
        response = staff.post("/api/nodes", api_body(location, dataDir=data_dir), format="json")
        assert response.status_code == 201
        data = response.json()["data"]
        assert data["isOnline"] is False
        assert "mkdir" in data["lastHealth"]["error"] and data_dir in data["lastHealth"]["error"]


class TestProbeFailures:
    def test_a_data_dir_removed_later_is_a_503_naming_it_not_a_500(self, staff, make_node, tmp_path):
        data_dir = tmp_path / "data"
        node = make_node(engine=1, via="unix", data_dir=str(data_dir))
        assert node.is_online
        shutil.rmtree(data_dir)
        response = staff.post(f"/api/nodes/{node.pk}/test")
        assert response.status_code == 503
        assert f"cannot measure the data directory {data_dir}" in response.json()["message"]
        node.refresh_from_db()
        assert node.last_health["ok"] is False and node.consecutive_failures == 1

    def test_three_unreadable_reports_take_the_node_offline(self, make_node, tmp_path, settings):
        data_dir = tmp_path / "data"
        node = make_node(engine=1, via="unix", data_dir=str(data_dir))
        shutil.rmtree(data_dir)
        for _ in range(settings.NODE_OFFLINE_AFTER_FAILURES):
            assert node_check_health(node=node)["ok"] is False
        node.refresh_from_db()
        assert not node.is_online
        assert "data directory" in node.events.filter(kind="offline").get().message

    @pytest.mark.parametrize(
        ("output", "part"),
        [
            ("", "cpu"),
            ("garbage\n", "cpu"),
            ("stat1 cpu 1 2 3 4\nstat2 cpu x y\n", "cpu"),
            ("stat1 cpu 1 2 3 4\nstat2 cpu 2 3 4 5\n", "memory"),
            ("stat1 cpu 1 2 3 4\nstat2 cpu 2 3 4 5\nMemTotal: 1024 kB\nMemAvailable: 512 kB\n", "disk"),
            (
                "stat1 cpu 1 2 3 4\nstat2 cpu 2 3 4 5\nMemTotal: 1024 kB\nMemAvailable: 512 kB\ndisk /dev/x 1\n",
                "disk",
            ),
            (
                "stat1 cpu 1 2 3 4\nstat2 cpu 2 3 4 5\nMemTotal: 1024 kB\nMemAvailable: 512 kB\n"
                "disk /dev/x 100 50 50 50% /\nuptime soon\n",
                "uptime",
            ),
        ],
    )
    def test_every_malformed_report_names_the_part_it_could_not_read(self, output, part):
        with pytest.raises(ProbeUnreadable, match=f"unreadable {part}"):
            _parse_probe(output)

    def test_a_df_failure_is_reported_as_such(self):
        output = "disk_error df: /x: No such file or directory\n"
        with pytest.raises(ProbeUnreadable, match="cannot measure the data directory /x: df: /x: No such"):
            _parse_probe(output, data_dir="/x")


class TestDockerUrl:
    def test_the_api_requires_a_docker_url(self, staff, location):
        body = api_body(location)
        del body["dockerUrl"]
        response = staff.post("/api/nodes", body, format="json")
        assert response.status_code == 400
        assert "dockerUrl" in response.json()["fields"]
        assert not Node.objects.exists()

    @pytest.mark.parametrize("url", ["", None])
    def test_the_service_never_falls_back_to_the_panels_engine(self, location, url):
        fields = {"docker_url": url} if url is not None else {}
        with pytest.raises(InvalidInput) as refused:
            node_create(
                name="x",
                location=location,
                hostname="h",
                public_address="1.2.3.4",
                max_memory_mb=1024,
                max_cpu_cores=1,
                **fields,
            )
        assert "unix:///var/run/docker.sock" in str(refused.value.detail["docker_url"])

    def test_the_admin_form_requires_it_too(self, signed_in, admin, location):
        client = signed_in(admin)
        response = client.post(
            "/admin/nodes/node/add/",
            {
                "name": "adm",
                "location": str(location.pk),
                "hostname": "h",
                "public_address": "1.2.3.4",
                "data_dir": "/srv/hearth",
                "max_memory_mb": 1024,
                "max_cpu_cores": 1,
                "max_disk_mb": 0,
                "memory_overallocate_percent": 0,
                "cpu_overallocate_percent": 0,
                "disk_overallocate_percent": 0,
            },
        )
        assert response.status_code == 200  # the form again, with the error
        assert "docker_url" in response.context["adminform"].form.errors
        assert not Node.objects.exists()


class TestOneEngineOneNode:
    def test_a_second_node_on_the_same_engine_over_ssh_is_refused_with_409(self, staff, make_node, location):
        first = make_node(engine=1, via="unix")
        body = api_body(
            location,
            name="same-engine",
            dockerUrl=require_env("HEARTH_TEST_SSH1_URL"),
            sshPrivateKey=Path(require_env("HEARTH_TEST_SSH_KEY")).read_text(),
        )
        response = staff.post("/api/nodes", body, format="json")
        assert response.status_code == 409
        assert f"already is node '{first.name}'" in response.json()["message"]
        assert list(Node.objects.values_list("name", flat=True)) == [first.name]

    def test_another_path_to_the_same_socket_is_refused_too(
        self, staff, make_node, location, tmp_path, settings
    ):
        first = make_node(engine=1, via="unix")
        alias = tmp_path / "docker.sock"
        alias.symlink_to(require_env("HEARTH_TEST_DOCKER1_URL").removeprefix("unix://"))
        settings.NODE_LOCAL_SOCKETS = [*settings.NODE_LOCAL_SOCKETS, str(alias)]  # even when allowed
        response = staff.post("/api/nodes", api_body(location, dockerUrl=f"unix://{alias}"), format="json")
        assert response.status_code == 409
        assert first.name in response.json()["message"]

    def test_two_engines_on_one_host_sharing_a_docker_id_are_two_nodes(self, make_node):
        # The test engines share /etc/docker/key.json, hence Docker's ID: the data root tells them apart.
        one, two = make_node(engine=1, via="unix"), make_node(engine=2, via="unix")
        assert one.is_online and two.is_online
        assert one.engine_id != two.engine_id
        assert one.engine_id.split("@")[0] == two.engine_id.split("@")[0]

    def test_moving_a_node_onto_an_engine_that_is_another_node_is_refused(self, staff, make_node):
        first, second = make_node(engine=1, via="unix"), make_node(engine=2, via="unix")
        move = {
            "dockerUrl": require_env("HEARTH_TEST_SSH1_URL"),
            "sshPrivateKey": Path(require_env("HEARTH_TEST_SSH_KEY")).read_text(),
        }
        response = staff.patch(f"/api/nodes/{second.pk}", move, format="json")
        assert response.status_code == 409
        assert first.name in response.json()["message"]
        second.refresh_from_db()
        assert second.docker_url == require_env("HEARTH_TEST_DOCKER2_URL") and second.is_online

    def test_the_service_raises_engine_taken(self, make_node):
        make_node(engine=2, via="unix")
        other = make_node(engine=1, via="unix")
        with pytest.raises(EngineTaken):
            node_update(node=other, docker_url=require_env("HEARTH_TEST_DOCKER2_URL"))

    def test_rows_from_before_the_rule_are_caught_by_the_probe(self, make_node, location):
        first = make_node(engine=1, via="unix")
        twin = Node.objects.create(  # as an old install has it: a second row on the panel's own engine
            name="twin",
            location=location,
            hostname="h",
            public_address="127.0.0.1",
            docker_url=require_env("HEARTH_TEST_DOCKER1_URL"),
            data_dir=first.data_dir,
            max_memory_mb=1024,
            max_cpu_cores=1,
            is_online=True,
        )
        report = node_check_health(node=twin)  # offline at once: no waiting for three failures
        assert report["ok"] is False
        assert f"already is node '{first.name}'" in report["error"]
        twin.refresh_from_db()
        assert not twin.is_online and twin.engine_id == ""
