"""The one place bench calls the panel's own code: its services (seeding nodes, servers, templates),
its runtime (a server's directory and container spec, its removal), its node client and its console
internals. The scenarios import nothing else from the panel's apps, so when that code moves, this
module is what follows it. (The raw baselines use docker-py directly: bench/rawdocker.py.)

Everything imports lazily: Django is set up by the runner (harness.migrate_and_setup_django) after
these functions are imported."""

import contextlib
import uuid

from bench.harness import BENCH_EMAIL, Aborted, env


def server_model():
    from servers.models import Server

    return Server


def seed_panel():
    """Default roles, the benchmark's administrator and the stock templates.

    Returns (administrator, its fresh password, the Test Game template), refusing a Test Game that does
    not run the test environment's image."""
    from accounts.models import Role, User
    from accounts.services import roles_ensure_defaults
    from templates_app.models import Template
    from templates_app.services import templates_install_catalogue

    roles_ensure_defaults()
    password = uuid.uuid4().hex
    admin = User.objects.create_superuser(email=BENCH_EMAIL, username="bench", password=password)
    admin.roles.add(Role.objects.get(name="Administrator"))
    templates_install_catalogue()
    game = Template.objects.get(name="Test Game")
    if game.docker_image != env("HEARTH_TEST_IMAGE"):
        raise Aborted(f"The Test Game template runs {game.docker_image}, not {env('HEARTH_TEST_IMAGE')}.")
    return admin, password, game


def template_variant(game, *, name: str, start_command: str):
    """A copy of template `game` (every field and variable) with its own name and start command."""
    from templates_app.models import Template
    from templates_app.services import VARIABLE_FIELDS, template_save

    fields = {
        f.name: getattr(game, f.name)
        for f in Template._meta.concrete_fields
        if f.name not in ("id", "name", "created_at", "updated_at")
    }
    fields["start_command"] = start_command
    variables = [{k: getattr(v, k) for k in VARIABLE_FIELDS} for v in game.variables.all()]
    return template_save(template=Template(name=name, **fields), variables=variables)


def location_create(name: str):
    from nodes.models import Location

    return Location.objects.create(name=name)


def node_online(*, ports: str, ssh_host_key: str = "", **fields):
    """A node created through the panel's service (`fields` as node_create takes them), its host key
    pinned when given, checked healthy, with allocations `ports` on 127.0.0.1."""
    from nodes.allocations import allocations_create
    from nodes.health import node_check_health
    from nodes.services import node_create

    node, _ = node_create(**fields)
    if ssh_host_key:
        node.ssh_host_key = ssh_host_key
        node.save()
    report = node_check_health(node=node)
    if not report.get("ok"):
        raise Aborted(f"Node {node.name} is not healthy: {report.get('error')}")
    allocations_create(node=node, ip="127.0.0.1", ports=ports)
    node.refresh_from_db()
    return node


def server_create(**fields):
    from servers.lifecycle.create import server_create

    return server_create(**fields)


def server_install(server, actor, *, reinstall: bool = False) -> None:
    from servers.lifecycle.install import server_install

    if reinstall:
        server_install(server=server, actor=actor, reinstall=True)
    else:
        server_install(server=server, actor=actor)


def server_dir(server) -> str:
    """The server's directory on its node."""
    from servers import runtime

    return runtime.server_dir(server)


def container_spec(server) -> dict:
    """The panel's container spec of `server` (keys as bench/rawdocker.py reads them)."""
    from servers import runtime

    return runtime.container_spec(server)


def server_destroy(server) -> None:
    """The panel's own removal of the server's container."""
    from nodes.client import client_for
    from servers import runtime

    runtime.destroy(client_for(server.node), server)


def node_run(node, argv: list[str], *, timeout: float | None = None) -> None:
    """Run a command on the node, as the node's user (over SSH for an ssh:// node)."""
    from nodes.client import client_for

    client_for(node).run(argv, timeout=timeout)


