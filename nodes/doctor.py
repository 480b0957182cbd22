"""Doctor's node checks (config/doctor.py runs them, each node in a bounded thread of its own): reachable,
its Docker version, the data dir writable, the `bridge` network present, free disk. Through nodes/client
only: one engine info, one host command (the data dir and its free space) and one network list per node.
Not nodes.health's probe: that one samples CPU for 0.3 s and does not try a write."""

import time
from urllib.parse import urlsplit

from django.conf import settings

from config import doctor
from config.doctor import ERROR, OK, WARNING, Bounded, Check, elapsed_ms
from nodes import client as node_client
from nodes.models import Node

DATA_DIR_SCRIPT = r"""
d="$1"
if [ ! -d "$d" ]; then echo missing; exit 0; fi
f="$d/.hearth-doctor-$$"
if ( : > "$f" ) 2>/dev/null; then rm -f "$f"; echo writable; else echo readonly; fi
df -Pk "$d" | tail -n 1
"""


def run_checks(**options) -> list[Check]:
    """Doctor's checks with the nodes': what `manage.py doctor` and /api/admin/health show."""
    return doctor.run_checks(more=[node_checks], **options)


def node_checks() -> tuple[list[Check], list[Bounded]]:
    nodes = list(Node.objects.order_by("name"))
    if not nodes:
        return [
            Check("nodes", WARNING, "no nodes: servers have nowhere to run", "add one in the admin (Nodes)")
        ], []
    return [], [
        Bounded(
            f"node-{node.pk}",
            lambda node=node: _node_checks(node),
            Check(f"node {node.name}", ERROR, f"node {node.name} did not answer", _hung_fix(node)),
        )
        for node in nodes
    ]


def _node_user(node) -> str:
    if node.is_ssh:
        return urlsplit(node.docker_url).username or "<the node's user>"
    return "$(id -un)"


def _node_checks(node) -> list[Check]:
    name = f"node {node.name}"
    client = node_client.client_for(node)
    started = time.monotonic()
    try:
        info = client.info()
    except Exception as exc:
        where = f"on {node.hostname}" if node.is_ssh else "on this machine"
        return [
            Check(
                name,
                ERROR,
                f"unreachable at {node.docker_url}: {exc}",
                f"start Docker {where} (`sudo systemctl start docker`)"
                + (" and check that its sshd accepts the panel's key" if node.is_ssh else ""),
            )
        ]
    version = info.get("ServerVersion", "?")
    major = version.split(".")[0]
    checks = [Check(name, OK, f"reachable, Docker {version} ({elapsed_ms(started)} ms)")]
    if major.isdigit() and int(major) < 20:
        checks[0] = Check(
            name, WARNING, f"Docker {version} is older than 20.10", "upgrade Docker on the node"
        )
    data_dir, df = _data_dir_check(node, client.run(["sh", "-c", DATA_DIR_SCRIPT, "doctor", node.data_dir]))
    checks.append(data_dir)
    if "bridge" in client.network_names():
        checks.append(Check(f"{name} bridge", OK, "the bridge network is present"))
    else:
        checks.append(
            Check(
                f"{name} bridge",
                ERROR,
                "the engine has no `bridge` network: game servers cannot start",
                'remove `"bridge": "none"` from /etc/docker/daemon.json (or `--bridge=none` from dockerd\'s '
                "options) and restart Docker (`sudo systemctl restart docker`)",
            )
        )
    if data_dir.status == OK:
        checks.append(_disk_check(node, df))
    return checks


def _data_dir_check(node, output: str) -> tuple[Check, str]:
    """(the data dir's check, its df line) from DATA_DIR_SCRIPT's output."""
    lines = output.strip().splitlines()
    state = lines[0] if lines else ""
    check = Check(f"node {node.name} data dir", OK, f"{node.data_dir} is writable")
    if state != "writable":
        problem = "does not exist" if state == "missing" else "is not writable"
        check.status, check.message = ERROR, f"{node.data_dir} {problem}"
        check.fix = f"on {node.hostname}: `sudo install -d -o {_node_user(node)} {node.data_dir}`"
    return check, lines[1] if len(lines) > 1 else ""


def _disk_check(node, df: str) -> Check:
    name = f"node {node.name} disk"
    try:
        free_mb = int(df.split()[3]) // 1024
    except (IndexError, ValueError):
        return Check(name, WARNING, f"cannot read the free space of {node.data_dir}: {df!r}")
    limit = settings.DOCTOR_DISK_FREE_WARN_MB
    fix = f"free space on {node.hostname} under {node.data_dir} (old backups, unused images: `docker image prune`)"
    if free_mb < limit / 10:
        return Check(name, ERROR, f"only {free_mb} MB free under {node.data_dir}", fix)
    if free_mb < limit:
        return Check(name, WARNING, f"{free_mb} MB free under {node.data_dir} (under {limit} MB)", fix)
    return Check(name, OK, f"{free_mb} MB free under {node.data_dir}")


def _hung_fix(node) -> str:
    return f"check that {node.hostname} is up and that the panel can reach {node.docker_url}"
