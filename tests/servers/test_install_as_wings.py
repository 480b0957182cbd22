"""Install scripts run as Wings runs them: the script copied into the install container at
/mnt/install/install.sh (not mounted), the server's files at /mnt/server (the only bind mount), run by
`<entrypoint> /mnt/install/install.sh` with the server's environment, on the local and the SSH node."""

import pytest

from servers.install import CHOWN_FAILED, SCRIPT_PATH, InstallFailed, install_command, install_script
from servers.models import Server
from templates_app.models import Template
from tests.servers.conftest import wait_status
from tests.servers.test_install_hardening import output
from tests.servers.test_lifecycle import create

S = Server.Status

# Each probe prints one line the test reads back; `$0` is the script's path only when the entrypoint
# was given the file (Hearth's old way passed the script as `-c` text, where $0 is the shell).
PROBE = r"""echo "script=$0"
grep -q ' /mnt/install ' /proc/self/mounts && echo "install=mounted" || echo "install=copied"
echo "binds=$(grep -c ' /mnt/' /proc/self/mounts)"
echo "port=$SERVER_PORT memory=$SERVER_MEMORY"
echo "motd=$MOTD"
printf '%s\n' "$MOTD" > /mnt/server/motd.txt
"""


@pytest.mark.parametrize(("engine", "via"), [(1, "unix"), (2, "ssh")])
def test_the_script_is_a_copied_file_run_by_the_entrypoint_with_the_servers_environment(
    client_for, customer, game_node, game_template, monitor, engine, via
):
    game_template.install_script = PROBE.replace("\n", "\r\n")  # as a Windows editor saves it
    game_template.save()
    server = wait_status(
        create(client_for(customer), game_node(engine, via), game_template, install=True),
        S.STOPPED,
        S.INSTALL_FAILED,
    )
    assert server.status == S.STOPPED, server.status_reason
    text = output(server)
    assert f"script={SCRIPT_PATH}" in text
    assert "install=copied" in text
    assert "binds=1" in text  # /mnt/server only
    assert f"port={server.primary_allocation.container_port or server.primary_allocation.port}" in text
    assert "memory=256" in text
    assert "motd=hello $(id) `id`" in text  # the server's value, as data


@pytest.mark.parametrize("entrypoint", ["sh -c id", "sh;id", "$(id)", "../../bin/sh x", ""])
def test_an_entrypoint_that_is_not_a_program_name_is_refused_before_any_container(db, entrypoint):
    """The validators refuse these in the admin and the API; a row written around them still never runs."""
    template = Template(install_entrypoint=entrypoint or "a" * 101, install_script="echo hi\n")
    with pytest.raises(InstallFailed, match="entrypoint is refused"):
        install_script(template)


def test_a_script_longer_than_any_editor_allows_is_refused(db, settings):
    from config.limits import SCRIPT_CHARS

    template = Template(install_entrypoint="sh", install_script="#" * (SCRIPT_CHARS + 1))
    with pytest.raises(InstallFailed, match="longer than"):
        install_script(template)


def test_the_script_keeps_every_byte_but_windows_line_ends():
    template = Template(install_entrypoint="bash", install_script="echo 'é $(x)'\r\n\techo `y`\r\n")
    assert install_script(template) == "echo 'é $(x)'\n\techo `y`\n".encode()


@pytest.fixture
def derived_image():
    """Make images from the test image on engine 1 for this test (`run`: a shell line run in it as root
    first; `entrypoint`: its new ENTRYPOINT, JSON), removed after."""
    import uuid

    import docker

    from tests.fixtures import require_env

    engine = docker.DockerClient(base_url=require_env("HEARTH_TEST_DOCKER1_URL"))
    made = []

    def make(*, entrypoint: str | None = None, run: str = "true") -> str:
        base = engine.containers.run(
            require_env("HEARTH_TEST_IMAGE"),
            ["/bin/sh", "-c", run],
            entrypoint=[],
            user="0",
            labels={"hearth.test": "ep"},
            detach=True,
        )
        tag = f"hearth/testgame-ep:{uuid.uuid4().hex[:10]}"
        try:
            assert base.wait(timeout=30)["StatusCode"] == 0
            base.commit(*tag.split(":"), changes=[f"ENTRYPOINT {entrypoint}"] if entrypoint else [])
        finally:
            base.remove(force=True)
        made.append(tag)
        return tag

    yield make
    for tag in made:
        engine.images.remove(tag, force=True)
    engine.close()


@pytest.fixture
def image_with_an_entrypoint(derived_image):
    """An ENTRYPOINT that says it ran and then runs its arguments (as tini does)."""
    return derived_image(entrypoint='["/bin/sh", "-c", "echo entrypoint-ran; exec \\"$@\\"", "entrypoint"]')


def install_with(client_for, customer, game_node, game_template, image: str, *, use_image_entrypoint=True):
    game_template.install_image = image
    game_template.use_image_entrypoint = use_image_entrypoint
    game_template.install_script = 'echo "script ran as $0"\n'
    game_template.save()
    return wait_status(
        create(client_for(customer), game_node(), game_template, install=True), S.STOPPED, S.INSTALL_FAILED
    )


@pytest.mark.parametrize(
    "entrypoint", ['["/bin/sh", "-c", "echo ignoring my arguments"]', '["/bin/sh", "-c"]']
)
def test_an_entrypoint_that_never_runs_the_script_fails_the_install(
    client_for, customer, game_node, game_template, monitor, derived_image, entrypoint
):
    """Both exit 0 without the script or the chown (`sh -c /bin/sh -c …` runs a shell reading nothing)."""
    server = install_with(
        client_for, customer, game_node, game_template, derived_image(entrypoint=entrypoint)
    )
    assert server.status == S.INSTALL_FAILED
    assert "never ran" in server.status_reason and "ENTRYPOINT" in server.status_reason
    assert server.installed_at is None


def test_a_chown_that_fails_fails_the_install():
    """The wrapper itself, in the test image as root: a user chown does not know makes it fail (70),
    saying why, after the script ran and said so; the real install reports a non-zero code (above)."""
    import docker

    from tests.fixtures import require_env

    prepare = f"mkdir -p /mnt/install /mnt/server && echo 'echo script-ran' > {SCRIPT_PATH} && "
    engine = docker.DockerClient(base_url=require_env("HEARTH_TEST_DOCKER1_URL"))
    try:
        container = engine.containers.run(
            require_env("HEARTH_TEST_IMAGE"),
            ["/bin/sh", "-c", prepare + install_command("sh", "no-such-user:no-such-group")],
            entrypoint=[],
            user="0",
            labels={"hearth.test": "ep"},
            detach=True,
        )
        try:
            code = container.wait(timeout=30)["StatusCode"]
            text = container.logs().decode()
        finally:
            container.remove(force=True)
    finally:
        engine.close()
    assert code == 70, text
    assert "script-ran" in text and CHOWN_FAILED in text


@pytest.mark.parametrize("use_image_entrypoint", [True, False])
def test_an_eggs_install_image_keeps_its_entrypoint_as_wings_leaves_it(
    client_for, customer, game_node, game_template, monitor, image_with_an_entrypoint, use_image_entrypoint
):
    server = install_with(
        client_for,
        customer,
        game_node,
        game_template,
        image_with_an_entrypoint,
        use_image_entrypoint=use_image_entrypoint,
    )
    assert server.status == S.STOPPED, server.status_reason
    text = output(server)
    assert f"script ran as {SCRIPT_PATH}" in text
    assert ("entrypoint-ran" in text) is use_image_entrypoint
