"""How to call each API operation for the permission matrix (tests/test_permission_matrix.py).

`CALLS` maps an operation of the OpenAPI schema, (method, path as the schema spells it), to what the call
needs: the rows `setup` makes (it returns the values of the path's {placeholders}), the body, and for a
server's operations the state the server is in. An operation without an entry is called as is (no path
parameters, no body). What each caller must get back is not here: it is the literal table of the test.
"""

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from django.utils import timezone

from accounts.models import Role, User
from config.crypto import encrypt
from nodes.models import Allocation, Location, Node
from servers.models import Server, ServerMember
from templates_app.models import Template
from templates_app.services import template_create

S = Server.Status


@dataclass(frozen=True)
class Call:
    setup: Callable[[dict], dict] | None = None  # receives the users (and, for servers, the row's context)
    body: dict | Callable[[dict], dict] | None = None  # may use what setup returned
    state: str = S.STOPPED  # a server operation's server starts in this state
    query: str | Callable[[dict], str] = ""  # appended to the path, e.g. "?path=/a"; may use setup's values
    on_server: bool = False  # a server's operation though its path does not start with /api/servers/{id}


# ---- rows the calls act on -------------------------------------------------------------------------------


def node_and_template():
    location = Location.objects.get_or_create(name="matrix")[0]
    node = Node.objects.get_or_create(
        name="matrix-node",
        defaults={
            "location": location,
            "hostname": "h",
            "public_address": "203.0.113.1",
            "max_memory_mb": 100_000,
            "max_cpu_cores": 64,
            "is_online": True,
        },
    )[0]
    template = Template.objects.get_or_create(
        name="matrix-template",
        defaults={
            "docker_image": "hearth/testgame:latest",
            "start_command": "testgame",
            "stop_command": "stop",
        },
    )[0]
    return node, template


def a_server(users: dict, *, permission: str | None, state: str) -> dict:
    """A server owned by users['owner'] in `state`, shared with a member holding `permission` and a member
    holding nothing; a free allocation on its node, and a person to invite."""
    node, template = node_and_template()
    server = Server.objects.create(
        name="matrix",
        owner=users["owner"],
        node=node,
        template=template,
        docker_image=template.docker_image,
        status=state,
        allocated_memory_mb=128,
        allocated_cpu_cores=1,
        allocated_disk_mb=128,
        installed_at=timezone.now(),
        suspension_reason="matrix" if state == S.SUSPENDED else "",
    )
    port = 40000 + Allocation.objects.count()
    Allocation.objects.create(node=node, ip="127.0.0.1", port=port, server=server, is_primary=True)
    Allocation.objects.create(node=node, ip="127.0.0.1", port=port + 5000)
    ServerMember.objects.create(
        server=server, user=users["member_with"], permissions=[permission] if permission else []
    )
    without = ServerMember.objects.create(server=server, user=users["member_without"], permissions=[])
    n = User.objects.count()
    invitee = User.objects.create_user(email=f"invitee{n}@example.com", username=f"invitee{n}")
    return {
        "id": server.pk,
        "port": port,
        "free_port": port + 5000,
        "member_id": without.pk,
        "invitee": invitee.email,
    }


def with_bound_extra(ctx: dict) -> dict:
    """A second, non-primary allocation bound to the server (its container port is its host port)."""
    Allocation.objects.filter(port=ctx["free_port"], server__isnull=True).update(
        server_id=ctx["id"], container_port=ctx["free_port"]
    )
    return {**ctx, "container_port": ctx["free_port"]}


def with_target(ctx: dict) -> dict:
    """An online node to transfer to."""
    location = Location.objects.get_or_create(name="matrix")[0]
    target = Node.objects.create(
        name=f"matrix-target-{Node.objects.count()}",
        location=location,
        hostname="h",
        public_address="203.0.113.2",
        max_memory_mb=100_000,
        max_cpu_cores=64,
        is_online=True,
    )
    Allocation.objects.create(node=target, ip="127.0.0.1", port=ctx["free_port"])
    return {**ctx, "target": target.pk}


def a_node_and_template(users) -> dict:
    node, template = node_and_template()
    Allocation.objects.create(node=node, ip="127.0.0.1", port=40000 + Allocation.objects.count())
    return {"node": node.pk, "template": template.pk}