def node_sdk_api(node):
    """A docker-py APIClient over the panel's own connection to the node (for the sdk-ssh baseline:
    docker-py through the node client's pinned SSH transport). Called before each timed call: the
    node client reconnects (untimed) when the connection dropped, as the panel does."""
    from nodes.client import baseline_api, client_for

    return baseline_api(client_for(node))


def demultiplex(response):
    """The node client's reader of the Engine's multiplexed log stream: batches of (stream, bytes)."""
    from nodes.client.streams import _demultiplex

    return _demultiplex(response)


def output_throttle():
    """The monitor's per-server line throttle and the line cutter its follower applies (with the
    panel's line limit)."""
    from django.conf import settings

    from servers.monitor.output import Throttle, cut

    limit = settings.CONSOLE_MAX_LINE_CHARS
    return Throttle(), lambda text: cut(text, limit)


def console_history(server_id, **filters) -> list[dict]:
    """A server's console history, newest last (the API's and the socket's query)."""
    from servers.selectors import console_history

    return console_history(server_id, **filters)


def console():
    """The panel's console module (history, group names, the monitor's write path)."""
    from servers import console

    return console


def flush_once(servers: int, lines: int = 1):
    """A function that makes the monitor's flusher write `lines` lines for each of `servers` servers of
    a node whose lease this process holds (servers/monitor/flusher.py), as one flush of the monitor."""
    import threading
    import time
    from types import SimpleNamespace

    from servers.monitor.flusher import Flusher
    from servers.monitor.follower import OutputFollower
    from servers.monitor.leases import Lease, lease_key

    node = "bench-costs"
    console().connection().delete(lease_key(node))
    watcher = SimpleNamespace(
        node_id=node, stopping=threading.Event(), lease=Lease.acquire(node, "bench"), followers={}
    )
    followers = []
    for i in range(servers):
        follower = OutputFollower(watcher, f"costs-{i}", f"costs-container-{i}", "0", 0)
        follower.ready, follower.checked_at = (lambda text: False), float("inf")  # never due a recheck
        followers.append(follower)
    flusher = Flusher()

    def flush(text: str) -> None:
        watcher.lease.renew()
        for follower in followers:
            follower.pending.extend(("stdout", text, time.time_ns()) for _ in range(lines))
        flusher.flush(followers)

    return flush


def realtime_publish():
    """config.realtime.publish: how the monitor publishes to a group."""
    from config import realtime

    return realtime.publish


# --- files (bench/files) -------------------------------------------------------------------------


def node_output(node, argv: list[str], *, check: bool = True) -> str:
    """A command's stdout on the node's host, as the node's user."""
    from nodes.client import client_for

    return client_for(node).run(argv, check=check)


def node_remove_tree(node, path: str) -> None:
    """Remove a directory of the benchmark's under the node's servers directory (the panel's own
    host-side removal, which never crosses into another file system)."""
    from nodes.client import client_for

    if not path.startswith(node.data_dir.rstrip("/") + "/servers/"):
        raise Aborted(f"Refusing to delete {path}: not under the node's servers directory")
    client_for(node).remove_tree(path)


def files_mkdir(server, path: str) -> None:
    """A directory in the server's files, through the panel's files session (servers.files)."""
    from nodes.client import FileRefused
    from servers.files import paths
    from servers.files.helper import session

    with session(server) as files, contextlib.suppress(FileRefused):  # made before: fine
        files.mkdir(paths.inside(server.template.data_path, paths.clean(path)))


def files_helper_remove(server) -> None:
    """The server's files helper container, removed as the panel removes it."""
    from servers.files.helper import remove_helper

    remove_helper(server)


def job_outcome(job_id) -> tuple[str, str]:
    """A job's status and error, read from the panel's database."""
    from servers.models import Job

    status, error = Job.objects.filter(pk=job_id).values_list("status", "error").first() or ("missing", "")
    return status, error


def sftp_username(user, server) -> str:
    """The gateway's login for `user` on `server`: `<username>.<first 8 of the server's uuid>`."""
    return f"{user.username}.{str(server.pk)[:8]}"


