"""nodes/client/ is the only door to nodes: outside it (tests/, bench/ and migrations aside, whose raw
baselines and SSH/SFTP clients may use the libraries directly), no module imports the Docker SDK
(`docker`) or paramiko, reads a `.docker` attribute, or shells out to the `docker` CLI. The docker-image-py
reference parser (`docker_image`, a separate top-level package) is not the SDK and is allowed. Nor does anything reach
past NodeClient's typed methods into its connection (`._api`, `._connection`).

Inside the door, docker-py's (and its transport's) private attributes are reached in nodes/client/sdk.py only.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SKIPPED = {"tests", "bench", ".venv", "node_modules", "var", ".git"}
DOOR = Path("nodes/client")
LIBRARIES = {"docker", "paramiko"}
SHELL_CALLS = {"run", "Popen", "call", "check_call", "check_output", "system", "popen", "getoutput"}
PRIVATE = {
    "_get", "_url", "_raise_for_status", "_disable_socket_timeout", "_get_raw_response_socket",
    "_response", "_sock", "_fp", "_unmount", "_custom_adapter",
}  # fmt: skip


def modules() -> list[Path]:
    found = []
    for path in ROOT.rglob("*.py"):
        relative = path.relative_to(ROOT)
        if relative.parts[0] in SKIPPED or "migrations" in relative.parts:
            continue
        found.append(relative)
    return sorted(found)


def _top(name: str) -> str:
    return name.split(".")[0]


def _is_docker_command(node: ast.AST) -> bool:
    """A literal argv starting with "docker", or a command line "docker …"."""
    if isinstance(node, ast.List | ast.Tuple) and node.elts:
        first = node.elts[0]
        return isinstance(first, ast.Constant) and first.value == "docker"
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value == "docker" or node.value.startswith("docker ")
    return False


def breaches(source: str) -> list[str]:
    """What in this module's source goes around the door."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [f"imports {a.name}" for a in node.names if _top(a.name) in LIBRARIES]
        elif isinstance(node, ast.ImportFrom) and node.module and _top(node.module) in LIBRARIES:
            found.append(f"imports from {node.module}")
        elif isinstance(node, ast.Attribute) and node.attr in ("docker", "_api", "_connection"):
            found.append(f"uses .{node.attr} (line {node.lineno})")
        elif isinstance(node, ast.Call):
            name = getattr(node.func, "attr", getattr(node.func, "id", ""))
            if name in SHELL_CALLS and any(_is_docker_command(arg) for arg in node.args):
                found.append(f"shells out to the docker CLI (line {node.lineno})")
    return found


def private_uses(source: str) -> list[str]:
    return [
        f".{node.attr} (line {node.lineno})"
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Attribute) and node.attr in PRIVATE
    ]


def test_the_scan_sees_the_project():
    seen = set(map(str, modules()))
    assert {"servers/runtime.py", "nodes/health.py", "nodes/client/__init__.py"} <= seen
    assert not any(path.startswith(("tests/", "bench/")) for path in seen)


@pytest.mark.parametrize(
    "source",
    [
        "import docker",
        "import docker.errors as errors",
        "from docker.errors import NotFound",
        "import paramiko",
        "from paramiko import SSHClient",
        "client.docker.containers.list()",
        "client._api.containers()",
        "client._connection().ssh.exec_command('id')",
        "subprocess.run(['docker', 'ps'])",
        "subprocess.check_output(('docker', 'inspect', name))",
        "os.system('docker rm -f x')",
    ],
)
def test_it_catches_each_way_around_the_door(source):
    assert breaches(source)


@pytest.mark.parametrize(
    "source",
    [
        "from docker_image.reference import Reference",
        "import docker_image",
        "subprocess.run(['tar', '-cf', '-', '.'])",
        "node.docker_url.startswith('unix://')",
        "client.run(['sh', '-c', 'echo docker'])",
    ],
)
def test_it_allows_what_is_not_the_sdk_nor_the_cli(source):
    assert not breaches(source)


def test_nothing_outside_the_node_client_goes_around_it():
    found = {
        str(path): problems
        for path in modules()
        if DOOR not in path.parents and (problems := breaches((ROOT / path).read_text()))
    }
    assert found == {}


def test_only_the_sdk_module_reaches_into_private_attributes():
    found = {
        str(path): uses
        for path in modules()
        if path != DOOR / "sdk.py" and (uses := private_uses((ROOT / path).read_text()))
    }
    assert found == {}
