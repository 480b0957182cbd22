"""GET /api/admin/health: the database, Redis and background services as the panel sees them, and
how many of its nodes are online. Here, not in config/, because the node counts are the nodes app's.
`checks` is `manage.py doctor`'s list (config/doctor.py, nodes/doctor.py): each check's name, status, message and fix."""

import time
from datetime import UTC, datetime

from django.core.cache import cache
from django.db import connection
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.views import APIView

from accounts.api.permissions import Requires
from config import doctor, heartbeat
from config.api.responses import ok
from nodes.doctor import run_checks
from nodes.models import Node

STARTED_AT = time.time()
# Beat's loop records a tick every second (schedules.beat); this long without one, it is stuck.
BEAT_STUCK_AFTER_SECONDS = 30
# A worker's pidbox answers a ping in milliseconds (the first reply ends the wait); without one, every
# health request would wait out the whole timeout.
API_PING_TIMEOUT_SECONDS = 0.5


def _probe(check) -> str:
    try:
        check()
    except Exception:
        return "disconnected"
    return "connected"


def _ping_database():
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _ping_redis():
    cache.set("health:ping", 1, timeout=5)
    if cache.get("health:ping") != 1:
        raise ConnectionError("Redis did not echo")


def _scheduler() -> dict:
    """When beat's loop last ran (schedules.beat records it each second): a stuck beat shows its age."""
    last = heartbeat.last_tick("beat")
    if last is None:
        return {"lastTickAt": None, "secondsSinceTick": None}
    return {
        "lastTickAt": datetime.fromtimestamp(last, UTC).isoformat(),
        "secondsSinceTick": round(time.time() - last, 1),
    }


class AdminHealthView(APIView):
    permission_classes = [Requires("admin.read")]

    @extend_schema(
        responses=inline_serializer(
            "AdminHealth",
            {
                "status": serializers.ChoiceField(["healthy", "degraded", "unhealthy"]),
                "database": serializers.CharField(),
                "redis": serializers.CharField(),
                "nodes": serializers.DictField(child=serializers.IntegerField()),
                "services": serializers.DictField(child=serializers.CharField()),
                "scheduler": inline_serializer(
                    "AdminHealthScheduler",
                    {
                        "lastTickAt": serializers.DateTimeField(allow_null=True),
                        "secondsSinceTick": serializers.FloatField(allow_null=True),
                    },
                ),
                "uptime": serializers.IntegerField(),
                "checks": inline_serializer(
                    "AdminHealthCheck",
                    {
                        "name": serializers.CharField(),
                        "status": serializers.ChoiceField(["ok", "warning", "error"]),
                        "message": serializers.CharField(),
                        "fix": serializers.CharField(),
                    },
                    many=True,
                ),
            },
        ),
        tags=["admin"],
    )
    def get(self, request):
        """Database, Redis, nodes and background services as the panel sees them now."""
        database = _probe(_ping_database)
        redis = _probe(_ping_redis)
        services = (
            heartbeat.status() if redis == "connected" else dict.fromkeys(heartbeat.SERVICES, "unknown")
        )
        scheduler = _scheduler() if redis == "connected" else {"lastTickAt": None, "secondsSinceTick": None}
        if services["beat"] == "running" and (scheduler["secondsSinceTick"] or 0) > BEAT_STUCK_AFTER_SECONDS:
            services["beat"] = "down"  # alive a minute ago, but its loop has stopped turning
        nodes = {"total": 0, "online": 0, "offline": 0}
        if database == "connected":
            nodes["total"] = Node.objects.count()
            nodes["online"] = Node.objects.filter(is_online=True).count()
            nodes["offline"] = nodes["total"] - nodes["online"]
        checks = run_checks(ping_timeout=API_PING_TIMEOUT_SECONDS)
        if database != "connected":
            overall = "unhealthy"
        elif (
            redis != "connected"
            or "down" in services.values()
            or nodes["offline"]
            or any(check.status == doctor.ERROR for check in checks)
        ):
            overall = "degraded"
        else:
            overall = "healthy"
        return ok(
            {
                "status": overall,
                "database": database,
                "redis": redis,
                "nodes": nodes,
                "services": {
                    "taskScheduler": services["beat"],
                    "alertService": services["beat"],
                    "sftpServer": services["sftp"],
                    "worker": services["worker"],
                    "monitor": services["monitor"],
                },
                "scheduler": scheduler,
                "uptime": int(time.time() - STARTED_AT),
                "checks": [check.as_dict() for check in checks],
            }
        )
