"""Plans and upgrade bundles as staff manage them (the API and the admin). What they do to a server, an
upgrade or an extension, is servers.lifecycle.plan's; servers import plans, never the reverse."""

from django.db import transaction

from accounts.audit import audit
from config.errors import Conflict
from plans.models import Plan, UpgradeBundle

# ---- plans and bundles -------------------------------------------------------------------------------


def _save(instance, *, kind: str, actor, request, relations: dict, fields: dict, created: bool):
    name = fields.get("name", instance.name if not created else None)
    if name and type(instance).objects.filter(name=name).exclude(pk=instance.pk).exists():
        raise Conflict(f"A {kind} named {name} already exists.")
    for field, value in fields.items():
        setattr(instance, field, value)
    with transaction.atomic():
        instance.save()
        for relation, values in relations.items():
            if values is not None:
                getattr(instance, relation).set(values)
        changed = sorted([*fields, *(r for r, v in relations.items() if v is not None)])
        action = f"{kind.replace(' ', '_')}.{'create' if created else 'update'}"
        audit(action, actor=actor, request=request, resource=instance, name=instance.name, fields=changed)
    return instance


def plan_save(
    *, plan: Plan | None = None, actor, templates=None, locations=None, request=None, **fields
) -> Plan:
    """Create a plan, or change one. Servers already on it keep the limits they were given: a plan is
    what new servers get (a bundle, or staff, change a server's)."""
    relations = {"templates": templates, "locations": locations}
    return _save(
        plan or Plan(),
        kind="plan",
        actor=actor,
        request=request,
        relations=relations,
        fields=fields,
        created=plan is None,
    )


def plan_delete(*, plan: Plan, actor, request=None) -> None:
    """Only a plan no server is on (409 otherwise: deactivate it, and customers stop seeing it)."""
    with transaction.atomic():
        count = plan.servers.count()
        if count:
            raise Conflict(f"{count} server(s) are on plan {plan.name}: deactivate it instead.")
        audit("plan.delete", actor=actor, request=request, resource=plan, name=plan.name)
        plan.delete()


def bundle_save(
    *, bundle: UpgradeBundle | None = None, actor, plans=None, request=None, **fields
) -> UpgradeBundle:
    return _save(
        bundle or UpgradeBundle(),
        kind="upgrade bundle",
        actor=actor,
        request=request,
        relations={"plans": plans},
        fields=fields,
        created=bundle is None,
    )


def bundle_delete(*, bundle: UpgradeBundle, actor, request=None) -> None:
    with transaction.atomic():
        audit("upgrade_bundle.delete", actor=actor, request=request, resource=bundle, name=bundle.name)
        bundle.delete()


# What the API and the admin call for each kind: save(instance or None, **fields), delete(instance, ...).
SAVE = {
    Plan: lambda instance, **fields: plan_save(plan=instance, **fields),
    UpgradeBundle: lambda instance, **fields: bundle_save(bundle=instance, **fields),
}
DELETE = {
    Plan: lambda instance, **who: plan_delete(plan=instance, **who),
    UpgradeBundle: lambda instance, **who: bundle_delete(bundle=instance, **who),
}
