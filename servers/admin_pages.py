"""The server admin's own pages, beside Django's change form: transfer, ports and suspend-with-a-reason.

Each asks `can()` for its API endpoint's permission and calls the same service; a refusal is shown on
the form and as an error message.
"""

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import reverse

from accounts.permissions import can
from config.errors import DomainError, refusal_text
from servers import ports
from servers.forms import AllocationAddForm, SuspendForm, TransferForm
from servers.lifecycle.suspension import server_suspend
from servers.models import Server
from servers.transfer import server_transfer


class ServerPages:
    """Mixed into ServerAdmin, whose get_urls routes to these views."""

    def _server_for(self, request, server_id, permission: str) -> Server:
        server = get_object_or_404(Server.objects.select_related("node", "template"), pk=server_id)
        if not can(request.user, permission, server):
            raise PermissionDenied
        return server

    def _form_page(self, request, server, form, title: str):
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": server,
            "form": form,
            "title": title,
        }
        return TemplateResponse(request, "admin/servers/server/action_form.html", context)

    def transfer_view(self, request, server_id):
        server = self._server_for(request, server_id, "server.transfer")
        form = TransferForm(request.POST or None, server=server)
        if request.method == "POST" and form.is_valid():
            target = form.cleaned_data["target"]
            try:
                server_transfer(server=server, actor=request.user, target=target, request=request)
            except DomainError as exc:
                form.add_error(None, refusal_text(exc))
                self.message_user(request, f"Not transferred: {refusal_text(exc)}", messages.ERROR)
            else:
                self.message_user(request, f"Transfer of “{server.name}” to {target.name} started.")
                return redirect(reverse("admin:servers_server_change", args=[server.pk]))
        return self._form_page(request, server, form, f"Transfer {server.name} to another node")

    def allocations_view(self, request, server_id):
        """The server's ports: add one, make one primary, remove one (the API's allocation services)."""
        server = self._server_for(request, server_id, "server.update")
        form = AllocationAddForm(request.POST if request.POST.get("do") == "add" else None)
        if request.method == "POST":
            try:
                done = self._allocation_change(request, server, form)
            except DomainError as exc:
                self.message_user(request, f"Not changed: {refusal_text(exc)}", messages.ERROR)
            else:
                if done:
                    self.message_user(request, done)
                    return redirect(reverse("admin:servers_server_allocations", args=[server.pk]))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": server,
            "form": form,
            "title": f"Ports of {server.name}",
            "allocations": server.allocations.order_by("-is_primary", "port"),
        }
        return TemplateResponse(request, "admin/servers/server/allocations.html", context)

    def _allocation_change(self, request, server, form) -> str:
        do, who = request.POST.get("do"), {"server": server, "actor": request.user, "request": request}
        if do == "add":
            if not form.is_valid():
                return ""
            allocation = ports.allocation_add(**who, **form.cleaned_data)
            return f"Bound {allocation.ip}:{allocation.port} to container port {allocation.container_port}."
        port = int(request.POST.get("container_port") or 0)
        if do == "primary":
            ports.allocation_set_primary(**who, container_port=port)
            return f"Container port {port} is now the primary."
        if do == "remove":
            ports.allocation_remove(**who, container_port=port)
            return f"Removed the allocation of container port {port}."
        return ""

    def suspend_view(self, request, server_id):
        server = self._server_for(request, server_id, "server.suspend")
        form = SuspendForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                server_suspend(
                    server=server, actor=request.user, request=request, reason=form.cleaned_data["reason"]
                )
            except DomainError as exc:
                form.add_error(None, refusal_text(exc))
                self.message_user(request, f"Not suspended: {refusal_text(exc)}", messages.ERROR)
            else:
                self.message_user(request, f"Suspended “{server.name}”.")
                return redirect(reverse("admin:servers_server_change", args=[server.pk]))
        return self._form_page(request, server, form, f"Suspend {server.name}")
