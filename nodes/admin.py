from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseNotAllowed
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils.html import format_html

from accounts.admin_site import StaffInline, StaffModelAdmin
from config.errors import DomainError, InvalidInput, refusal_text
from nodes import allocations, services, trust
from nodes.dashboard import dashboard_panel
from nodes.identity import node_public_key
from nodes.models import Allocation, Location, Node, NodeEvent
from nodes.selectors import node_usage
from nodes.validation import CHECKS, clean_node_fields

# The nodes' panel on the admin's index (the site imports no app).
admin.site.add_dashboard_panel(dashboard_panel)


@admin.register(Location)
class LocationAdmin(StaffModelAdmin):
    list_display = ("name", "description", "node_count")
    search_fields = ("name",)

    @admin.display(description="Nodes")
    def node_count(self, location):
        return location.nodes.count()


class NodeEventInline(StaffInline, admin.TabularInline):
    model = NodeEvent
    fields = ("created_at", "kind", "message")
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False
    ordering = ("-created_at",)


class NodeForm(forms.ModelForm):
    new_ssh_private_key = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4}),
        required=False,
        strip=False,
        help_text="Paste an OpenSSH private key to replace the stored one (never shown again). "
        "Leave empty to keep it; SSH nodes get a generated key when created without one.",
    )

    class Meta:
        model = Node
        fields = (
            "name",
            "description",
            "location",
            "hostname",
            "public_address",
            "docker_url",
            "ssh_host_key",
            "data_dir",
            "max_memory_mb",
            "max_cpu_cores",
            "max_disk_mb",
            "memory_overallocate_percent",
            "cpu_overallocate_percent",
            "disk_overallocate_percent",
            "maintenance_mode",
        )

    def clean(self):
        """The API's and the services' checks of every node value (clean_node_fields), per field."""
        cleaned = super().clean()
        values = {field: cleaned[field] for field in CHECKS if field in cleaned}
        try:
            cleaned.update(clean_node_fields(values))
        except InvalidInput as exc:
            for field, errors in exc.fields.items():
                self.add_error(field, [str(error) for error in errors])
        return cleaned


class RepointForm(forms.Form):
    docker_url = forms.CharField(
        max_length=255, help_text="ssh://user@host:port, or unix:///var/run/docker.sock."
    )
    ssh_host_key = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        required=False,
        help_text="The new address's SSH host key, checked out of band (its console: "
        "cat /etc/ssh/ssh_host_ed25519_key.pub). Empty: the key pinned now. The panel connects and compares.",
    )
    confirm = forms.CharField(help_text="Type the node's name: every server on it moves with it.")


class HostKeyForm(forms.Form):
    ssh_host_key = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        required=False,
        help_text="The key to pin (a reinstalled host): the panel connects and pins it only if the node presents it.",
    )
    forget = forms.BooleanField(
        required=False,
        help_text="Instead, forget the pinned key: the next connection pins whatever key it is shown.",
    )


class AllocationForm(forms.Form):
    ip = forms.CharField(help_text="An address or CIDR range, e.g. 203.0.113.10 or 203.0.113.0/28.")
    ports = forms.CharField(help_text="25565, 25565-25665 or 25565,25570-25575 (at most 1000 in all).")
    alias = forms.CharField(required=False)
    notes = forms.CharField(required=False)