def a_node(users) -> dict:
    location = Location.objects.get_or_create(name="matrix")[0]
    node = Node.objects.create(
        name=f"matrix-{Node.objects.count()}",
        location=location,
        hostname="h",
        public_address="203.0.113.1",
        max_memory_mb=1024,
        max_cpu_cores=1,
    )
    return {"id": node.pk}


def a_node_with_allocation(users) -> dict:
    ctx = a_node(users)
    allocation = Allocation.objects.create(node_id=ctx["id"], ip="203.0.113.1", port=25565)
    return {**ctx, "allocation_id": allocation.pk}


def a_node_at_sshd2(users, *, pinned: int = 2) -> dict:
    """A node at the second test sshd with the test key; its pinned key is sshd `pinned`'s."""
    location = Location.objects.get_or_create(name="matrix")[0]
    node = Node.objects.create(
        name=f"matrix-ssh-{Node.objects.count()}",
        location=location,
        hostname="127.0.0.1",
        public_address="127.0.0.1",
        docker_url=os.environ["HEARTH_TEST_SSH2_URL"],
        ssh_private_key=encrypt(Path(os.environ["HEARTH_TEST_SSH_KEY"]).read_text()),
        ssh_host_key=os.environ[f"HEARTH_TEST_SSH{pinned}_HOSTKEY"],
        data_dir=os.environ["HEARTH_TEST_NODE2_DATA_DIR"],
        max_memory_mb=1024,
        max_cpu_cores=1,
    )
    return {"id": node.pk, "name": node.name}


def a_location(users) -> dict:
    return {"id": Location.objects.create(name=f"matrix-loc-{Location.objects.count()}").pk}


def a_role(users) -> dict:
    return {"id": Role.objects.create(name=f"temp-{User.objects.count()}-{Role.objects.count()}").pk}


def a_user(users) -> dict:
    n = User.objects.count()
    return {"id": User.objects.create_user(email=f"target{n}@example.com", username=f"target{n}").pk}


def own_key(users) -> dict:
    from accounts.apikeys import apikey_create

    key, _ = apikey_create(user=users["caller"], name="k")
    return {"id": key.pk}


def a_template(users) -> dict:
    template = template_create(
        actor=None,
        name=f"Matrix {Template.objects.count()}",
        docker_image="hearth/testgame:latest",
        start_command="/usr/local/bin/testgame",
        stop_command="stop",
    )
    return {"id": template.pk}


def a_deployment_token(users) -> dict:
    from nodes import enrollment

    node = Node.objects.get(pk=a_node_at_sshd2(users)["id"])
    Node.objects.filter(pk=node.pk).update(ssh_host_key="", docker_url="")  # waiting to enrol
    node.refresh_from_db()
    return {"token": enrollment.deployment_token_create(node=node)["deployment_token"]}


def a_refresh_token(users) -> dict:
    from tests.fixtures import tokens_for

    return {"refresh": tokens_for(users["owner"])["refresh_token"]}


def two_factor_set_up(users) -> dict:
    """The caller started enrolling a device: the code it shows now confirms it."""
    import pyotp

    from accounts.twofactor import twofactor_setup

    return {"code": pyotp.TOTP(twofactor_setup(user=users["caller"])["secret"]).now()}


def two_factor_on(users) -> dict:
    """The caller has two-factor on; a fresh code (the enrolling one is spent) proves the device."""
    from accounts.models import TwoFactorDevice
    from accounts.twofactor import challenge_issue, twofactor_enable

    ctx = two_factor_set_up(users)
    twofactor_enable(user=users["caller"], code=ctx["code"])
    TwoFactorDevice.objects.filter(user=users["caller"]).update(last_used_step=0)
    return {**ctx, "challenge": challenge_issue(user=users["caller"])}


# ---- bodies --------------------------------------------------------------------------------------------


def server_body(ctx) -> dict:
    return {
        "name": f"placed-{ctx['n']}",
        "templateId": str(ctx["template"]),
        "nodeId": str(ctx["node"]),
        "allocatedMemoryMb": 128,
        "allocatedCpuCores": 1,
        "allocatedDiskMb": 128,
    }


