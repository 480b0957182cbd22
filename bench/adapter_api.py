"""bench/adapter.py's part for bench/api: the 10,000-server data set bulk-seeded, and the bare SQL of the
pages the API answers. Imported through bench.adapter only."""

import random
import uuid
from datetime import timedelta

CUSTOMER_PASSWORD = "bench-customer-" + uuid.uuid4().hex[:8]


def api_seed(admin, template, *, servers: int, users: int, nodes: int, audit: int, members: int) -> dict:
    """Rows only (no node is contacted): `nodes` online nodes in one location, `users` customers owning
    the servers round-robin (a customer's servers spread over the nodes), each server with its primary
    allocation, `members` memberships of customers on others' servers, `audit` audit rows over 30 days.
    Returns what the benchmark needs to address them."""
    from django.contrib.auth.hashers import make_password
    from django.utils import timezone

    from accounts.models import AuditLog, User
    from nodes.models import Allocation, Location, Node
    from servers.models import Server, ServerMember

    rng = random.Random(19)  # noqa: S311 - the same data set every run, not a secret
    location = Location.objects.create(name="bench-api")
    node_rows = Node.objects.bulk_create(
        Node(
            name=f"bench-api-{i:02d}",
            location=location,
            hostname=f"192.0.2.{i + 1}",
            public_address=f"192.0.2.{i + 1}",
            docker_url="",
            max_memory_mb=1024 * 1024,
            max_cpu_cores=1024,
            is_online=True,
        )
        for i in range(nodes)
    )
    password = make_password(CUSTOMER_PASSWORD)  # hashed once: 1,000 hashes would take minutes
    customers = User.objects.bulk_create(
        User(email=f"customer{i:04d}@bench.invalid", username=f"customer{i:04d}", password=password)
        for i in range(users)
    )
    statuses = [Server.Status.RUNNING] * 6 + [Server.Status.STOPPED] * 3 + [Server.Status.CRASHED]
    server_rows = Server.objects.bulk_create(
        (
            Server(
                name=f"{rng.choice(['survival', 'creative', 'skyblock', 'lobby', 'modded'])}-{i:05d}",
                owner=customers[i % users],
                node=node_rows[i % nodes],
                template=template,
                docker_image=template.docker_image,
                status=rng.choice(statuses),
                allocated_memory_mb=1024,
                allocated_cpu_cores=1,
                allocated_disk_mb=2048,
            )
            for i in range(servers)
        ),
        batch_size=2000,
    )
    Allocation.objects.bulk_create(
        (
            Allocation(node=s.node, ip="0.0.0.0", port=25565 + i // nodes, server=s)  # noqa: S104
            for i, s in enumerate(server_rows)
        ),
        batch_size=5000,
    )
    seen = set()
    memberships = []
    while len(memberships) < members:
        server, user = rng.choice(server_rows), rng.choice(customers)
        if server.owner_id != user.pk and (server.pk, user.pk) not in seen:
            seen.add((server.pk, user.pk))
            memberships.append(ServerMember(server=server, user=user, permissions=["server.read"]))
    ServerMember.objects.bulk_create(memberships, batch_size=5000)
    now = timezone.now()
    actions = ["server.start", "server.stop", "server.command", "file.write", "backup.create", "auth.login"]
    rows = []
    for i in range(audit):
        server = server_rows[i % servers]
        rows.append(
            AuditLog(
                user_id=server.owner_id,
                username=f"customer{(i % servers) % users:04d}",
                action=rng.choice(actions),
                resource_type="server",
                resource_id=str(server.pk),
                metadata={"bench": True},
                ip_address="192.0.2.200",
            )
        )
    AuditLog.objects.bulk_create(rows, batch_size=5000)
    # created_at is auto_now_add: spread the rows over 30 days afterwards, as a real trail is
    for start in range(0, audit, 5000):
        for row in rows[start : start + 5000]:
            row.created_at = now - timedelta(seconds=rng.randrange(30 * 86400))
        AuditLog.objects.bulk_update(rows[start : start + 5000], ["created_at"], batch_size=5000)
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")  # plans as a live database has them
    return {
        "customer": customers[0].email,  # every customer owns servers // users of them
        "customer_password": CUSTOMER_PASSWORD,
        "servers": servers,
        "users": users,
        "nodes": nodes,
        "audit": audit,
        "members": members,
    }


def api_page_sql(kind: str, *, user_email: str, page: int, limit: int) -> tuple[str, list]:
    """The SQL of one page of a list as the API's own query builds it (before the serializer): what a
    bare SELECT of the same page costs, through psycopg, is the benchmark's raw baseline."""
    from accounts.models import AuditLog, User
    from config.api.pagination import page_of
    from nodes.models import Node
    from servers.models import Server
    from servers.selectors import servers_visible_to

    offset = (page - 1) * limit
    if kind == "servers":
        user = User.objects.get(email=user_email)
        queryset = servers_visible_to(user).order_by("name", "pk")
    elif kind == "admin-servers":
        queryset = Server.objects.order_by("name", "pk")
    elif kind == "nodes":
        queryset = Node.objects.order_by("name", "id")
    else:
        queryset = AuditLog.objects.order_by("-created_at", "-id")
    sql, params = page_of(queryset, offset, limit).query.sql_with_params()
    return sql, list(params)
