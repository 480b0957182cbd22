"""Which plan a new server is made on, and what that gives it.

A customer (no `server.resources`) picks one of the active plans whenever any exists, for a template and
a location the plan allows, and gets exactly its limits: a size or a limit of their own is refused.
Without any active plan the panel runs as a community panel: customers size their servers within the
self-service maximums (servers.resources). Staff may name any plan, whose limits then fill in what they
left out, or none.
"""

from datetime import timedelta

from django.db.models import Q
from django.utils import timezone

from config.errors import InvalidInput
from plans.models import Plan

# The server's field each plan value fills.
PLAN_FIELDS = {
    "allocated_memory_mb": "memory_mb",
    "allocated_swap_mb": "swap_mb",
    "allocated_cpu_cores": "cpu_cores",
    "allocated_disk_mb": "disk_mb",
    "backup_limit": "backup_limit",
    "database_limit": "database_limit",
    "allocation_limit": "allocation_limit",
    "schedule_limit": "schedule_limit",
}


def offered(template=None):
    """The active plans, with those allowing `template` only when one is given."""
    plans = Plan.objects.filter(is_active=True)
    if template is not None:
        plans = plans.filter(Q(templates=None) | Q(templates=template)).distinct()
    return plans.prefetch_related("templates", "locations")


def require_choice(*, plan: Plan | None, template, location, sized: list[str]) -> None:
    """A customer's create: a plan is chosen when plans exist, it is active and allows the template and
    the location, and the request sizes nothing itself (400 naming what is wrong)."""
    if plan is None:
        names = list(offered(template).values_list("name", flat=True))
        if names:
            raise InvalidInput({"planId": [f"Choose a plan: {', '.join(names)}."]})
        return
    if not plan.is_active:
        raise InvalidInput({"planId": [f"Plan {plan.name} is no longer offered."]})
    if sized:
        fields = ", ".join(sorted(sized))
        raise InvalidInput(
            {field: [f"Set by the plan ({plan.name}): leave {fields} out."] for field in sized}
        )
    templates = list(plan.templates.all())
    if templates and template not in templates:
        raise InvalidInput({"templateId": [f"Plan {plan.name} does not offer this template."]})
    locations = list(plan.locations.all())
    if location is not None and locations and location not in locations:
        raise InvalidInput({"locationId": [f"Plan {plan.name} does not run servers in {location.name}."]})


def locations_for(plan: Plan | None, location):
    """Where placement may look: the chosen location, else the plan's (None: anywhere)."""
    if location is not None or plan is None:
        return location
    return list(plan.locations.all()) or None


def values(plan: Plan) -> dict:
    """The server fields the plan sets."""
    return {field: getattr(plan, source) for field, source in PLAN_FIELDS.items()}


def expiry(plan: Plan | None, days: int | None, *, now=None):
    """When a new server expires: after `days` when given (staff), else the plan's default; None: never."""
    days = days if days is not None else (plan.default_expire_days if plan is not None else None)
    return (now or timezone.now()) + timedelta(days=days) if days else None
