"""The servers' panel of the admin's index: servers by status and the recent failed jobs."""

from django.db.models import Count
from django.urls import reverse

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


def dashboard_panel() -> dict:
    statuses = servers_by_status()
    return {
        "server_statuses": statuses,
        "server_total": sum(row["count"] for row in statuses),
        "failed_jobs": failed_jobs(),
        "failed_jobs_url": reverse("admin:servers_job_changelist") + "?status__exact=failed",
    }