def node_body(ctx) -> dict:
    location = Location.objects.get_or_create(name="matrix")[0]
    return {
        "name": f"made-{ctx['n']}",
        "locationId": str(location.pk),
        "hostname": "h",
        "publicAddress": "1.2.3.4",
        "maxMemoryMb": 1024,
        "maxCpuCores": 1,
        "dockerUrl": "ssh://hearth@h:22",  # required; unreachable, so it is registered offline
    }


def repoint_body(ctx) -> dict:
    return {
        "dockerUrl": os.environ["HEARTH_TEST_SSH1_URL"],
        "sshHostKey": os.environ["HEARTH_TEST_SSH1_HOSTKEY"],
        "confirm": ctx["name"],
    }


def template_body(ctx) -> dict:
    return {
        "name": f"Made {ctx['n']}",
        "dockerImage": "hearth/testgame:latest",
        "startCommand": "/usr/local/bin/testgame",
        "stopCommand": "stop",
    }


def egg_body(ctx) -> dict:
    return {
        "egg": {
            "meta": {"version": "PTDL_v2"},
            "name": f"Imported {ctx['n']}",
            "docker_images": {"Test": "hearth/testgame:latest"},
            "startup": "/usr/local/bin/testgame",
            "config": {"files": "{}", "startup": '{"done": "Done ("}', "logs": "{}", "stop": "stop"},
            "variables": [],
        }
    }


def new_user_body(ctx) -> dict:
    return {
        "email": f"made{ctx['n']}@example.com",
        "username": f"made{ctx['n']}",
        "password": "long-enough-1",
    }


RUNNING = S.RUNNING


def on_an_unreachable_node(ctx: dict) -> dict:
    """The server on a node whose engine refuses connections (port 1): every file operation reaches it."""
    location = Location.objects.get_or_create(name="matrix")[0]
    node = Node.objects.get_or_create(
        name="matrix-unreachable",
        defaults={
            "location": location,
            "hostname": "127.0.0.1",
            "public_address": "203.0.113.3",
            "docker_url": "ssh://hearth@127.0.0.1:1",
            "max_memory_mb": 100_000,
            "max_cpu_cores": 64,
            "is_online": True,
        },
    )[0]
    Server.objects.filter(pk=ctx["id"]).update(node=node)
    return ctx


def with_eula_to_accept(ctx: dict) -> dict:
    """The EULA accept: a template with the eula feature, the member "with" may also start, and the
    server on the unreachable node (its file write is the first thing that reaches the node)."""
    template = Template.objects.get_or_create(
        name="matrix-eula",
        defaults={
            "docker_image": "hearth/testgame:latest",
            "start_command": "testgame",
            "stop_command": "stop",
            "features": ["eula"],
        },
    )[0]
    Server.objects.filter(pk=ctx["id"]).update(template=template)
    for member in ServerMember.objects.filter(server_id=ctx["id"], permissions=["file.write"]):
        member.permissions = ["file.write", "server.start"]
        member.save()
    return on_an_unreachable_node(ctx)


def with_backup(status: str):
    """A backup of the server in `status`: a completed one on the server's (unreachable) node, a failed
    one with no archive anywhere to remove (S3, no object), so deleting it needs no node."""

    def setup(ctx: dict) -> dict:
        from backups.models import Backup

        server = Server.objects.get(pk=ctx["id"])
        completed = status == "completed"
        backup = Backup.objects.create(
            server=server,
            name="matrix",
            status=status,
            storage=Backup.Storage.LOCAL if completed else Backup.Storage.S3,  # S3 without an object
            node=server.node if completed else None,
            location=f"{ctx['n']}.tar.zst" if completed else "",
            size_bytes=10 if completed else 0,
            checksum="sha256:" + "0" * 64 if completed else "",
        )
        return {**ctx, "backup_id": backup.pk}

    return setup


