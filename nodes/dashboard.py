"""The nodes' panel of the admin's index: each node's state and its last health check."""

from django.urls import reverse

from nodes.models import Node


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


def dashboard_panel() -> dict:
    nodes = nodes_health()
    return {
        "nodes": nodes,
        "nodes_online": sum(1 for n in nodes if n["state"] == "online"),
        "nodes_offline": sum(1 for n in nodes if n["state"] == "offline"),
    }
