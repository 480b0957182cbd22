"""bench/adapter.py's part for bench/alerts (split off by size): alert rules, metric history and
server rows bulk-seeded, evaluation, raising, signing. Imported through bench.adapter only."""


def alerts_seed(admin, template, *, servers: int, name: str):
    """A node ROW (never contacted: no health check runs without beat) and `servers` running server
    rows on it (1 core, 1024 MB, 2048 MB disk), bulk-created. Returns (node, [server ids])."""
    from nodes.models import Location, Node
    from servers.models import Server

    location = Location.objects.get_or_create(name="bench-alerts")[0]
    node = Node.objects.create(
        name=name,
        location=location,
        hostname="192.0.2.1",
        public_address="192.0.2.1",
        docker_url="",
        max_memory_mb=1024 * 1024,
        max_cpu_cores=1024,
    )
    rows = [
        Server(
            name=f"{name}-{i}",
            owner=admin,
            node=node,
            template=template,
            docker_image=template.docker_image,
            status=Server.Status.RUNNING,
            allocated_memory_mb=1024,
            allocated_cpu_cores=1,
            allocated_disk_mb=2048,
        )
        for i in range(servers)
    ]
    Server.objects.bulk_create(rows, batch_size=1000)
    return node, [row.pk for row in rows]


def alerts_retire_servers(node) -> None:
    """A previous size's servers stopped: `*` rules no longer watch them."""
    from servers.models import Server

    Server.objects.filter(node=node).update(status=Server.Status.STOPPED)


def metrics_write(node, server_ids, *, points: int, end, server_values, node_values) -> None:
    """`points` ServerMetric rows per server, one a minute ending at `end`, with `server_values`
    (cpu % of one core, memory MB, disk MB), and a NodeMetric every 30 s over the same window."""
    from datetime import timedelta

    from nodes.models import NodeMetric
    from servers.models import ServerMetric

    cpu, memory, disk = server_values
    rows = [
        ServerMetric(
            server_id=pk,
            created_at=end - timedelta(minutes=i),
            cpu=cpu,
            memory_mb=memory,
            disk_mb=disk,
            network_received=0,
            network_sent=0,
        )
        for pk in server_ids
        for i in range(points)
    ]
    ServerMetric.objects.bulk_create(rows, batch_size=5000)
    NodeMetric.objects.bulk_create(
        NodeMetric(node=node, created_at=end - timedelta(seconds=30 * i), **node_values)
        for i in range(2 * points)
    )


def metrics_set(server_ids, *, cpu: float, memory: int, disk: int) -> None:
    """Every stored point of these servers set to these values (a state change, untimed)."""
    from servers.models import ServerMetric

    ServerMetric.objects.filter(server_id__in=list(server_ids)).update(
        cpu=cpu, memory_mb=memory, disk_mb=disk
    )


def alert_rule_create(admin, **fields):
    """An alert rule row as alerts/rules.py makes one (its signing secret encrypted)."""
    import secrets

    from alerts.models import AlertRule
    from config.crypto import encrypt

    return AlertRule.objects.create(
        created_by=admin, signing_secret=encrypt(secrets.token_urlsafe(32)), **fields
    )


def alert_rules_disable() -> None:
    from alerts.models import AlertRule

    AlertRule.objects.update(enabled=False)


def evaluate_rules(now=None) -> int:
    from alerts.evaluation import evaluate_rules

    return evaluate_rules(now=now)


def alerts_forget() -> tuple[int, int]:
    """Every alert and delivery deleted (between rounds: the next round opens alerts afresh);
    returns (alerts, deliveries) there were."""
    from alerts.models import Alert, AlertDelivery

    deliveries = AlertDelivery.objects.all().delete()[0]
    return Alert.objects.all().delete()[0], deliveries


def alerts_counts() -> dict:
    from alerts.models import Alert, AlertDelivery

    return {
        "open": Alert.objects.filter(resolved=False).count(),
        "resolved": Alert.objects.filter(resolved=True).count(),
        "deliveries": AlertDelivery.objects.count(),
    }


def raise_alert(rule, *, fingerprint: str, title: str):
    """An alert opened through the one path (alerts.services.raise_alert), sent to `rule`'s actions."""
    from alerts.services import raise_alert

    return raise_alert(
        type=rule.type,
        fingerprint=fingerprint,
        title=title,
        severity=rule.severity,
        rules=[rule],
        dedupe_seconds=rule.dedupe_seconds,
    )


def deliveries_of(alert_ids) -> list[dict]:
    from alerts.models import AlertDelivery

    return list(
        AlertDelivery.objects.filter(alert_id__in=list(alert_ids)).values(
            "id", "alert_id", "alert__created_at", "status", "attempts", "duration_ms", "delivered_at"
        )
    )


def webhook_sign(rule, body: bytes) -> dict:
    """The panel's signature headers of `body` with the rule's secret (alerts.signing)."""
    from alerts import signing
    from config.crypto import decrypt

    return signing.sign(decrypt(rule.signing_secret), body)


def celery_purge() -> int:
    """Drop every message waiting in the benchmark's broker (Redis db 9)."""
    from config.celery import app

    return app.control.purge()


def history_since(now, duration: int):
    """The start of the history window evaluation reads for a server rule of `duration` seconds."""
    from datetime import timedelta

    from alerts.evaluation import server_spacing

    spacing = server_spacing()
    return now - timedelta(seconds=spacing.fresh + duration + spacing.gap)


def metrics_table() -> str:
    from servers.models import ServerMetric

    return ServerMetric._meta.db_table