def sftp_key_add(user, name: str, public_key: str) -> None:
    """Register an SSH public key for `user`'s SFTP logins, through the panel's service
    (accounts.sshkeys); before that service is merged, the row as the gateway reads it."""
    try:
        from accounts.sshkeys import ssh_key_add
    except ImportError:
        ssh_key_add = None
    if ssh_key_add is not None:
        ssh_key_add(user=user, name=name, public_key=public_key)
        return
    try:
        from accounts.models import SSHKey
    except ImportError:
        raise Aborted("The panel has no SSH keys for SFTP (the gateway's branch adds them).") from None
    from nodes.client import fingerprint

    normalized = " ".join(public_key.split()[:2])
    SSHKey.objects.create(user=user, name=name, public_key=normalized, fingerprint=fingerprint(normalized))


# --- schedules (bench/schedule) -------------------------------------------------------------------


def server_start(server, actor) -> None:
    """Start the server through the panel's power service (the worker does it, the monitor sees it up)."""
    from servers.lifecycle.power import server_start

    server_start(server=server, actor=actor)


def task_create(server, actor, *, name: str, schedule: str, steps: list[dict]):
    """A scheduled task through the panel's service (its beat rows are written with it)."""
    from schedules.services import task_create

    return task_create(server=server, actor=actor, name=name, schedule=schedule, steps=steps)


def scheduled_runs(task_ids) -> list[dict]:
    """The runs beat set off for these tasks: slot, beat's send time and the first step's start."""
    from schedules.models import Run

    runs = Run.objects.filter(task_id__in=list(task_ids)).exclude(trigger=Run.Trigger.MANUAL)
    return [
        {
            "task": str(run.task_id),
            "trigger": run.trigger,
            "status": run.status,
            "scheduled_for": run.scheduled_for,
            "fired_at": run.fired_at,
            "first_step": run.steps[0] if run.steps else None,
            "reason": run.reason,
        }
        for run in runs
    ]


def beat_last_tick() -> float | None:
    from config import heartbeat

    return heartbeat.last_tick("beat")


# --- backups (bench/backup) ----------------------------------------------------------------------


def backup_store(server, compression: str):
    """A backup of the server made as the backup job makes it (backups.storage.store, node-local);
    the Backup row, completed."""
    from backups import storage
    from backups.models import Backup

    backup = Backup.objects.create(server=server, name="bench", compression=compression)
    storage.store(backup, server, progress=lambda *_: None)
    backup.status = Backup.Status.COMPLETED
    backup.save()
    return backup


def backup_restore(backup, server) -> None:
    """The restore job's work (backups.storage.restore): checksum, staging, swap."""
    from backups import storage

    storage.restore(backup, server, progress=lambda *_: None)


def backup_discard(backup) -> None:
    from backups import storage

    storage.discard(backup)


def backup_dir(server) -> str:
    """The server's backup directory on its node."""
    from backups import storage

    return storage.target_for(server).backup_dir


def backup_remove_all(server) -> None:
    from backups import storage
    from nodes.client import client_for

    client_for(server.node).backup_remove_all(storage.target_for(server))


def container_user(server) -> str:
    from servers import runtime

    return runtime.container_user(server)


# --- alerts (bench/alerts): in bench/adapter_alerts.py, by size; called as adapter.<name> -------------

from bench.adapter_alerts import (  # noqa: E402, F401 - re-exported
    alert_rule_create,
    alert_rules_disable,
    alerts_counts,
    alerts_forget,
    alerts_retire_servers,
    alerts_seed,
    celery_purge,
    deliveries_of,
    evaluate_rules,
    history_since,
    metrics_set,
    metrics_table,
    metrics_write,
    raise_alert,
    webhook_sign,
)

# --- api (bench/api): in bench/adapter_api.py, by size; called as adapter.<name> ---------------------
from bench.adapter_api import api_page_sql, api_seed  # noqa: E402, F401 - re-exported