BACKUP = "/api/servers/{server_id}/backups/{backup_id}"
CALLS: dict[tuple[str, str], Call] = {
    # backups
    ("GET", BACKUP): Call(with_backup("completed")),
    ("DELETE", BACKUP): Call(with_backup("failed")),
    ("POST", f"{BACKUP}/restore"): Call(with_backup("completed")),
    ("GET", f"{BACKUP}/download"): Call(with_backup("completed")),
    ("POST", f"{BACKUP}/lock"): Call(with_backup("completed")),
    ("POST", f"{BACKUP}/unlock"): Call(with_backup("completed")),
    ("POST", "/api/servers/{server_id}/backups"): Call(body={"name": "matrix"}),
    # servers
    ("POST", "/api/servers"): Call(a_node_and_template, server_body),
    ("PUT", "/api/servers/{id}"): Call(body={"name": "renamed"}),
    ("PATCH", "/api/servers/{id}"): Call(body={"allocatedMemoryMb": 256, "pidsLimit": 1024}),
    ("POST", "/api/servers/{id}/stop"): Call(state=RUNNING),
    ("POST", "/api/servers/{id}/restart"): Call(state=RUNNING),
    ("POST", "/api/servers/{id}/kill"): Call(state=RUNNING),
    ("POST", "/api/servers/{id}/command"): Call(body={"command": "list"}, state=RUNNING),
    ("POST", "/api/servers/{id}/unsuspend"): Call(state=S.SUSPENDED),
    ("PATCH", "/api/servers/{id}/restart-policy"): Call(body={"restartPolicy": "never"}),
    ("POST", "/api/servers/{id}/eula"): Call(with_eula_to_accept),
    ("POST", "/api/servers/{id}/allocations"): Call(
        body=lambda ctx: {"containerPort": 25599, "hostPort": ctx["free_port"]}
    ),
    ("POST", "/api/servers/{id}/allocations/primary"): Call(body=lambda ctx: {"containerPort": ctx["port"]}),
    ("DELETE", "/api/servers/{id}/allocations/{container_port}"): Call(with_bound_extra),
    # Members grant only what they hold themselves: the one with the row's permission holds server.update.
    ("POST", "/api/servers/{id}/members"): Call(
        body=lambda ctx: {"email": ctx["invitee"], "permissions": ["server.update"]}
    ),
    ("PUT", "/api/servers/{id}/members/{member_id}"): Call(body={"permissions": ["server.update"]}),
    ("POST", "/api/servers/{id}/transfer"): Call(
        with_target, lambda ctx: {"targetNodeId": str(ctx["target"])}
    ),
    # nodes and locations
    ("POST", "/api/nodes"): Call(body=node_body),
    ("GET", "/api/nodes/{id}"): Call(a_node),
    ("PUT", "/api/nodes/{id}"): Call(a_node, {"maxMemoryMb": 2048}),
    ("PATCH", "/api/nodes/{id}"): Call(a_node, {"description": "x"}),
    ("DELETE", "/api/nodes/{id}"): Call(a_node),
    ("GET", "/api/nodes/{id}/allocations"): Call(a_node),
    ("POST", "/api/nodes/{id}/allocations"): Call(a_node, {"ip": "203.0.113.9", "ports": "25565"}),
    ("DELETE", "/api/nodes/{id}/allocations/{allocation_id}"): Call(a_node_with_allocation),
    ("POST", "/api/nodes/{id}/deployment-token"): Call(a_node),
    ("POST", "/api/nodes/{id}/repoint"): Call(a_node_at_sshd2, repoint_body),
    ("POST", "/api/nodes/{id}/host-key"): Call(
        lambda users: a_node_at_sshd2(users, pinned=1),  # as after a reinstall
        {"sshHostKey": os.environ.get("HEARTH_TEST_SSH2_HOSTKEY", "")},
    ),
    ("DELETE", "/api/nodes/{id}/host-key"): Call(a_node_at_sshd2),
    ("POST", "/api/nodes/{id}/test"): Call(a_node_at_sshd2),
    ("POST", "/api/locations"): Call(body=lambda ctx: {"name": f"loc-{ctx['n']}"}),
    ("GET", "/api/locations/{id}"): Call(a_location),
    ("PUT", "/api/locations/{id}"): Call(a_location, lambda ctx: {"name": f"renamed-{ctx['n']}"}),
    ("PATCH", "/api/locations/{id}"): Call(a_location, {"description": "edited"}),
    ("DELETE", "/api/locations/{id}"): Call(a_location),
    ("GET", "/api/deploy/{token}"): Call(a_deployment_token),
    ("POST", "/api/deploy/{token}/complete"): Call(
        a_deployment_token, {"hostKey": os.environ.get("HEARTH_TEST_SSH2_HOSTKEY", ""), "sshPort": 2202}
    ),
    # templates
    ("POST", "/api/templates"): Call(body=template_body),
    ("GET", "/api/templates/{id}"): Call(a_template),
    ("PUT", "/api/templates/{id}"): Call(a_template, template_body),
    ("PATCH", "/api/templates/{id}"): Call(a_template, {"description": "edited"}),
    ("DELETE", "/api/templates/{id}"): Call(a_template),
    ("GET", "/api/templates/{id}/export"): Call(a_template),
    ("POST", "/api/templates/import"): Call(body=egg_body),
    # accounts
    ("POST", "/api/admin/users"): Call(body=new_user_body),
    ("GET", "/api/admin/users/{id}"): Call(a_user),
    ("PUT", "/api/admin/users/{id}"): Call(
        a_user,
        lambda ctx: {"email": f"put{ctx['n']}@example.com", "username": f"put{ctx['n']}", "isActive": False},
    ),
    ("PATCH", "/api/admin/users/{id}"): Call(a_user, {"isActive": False}),
    ("DELETE", "/api/admin/users/{id}"): Call(a_user),
    ("POST", "/api/roles"): Call(body=lambda ctx: {"name": f"made-{ctx['n']}", "permissions": []}),
    ("GET", "/api/roles/{id}"): Call(a_role),
    ("PUT", "/api/roles/{id}"): Call(a_role, lambda ctx: {"name": f"renamed-{ctx['n']}", "permissions": []}),
    ("PATCH", "/api/roles/{id}"): Call(a_role, {"description": "edited"}),
    ("DELETE", "/api/roles/{id}"): Call(a_role),
    ("POST", "/api/api-keys"): Call(body={"name": "ci"}),
    ("GET", "/api/api-keys/{id}"): Call(own_key),
    ("DELETE", "/api/api-keys/{id}"): Call(own_key),
    ("POST", "/api/auth/login"): Call(body=lambda ctx: {"email": ctx["email"], "password": ctx["password"]}),
    ("POST", "/api/auth/login/2fa"): Call(
        lambda users: two_factor_on({**users, "caller": users["owner"]}),
        lambda ctx: {"challengeToken": ctx["challenge"], "code": ctx["code"]},
    ),
    ("POST", "/api/auth/refresh"): Call(a_refresh_token, lambda ctx: {"refreshToken": ctx["refresh"]}),
    ("POST", "/api/auth/register"): Call(body=new_user_body),
    ("POST", "/api/auth/password-reset"): Call(body={"email": "nobody@example.com"}),
    ("POST", "/api/auth/password-reset/confirm"): Call(
        body={"uid": "nobody", "token": "not-a-token", "newPassword": "long-enough-2"}
    ),
    ("POST", "/api/auth/password"): Call(
        body=lambda ctx: {"currentPassword": ctx["password"], "newPassword": "another-long-one-3"}
    ),
    ("POST", "/api/auth/2fa/enable"): Call(two_factor_set_up, lambda ctx: {"code": ctx["code"]}),
    ("POST", "/api/auth/2fa/disable"): Call(
        two_factor_on, lambda ctx: {"password": ctx["password"], "code": ctx["code"]}
    ),
    ("POST", "/api/auth/2fa/recovery-codes"): Call(two_factor_on, lambda ctx: {"code": ctx["code"]}),
    # files (servers/api/files_views.py): the server is moved to a node nothing answers on, so a caller who
    # passes every check gets the node's 503; tests/servers/files/ prove the 200s on the real engines.
    ("GET", "/api/servers/{server_id}/files"): Call(on_an_unreachable_node, query="?path=/"),
    ("DELETE", "/api/servers/{server_id}/files"): Call(on_an_unreachable_node, query="?path=/a"),
    ("POST", "/api/servers/{server_id}/files/create"): Call(
        on_an_unreachable_node, {"path": "/a", "content": "x"}
    ),
    ("GET", "/api/servers/{server_id}/files/content"): Call(on_an_unreachable_node, query="?path=/a"),
    ("PUT", "/api/servers/{server_id}/files/content"): Call(
        on_an_unreachable_node, {"content": "x"}, query="?path=/a"
    ),
    ("POST", "/api/servers/{server_id}/files/rename"): Call(
        on_an_unreachable_node, {"from": "/a", "to": "/b"}
    ),
    ("POST", "/api/servers/{server_id}/files/copy"): Call(on_an_unreachable_node, {"from": "/a", "to": "/b"}),
    ("POST", "/api/servers/{server_id}/files/chmod"): Call(
        on_an_unreachable_node, {"path": "/a", "mode": "644"}
    ),
}


