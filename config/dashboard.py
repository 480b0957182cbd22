"""What the admin's index shows staff first: servers by status, the nodes' health, failed jobs."""

from django.db.models import Count
from django.urls import reverse

from nodes.models import Node
from servers.models import Job, Server

RECENT_FAILURES = 10


def servers_by_status() -> list[dict]:
    counts = dict(Server.objects.values_list("status").annotate(n=Count("pk")).order_by())
    listing = reverse("admin:servers_server_changelist")
    return [
        {
            "status": status.value,
            "label": status.label,
            "count": counts.get(status.value, 0),
            "url": f"{listing}?status__exact={status.value}",
        }
        for status in Server.Status
    ]


def _node_state(node: Node) -> str:
    if node.maintenance_mode:
        return "maintenance"
    return "online" if node.is_online else "offline"


def _health_summary(report: dict) -> str:
    if not report:
        return "never checked"
    if not report.get("ok"):
        return report.get("error") or "failed"
    parts = [f"Docker {report.get('docker_version', '?')}"]
    if report.get("memory_total_mb"):
        parts.append(f"memory {report.get('memory_used_mb')}/{report['memory_total_mb']} MB")
    if report.get("cpu_percent") is not None:
        parts.append(f"CPU {report['cpu_percent']}%")
    return ", ".join(parts)


def nodes_health() -> list[dict]:
    return [
        {
            "name": node.name,
            "state": _node_state(node),
            "last_seen_at": node.last_seen_at,
            "checked_at": (node.last_health or {}).get("checked_at"),
            "health": _health_summary(node.last_health or {}),
            "url": reverse("admin:nodes_node_change", args=[node.pk]),
        }
        for node in Node.objects.order_by("name")
    ]


def failed_jobs() -> list[dict]:
    jobs = Job.objects.filter(status=Job.Status.FAILED).order_by("-created_at")[:RECENT_FAILURES]
    return [
        {
            "kind": job.get_kind_display(),
            "server": job.server_name,
            "error": job.error,
            "when": job.finished_at or job.created_at,
            "url": reverse("admin:servers_job_change", args=[job.pk]),
            "server_url": reverse("admin:servers_server_change", args=[job.server_id])
            if job.server_id
            else "",
        }
        for job in jobs
    ]


def dashboard() -> dict:
    nodes = nodes_health()
    statuses = servers_by_status()
    return {
        "server_statuses": statuses,
        "server_total": sum(row["count"] for row in statuses),
        "nodes": nodes,
        "nodes_online": sum(1 for n in nodes if n["state"] == "online"),
        "nodes_offline": sum(1 for n in nodes if n["state"] == "offline"),
        "failed_jobs": failed_jobs(),
        "failed_jobs_url": reverse("admin:servers_job_changelist") + "?status__exact=failed",
    }
