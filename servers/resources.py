"""Who decides what a server may use, where it runs and what it runs: the hosting company's boundary.

Memory, swap, CPU, disk, PIDs, IO, the per-server limits, the node and the ports need the global
permission `server.resources` (staff; an owner never holds it through their server). A customer
picks an image among the template's, sizes their own new server within the self-service
maximums and stops at the per-account quota (settings, until plans take over).
"""

from collections.abc import Iterable
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError

from accounts.models import User
from accounts.permissions import can
from config.errors import InvalidInput, NotAllowed
from servers.models import Server
from templates_app.validators import validate_image

RESOURCE_FIELDS = (
    "allocated_memory_mb",
    "allocated_swap_mb",
    "allocated_cpu_cores",
    "allocated_disk_mb",
    "io_weight",
    "pids_limit",
)
LIMIT_FIELDS = ("backup_limit", "database_limit", "allocation_limit", "schedule_limit")
# What a server may use and where it runs: only holders of `server.resources` set these.
STAFF_ONLY_FIELDS = frozenset(
    {
        *RESOURCE_FIELDS,
        *LIMIT_FIELDS,
        "node_id",
        "primary_port",
        "port_bindings",
        "expire_in_days",
        "expire_at",
    }
)
# ...except that a customer sizes their own new server, within the self-service maximums.
SELF_SIZED = ("allocated_memory_mb", "allocated_cpu_cores", "allocated_disk_mb")


def may_set_resources(actor) -> bool:
    """Staff who may decide limits, node and image (a global grant: owners never hold it)."""
    return can(actor, "server.resources")


def _api_name(field: str) -> str:
    head, *rest = field.split("_")
    return head + "".join(part.capitalize() for part in rest)


def require_resources(actor, fields: Iterable[str]) -> None:
    """403 naming the fields when someone without `server.resources` sends what only staff may set.

    Called before any state check, so a customer learns it is not theirs to change, not "stop first".
    """
    names = sorted({_api_name(f) for f in fields})
    if names and not may_set_resources(actor):
        raise NotAllowed(
            f"Only staff may set {', '.join(names)} (requires server.resources).",
            fields={name: ["Requires server.resources."] for name in names},
        )


def check_image(actor, template, image: str) -> None:
    """A customer picks among the template's images; staff may name any well-formed image."""
    if may_set_resources(actor):
        try:
            validate_image(image)
        except DjangoValidationError as exc:
            raise InvalidInput({"docker_image": exc.messages}) from exc
        if image:
            return
    images = template.images()
    if image not in images:
        raise InvalidInput({"docker_image": [f"Choose one of the template's images: {', '.join(images)}."]})


def check_self_service(*, memory: int, cpu, disk: int) -> None:
    """A customer's own new server stays within the self-service maximums (400 naming each field)."""
    maximums = {
        "allocated_memory_mb": (memory, settings.SELF_SERVICE_MAX_MEMORY_MB, "MB"),
        "allocated_cpu_cores": (
            Decimal(str(cpu)),
            Decimal(str(settings.SELF_SERVICE_MAX_CPU_CORES)),
            "cores",
        ),
        "allocated_disk_mb": (disk, settings.SELF_SERVICE_MAX_DISK_MB, "MB"),
    }
    over = {
        field: [
            f"At most {maximum.normalize() if isinstance(maximum, Decimal) else maximum} {unit} "
            "for a server you create yourself; ask staff for more."
        ]
        for field, (value, maximum, unit) in maximums.items()
        if value > maximum
    }
    if over:
        raise InvalidInput(over)


def check_quota(actor: User) -> None:
    """Self-service creates stop at the quota; the owner's row is locked so two at once cannot pass it."""
    User.objects.select_for_update().filter(pk=actor.pk).first()
    owned = Server.objects.filter(owner=actor).count()
    quota = settings.SELF_SERVICE_SERVER_QUOTA
    if owned >= quota:
        raise NotAllowed(
            f"You already have {owned} server(s); an account may create {quota} on its own. "
            "Ask staff for more."
        )