def own_ssh_key(users) -> dict:
    from accounts.sshkeys import ssh_key_add
    from nodes.client import generate_keypair

    return {"id": ssh_key_add(user=users["caller"], name="laptop", public_key=generate_keypair()[1]).pk}


def new_ssh_key_body(ctx) -> dict:
    from nodes.client import generate_keypair

    return {"name": "laptop", "publicKey": generate_keypair()[1]}


CALLS.update(
    {
        ("POST", "/api/account/ssh-keys"): Call(body=new_ssh_key_body),
        ("GET", "/api/account/ssh-keys/{id}"): Call(own_ssh_key),
        ("DELETE", "/api/account/ssh-keys/{id}"): Call(own_ssh_key),
    }
)


# ---- scheduled tasks (schedules/): on a server, though their paths are /api/tasks… -------------------------


def a_task(ctx: dict) -> dict:
    from schedules.services import task_create

    server = Server.objects.get(pk=ctx["id"])
    task = task_create(
        server=server, actor=None, name="matrix", schedule="0 3 * * *", steps=[{"action": "restart"}]
    )
    return {**ctx, "task_id": task.pk}


def restart_granted(ctx: dict, permission: str = "task.create") -> dict:
    """The member holding `permission` may also restart: a restart step needs what a restart by hand
    does, and whoever creates or changes a chain must hold what its steps need."""
    for member in ServerMember.objects.filter(server_id=ctx["id"], permissions=[permission]):
        member.permissions = [permission, "server.restart"]
        member.save()
    return ctx


