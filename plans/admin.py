"""Plans and upgrade bundles in the admin, saved through the same services as the API (a taken name or a
plan still in use is a message, and every change is audited)."""

from django.contrib import admin
from django.db.models import Count

from accounts.admin_site import StaffModelAdmin
from plans import services
from plans.models import Plan, UpgradeBundle


class _ThroughServices(StaffModelAdmin):
    """save_model/save_related/delete_model call the service (a refusal rolls back and is a message)."""

    relations: tuple[str, ...] = ()

    def save_model(self, request, obj, form, change):
        fields = {f: form.cleaned_data[f] for f in form.changed_data if f not in self.relations}
        relations = {name: form.cleaned_data.get(name) for name in self.relations}
        save = services.SAVE[self.model]
        obj.pk = save(obj if change else None, actor=request.user, request=request, **relations, **fields).pk

    def save_related(self, request, form, formsets, change):
        pass  # the service set the relations

    def delete_model(self, request, obj):
        services.DELETE[self.model](obj, actor=request.user, request=request)


@admin.register(Plan)
class PlanAdmin(_ThroughServices):
    relations = ("templates", "locations")
    list_display = (
        "name",
        "price_label",
        "memory_mb",
        "cpu_cores",
        "disk_mb",
        "expiry",
        "is_active",
        "servers_on",
    )
    list_filter = ("is_active",)
    search_fields = ("name",)
    filter_horizontal = ("templates", "locations")
    fieldsets = (
        (None, {"fields": ("name", "description", "price_label", "is_active", "sort_order")}),
        ("What a server gets", {"fields": ("memory_mb", "swap_mb", "cpu_cores", "disk_mb")}),
        ("Limits", {"fields": ("backup_limit", "database_limit", "allocation_limit", "schedule_limit")}),
        ("Expiry", {"fields": ("default_expire_days", "delete_after_days")}),
        ("Offered for", {"fields": ("templates", "locations")}),
    )

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(on_plan=Count("servers"))

    @admin.display(description="Servers", ordering="on_plan")
    def servers_on(self, plan: Plan) -> int:
        return plan.on_plan

    @admin.display(description="Expires after")
    def expiry(self, plan: Plan) -> str:
        return f"{plan.default_expire_days} days" if plan.default_expire_days else "never"


@admin.register(UpgradeBundle)
class UpgradeBundleAdmin(_ThroughServices):
    relations = ("plans",)
    list_display = (
        "name",
        "price_label",
        "memory_mb",
        "cpu_cores",
        "disk_mb",
        "backup_limit",
        "database_limit",
    )
    search_fields = ("name",)
    filter_horizontal = ("plans",)