@admin.register(Node)
class NodeAdmin(StaffModelAdmin):
    form = NodeForm
    list_display = (
        "name",
        "location",
        "allocated",
        "docker_url",
        "status",
        "memory",
        "cpu",
        "disk",
        "containers",
        "maintenance_mode",
        "last_seen_at",
    )
    list_filter = ("is_online", "maintenance_mode", "location")
    list_select_related = ("location",)
    search_fields = ("name", "hostname", "public_address")
    readonly_fields = (
        "is_online",
        "last_seen_at",
        "consecutive_failures",
        "health_report",
        "public_key",
        "allocations_link",
    )
    inlines = [NodeEventInline]
    change_form_template = "admin/nodes/node/change_form.html"
    actions = ["test_connection", "enter_maintenance", "leave_maintenance"]

    @admin.display(description="Status")
    def status(self, node):
        if node.maintenance_mode:
            return "maintenance"
        return "online" if node.is_online else "offline"

    def _usage(self, node, used_key, total_key, limit, unit="MB"):
        report = node.last_health or {}
        used, total = report.get(used_key), report.get(total_key)
        if used is None:
            return f"— / {limit} {unit}"
        return f"{used} / {total} {unit} (limit {limit})"

    @admin.display(description="Memory used/total")
    def memory(self, node):
        return self._usage(node, "memory_used_mb", "memory_total_mb", node.max_memory_mb)

    @admin.display(description="Allocated to servers")
    def allocated(self, node):
        taken = node_usage(node)
        return f"{taken['memory']}/{node.max_memory_mb} MB · {taken['cpu']}/{node.max_cpu_cores} cores"

    @admin.display(description="CPU")
    def cpu(self, node):
        percent = (node.last_health or {}).get("cpu_percent")
        return (
            f"{percent}% of {node.max_cpu_cores} cores"
            if percent is not None
            else f"{node.max_cpu_cores} cores"
        )

    @admin.display(description="Disk used/total")
    def disk(self, node):
        return self._usage(node, "disk_used_mb", "disk_total_mb", node.max_disk_mb or "∞")

    @admin.display(description="Containers")
    def containers(self, node):
        return (node.last_health or {}).get("container_count", "—")

    @admin.display(description="Last health report")
    def health_report(self, node):
        report = node.last_health or {}
        if not report:
            return "No check yet: use the “Test connection” action."
        rows = "".join(f"<tr><th>{k}</th><td>{{}}</td></tr>" for k in report)
        return format_html(f"<table>{rows}</table>", *report.values())

    @admin.display(description="Panel public key (authorized_keys on the node)")
    def public_key(self, node):
        return node_public_key(node) or "—"

    @admin.display(description="Allocations")
    def allocations_link(self, node):
        if not node.pk:
            return "—"
        add = reverse("admin:nodes_node_allocations", args=[node.pk])
        listing = reverse("admin:nodes_allocation_changelist") + f"?node__id__exact={node.pk}"
        return format_html(
            '<a href="{}">{} allocations</a> · <a href="{}">add many</a>',
            listing,
            node.allocations.count(),
            add,
        )

    def save_model(self, request, obj, form, change):
        key = form.cleaned_data.get("new_ssh_private_key") or ""
        fields = {f: form.cleaned_data[f] for f in form.changed_data if f != "new_ssh_private_key"}
        # A refusal propagates: StaffModelAdmin.changeform_view rolls back and shows it as an error.
        if change:  # the form already wrote its values onto obj: the service compares with the saved row
            services.node_update(
                node=Node.objects.get(pk=obj.pk),
                actor=request.user,
                request=request,
                ssh_private_key=key or None,
                **fields,
            )
        else:
            node, secret = services.node_create(
                actor=request.user,
                request=request,
                ssh_private_key=key,
                **{f: form.cleaned_data[f] for f in form.cleaned_data if f != "new_ssh_private_key"},
            )
            obj.pk = node.pk
            self.message_user(request, f"Node secret (shown once): {secret}", messages.WARNING)

    def delete_model(self, request, obj):
        services.node_delete(node=obj, actor=request.user, request=request)

    def _report_health(self, request, node) -> None:
        """Run the health service (as POST /api/nodes/:id/test) and say what it found."""
        try:
            report = services.node_test(node=node, actor=request.user, request=request)
        except DomainError as exc:
            self.message_user(request, f"{node.name}: {refusal_text(exc)}", messages.ERROR)
            return
        if report["ok"]:
            self.message_user(
                request,
                f"{node.name}: reachable, Docker {report['docker_version']}, {report['latency_ms']} ms",
            )
        else:
            self.message_user(request, f"{node.name}: {report['error']}", messages.ERROR)

    @admin.action(description="Test connection (health check now)")
    def test_connection(self, request, queryset):
        for node in queryset:
            self._report_health(request, node)

    def test_view(self, request, node_id):
        """The change page's "Test connection" button."""
        node = get_object_or_404(Node, pk=node_id)
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_change_permission(request, node):  # the API's test needs admin.write too
            raise PermissionDenied
        self._report_health(request, node)
        return redirect(reverse("admin:nodes_node_change", args=[node.pk]))

    @admin.action(description="Enter maintenance (no new servers placed)")
    def enter_maintenance(self, request, queryset):
        for node in queryset:
            services.node_update(node=node, actor=request.user, request=request, maintenance_mode=True)
        self.message_user(request, f"{queryset.count()} node(s) in maintenance.")

    @admin.action(description="Leave maintenance")
    def leave_maintenance(self, request, queryset):
        for node in queryset:
            services.node_update(node=node, actor=request.user, request=request, maintenance_mode=False)
        self.message_user(request, f"{queryset.count()} node(s) out of maintenance.")

    def get_urls(self):
        return [
            path(
                "<uuid:node_id>/test/",
                self.admin_site.admin_view(self.test_view),
                name="nodes_node_test",
            ),
            path(
                "<uuid:node_id>/repoint/",
                self.admin_site.admin_view(self.repoint_view),
                name="nodes_node_repoint",
            ),
            path(
                "<uuid:node_id>/host-key/",
                self.admin_site.admin_view(self.host_key_view),
                name="nodes_node_host_key",
            ),
            path(
                "<uuid:node_id>/allocations/",
                self.admin_site.admin_view(self.allocations_view),
                name="nodes_node_allocations",
            ),
            *super().get_urls(),
        ]

    def _trust_page(self, request, node_id, form_class, title: str, act):
        """A form page for one trust action (re-point, host key): the service refuses, or it is done."""
        node = get_object_or_404(Node, pk=node_id)
        if not self.has_change_permission(request, node):
            raise PermissionDenied
        form = form_class(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                message = act(node, form.cleaned_data)
            except DomainError as exc:
                form.add_error(None, refusal_text(exc))
            else:
                self.message_user(request, message)
                return redirect(reverse("admin:nodes_node_change", args=[node.pk]))
        context = {
            **self.admin_site.each_context(request),
            "node": node,
            "form": form,
            "title": f"{title}: {node.name}",
            "opts": self.model._meta,
        }
        return render(request, "admin/nodes/trust_form.html", context)

    def repoint_view(self, request, node_id):
        def act(node, data):
            node = trust.node_repoint(node=node, actor=request.user, request=request, **data)
            return (
                f"{node.name} re-pointed to {node.docker_url} ({'online' if node.is_online else 'offline'})."
            )

        return self._trust_page(request, node_id, RepointForm, "Re-point node", act)

    def host_key_view(self, request, node_id):
        def act(node, data):
            if data["forget"]:
                trust.node_host_key_forget(node=node, actor=request.user, request=request)
                return f"{node.name}: host key forgotten; the next connection pins the key it is shown."
            trust.node_host_key_replace(
                node=node, ssh_host_key=data["ssh_host_key"], actor=request.user, request=request
            )
            return f"{node.name}: host key replaced."

        return self._trust_page(request, node_id, HostKeyForm, "Replace or forget the host key", act)

    def allocations_view(self, request, node_id):
        node = get_object_or_404(Node, pk=node_id)
        if not self.has_change_permission(request, node):
            return redirect("admin:index")
        form = AllocationForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                made, skipped = allocations.allocations_create(
                    node=node, actor=request.user, request=request, **form.cleaned_data
                )
            except InvalidInput as exc:
                form.add_error(None, refusal_text(exc))
            else:
                self.message_user(request, f"Created {made} allocation(s); {skipped} already existed.")
                return redirect(reverse("admin:nodes_allocation_changelist") + f"?node__id__exact={node.pk}")
        context = {
            **self.admin_site.each_context(request),
            "node": node,
            "form": form,
            "title": f"Add allocations to {node.name}",
            "opts": self.model._meta,
        }
        return render(request, "admin/nodes/allocations_form.html", context)


@admin.register(Allocation)
class AllocationAdmin(StaffModelAdmin):
    list_display = ("__str__", "node", "ip", "port", "alias", "notes")
    list_filter = ("node",)
    list_select_related = ("node",)
    search_fields = ("ip", "port", "alias", "notes")

    def has_add_permission(self, request):
        return False  # use the node's "add many" page

    def delete_model(self, request, obj):
        allocations.allocation_delete(allocation=obj, actor=request.user, request=request)