def a_task_to_change(ctx: dict) -> dict:
    return restart_granted(a_task(ctx), "task.update")


def task_body(ctx) -> dict:
    return {"serverId": str(ctx["id"]), "name": "nightly", "action": "restart", "schedule": "0 3 * * *"}


CALLS.update(
    {
        ("GET", "/api/tasks"): Call(query=lambda ctx: f"?serverId={ctx['id']}", on_server=True),
        ("POST", "/api/tasks"): Call(restart_granted, task_body, on_server=True),
        ("GET", "/api/tasks/{task_id}"): Call(a_task),
        ("PUT", "/api/tasks/{task_id}"): Call(a_task_to_change, {"enabled": False}),
        ("DELETE", "/api/tasks/{task_id}"): Call(a_task),
        ("POST", "/api/tasks/{task_id}/execute"): Call(a_task),
        ("GET", "/api/tasks/{task_id}/runs"): Call(a_task),
        ("GET", "/api/tasks/preview"): Call(query="?schedule=0+3+*+*+*"),
    }
)


# ---- alerts (alerts/): an alert is its server's, though its paths are /api/alerts… ----------------------


def an_alert(ctx: dict) -> dict:
    from alerts.services import raise_alert

    server = Server.objects.get(pk=ctx["id"])
    alert = raise_alert(
        type="server_crashed",
        fingerprint=f"matrix:{ctx['n']}",
        title="crashed",
        server=server,
        node=server.node,
        dedupe_seconds=0,
    )
    return {**ctx, "alert_id": alert.pk}


def an_alert_to_resolve(ctx: dict) -> dict:
    """The member holding alert.resolve also reads alerts (one they cannot see is a 404, not a 403)."""
    for member in ServerMember.objects.filter(server_id=ctx["id"], permissions=["alert.resolve"]):
        member.permissions = ["alert.resolve", "alert.read"]
        member.save()
    return an_alert(ctx)


def a_notification(ctx: dict) -> dict:
    from alerts.models import ServerNotification

    row = ServerNotification.objects.create(server_id=ctx["id"], kind="email", email="ops@example.com")
    return {**ctx, "notification_id": row.pk}


def an_alert_rule(users) -> dict:
    from alerts.rules import rule_create

    rule = rule_create(
        actor=None,
        name="matrix",
        type="server_crashed",
        target="server",
        actions=[{"type": "email", "to": ["ops@example.com"]}],
    )
    return {"id": rule.pk}


RULE_BODY = {"name": "cpu", "type": "resource_threshold", "target": "server", "targetId": "*",
             "conditions": {"metric": "cpu", "operator": ">", "value": 90, "duration": 60}}  # fmt: skip
NOTIFICATIONS = "/api/servers/{server_id}/notifications"

CALLS.update(
    {
        ("GET", "/api/alerts/{alert_id}"): Call(an_alert, on_server=True),
        ("POST", "/api/alerts/{alert_id}/resolve"): Call(an_alert_to_resolve, on_server=True),
        ("POST", "/api/alerts/bulk-resolve"): Call(
            body={"alertIds": ["00000000-0000-0000-0000-000000000000"]}
        ),
        ("POST", "/api/alert-rules"): Call(body=RULE_BODY),
        ("GET", "/api/alert-rules/{rule_id}"): Call(lambda users: {"rule_id": an_alert_rule(users)["id"]}),
        ("PUT", "/api/alert-rules/{rule_id}"): Call(
            lambda users: {"rule_id": an_alert_rule(users)["id"]}, {"severity": "critical"}
        ),
        ("PATCH", "/api/alert-rules/{rule_id}"): Call(
            lambda users: {"rule_id": an_alert_rule(users)["id"]}, {"enabled": False}
        ),
        ("DELETE", "/api/alert-rules/{rule_id}"): Call(lambda users: {"rule_id": an_alert_rule(users)["id"]}),
        ("POST", "/api/alert-rules/{rule_id}/test"): Call(
            lambda users: {"rule_id": an_alert_rule(users)["id"]}
        ),
        ("POST", "/api/alert-rules/{rule_id}/rotate-secret"): Call(
            lambda users: {"rule_id": an_alert_rule(users)["id"]}
        ),
        ("POST", NOTIFICATIONS): Call(body={"kind": "email", "email": "ops@example.com"}),
        ("GET", NOTIFICATIONS + "/{notification_id}"): Call(a_notification),
        ("PATCH", NOTIFICATIONS + "/{notification_id}"): Call(a_notification, {"enabled": False}),
        ("DELETE", NOTIFICATIONS + "/{notification_id}"): Call(a_notification),
        ("POST", NOTIFICATIONS + "/{notification_id}/test"): Call(a_notification),
    }
)


# ---- databases ---------------------------------------------------------------------------------------


def a_database_host(*, down: bool):
    """The test environment's MariaDB as a host, or a host at a port where nothing listens."""
    from databases.models import DatabaseHost
    from tests.fixtures.databases import closed_port, mariadb_login

    login = mariadb_login()
    port = closed_port() if down else login["port"]
    host = DatabaseHost(name=f"matrix-{DatabaseHost.objects.count()}", host=login["host"], port=port)
    host.username, host.password = login["user"], login["password"]
    host.save()
    return host


def with_database_on_a_down_host(ctx: dict) -> dict:
    from databases.models import ServerDatabase

    database = ServerDatabase(
        server_id=ctx["id"], host=a_database_host(down=True), name="s_matrix", username="u"
    )
    database.password = "x"
    database.save()
    return {**ctx, "database_id": database.pk}


def on_a_down_host(ctx: dict) -> dict:
    return {**ctx, "host_id": a_database_host(down=True).pk}


def database_host_body(ctx) -> dict:
    from tests.fixtures.databases import mariadb_login

    login = mariadb_login()
    return {"name": f"matrix-new-{ctx['n']}", "host": login["host"], "port": login["port"],
            "username": login["user"], "password": login["password"]}  # fmt: skip


def a_real_database_host(users) -> dict:
    return {"id": a_database_host(down=False).pk}


DATABASES = "/api/servers/{server_id}/databases"
HOSTS = "/api/admin/database-hosts"
CALLS.update(
    {
        ("POST", DATABASES): Call(
            on_a_down_host, lambda ctx: {"name": "matrix", "hostId": str(ctx["host_id"])}
        ),
        ("GET", f"{DATABASES}/hosts"): Call(on_a_down_host),
        ("POST", f"{DATABASES}/{{database_id}}/rotate"): Call(with_database_on_a_down_host),
        ("DELETE", f"{DATABASES}/{{database_id}}"): Call(with_database_on_a_down_host),
        ("POST", HOSTS): Call(body=database_host_body),
        ("GET", f"{HOSTS}/{{id}}"): Call(a_real_database_host),
        ("PUT", f"{HOSTS}/{{id}}"): Call(a_real_database_host, {"maxDatabases": 5}),
        ("PATCH", f"{HOSTS}/{{id}}"): Call(a_real_database_host, {"maxDatabases": 5}),
        ("DELETE", f"{HOSTS}/{{id}}"): Call(a_real_database_host),
        ("POST", f"{HOSTS}/{{id}}/test"): Call(a_real_database_host),
    }
)


# ---- plans -------------------------------------------------------------------------------------------


def a_plan(users) -> dict:
    from plans.models import Plan

    return {
        "id": Plan.objects.create(
            name=f"matrix-{Plan.objects.count()}", memory_mb=512, cpu_cores=1, disk_mb=512
        ).pk
    }


def a_bundle(users) -> dict:
    from plans.models import UpgradeBundle

    return {
        "id": UpgradeBundle.objects.create(name=f"matrix-{UpgradeBundle.objects.count()}", memory_mb=64).pk
    }


def with_bundle(ctx: dict) -> dict:
    return {**ctx, "bundle_id": a_bundle(ctx)["id"]}


def later(ctx) -> dict:
    return {"expireAt": (timezone.now() + timedelta(days=30)).isoformat()}


PLAN_BODY = {"memoryMb": 512, "cpuCores": "1", "diskMb": 512}
CALLS.update(
    {
        ("POST", "/api/servers/{server_id}/extend"): Call(body=later),
        ("POST", "/api/servers/{server_id}/upgrade"): Call(
            with_bundle, lambda ctx: {"bundleId": str(ctx["bundle_id"])}
        ),
        ("POST", "/api/plans"): Call(body=lambda ctx: {"name": f"made-{ctx['n']}", **PLAN_BODY}),
        ("GET", "/api/plans/{id}"): Call(a_plan),
        ("PUT", "/api/plans/{id}"): Call(a_plan, {"priceLabel": "$1"}),
        ("PATCH", "/api/plans/{id}"): Call(a_plan, {"priceLabel": "$1"}),
        ("DELETE", "/api/plans/{id}"): Call(a_plan),
        ("POST", "/api/upgrades"): Call(body=lambda ctx: {"name": f"made-{ctx['n']}", "memoryMb": 64}),
        ("GET", "/api/upgrades/{id}"): Call(a_bundle),
        ("PUT", "/api/upgrades/{id}"): Call(a_bundle, {"priceLabel": "$1"}),
        ("PATCH", "/api/upgrades/{id}"): Call(a_bundle, {"priceLabel": "$1"}),
        ("DELETE", "/api/upgrades/{id}"): Call(a_bundle),
    }
)


# ---- marketplace ---------------------------------------------------------------------------------------

MARKET = "/api/servers/{server_id}/marketplace"
PLUGINS = "/api/servers/{server_id}/plugins"
PROJECT = {"source": "modrinth", "projectId": "hrtLuck1"}
CALLS.update(
    {
        ("GET", f"{MARKET}/projects/{{source}}/{{project_id}}"): Call(
            lambda ctx: {**ctx, "source": "modrinth", "project_id": "hrtLuck1"}
        ),
        ("POST", f"{MARKET}/plan"): Call(body=PROJECT),
        ("POST", f"{MARKET}/install"): Call(body=PROJECT),
        ("POST", f"{PLUGINS}/enable"): Call(body={"path": "/plugins/a.jar"}),
        ("POST", f"{PLUGINS}/disable"): Call(body={"path": "/plugins/a.jar"}),
        ("POST", f"{PLUGINS}/uninstall"): Call(body={"path": "/plugins/a.jar"}),
    }
)
