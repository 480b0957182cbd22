"""The server's files in the admin, for staff: a read-only listing (through the file manager's own
service, so through the helper container, with its containment) and an action that removes the files
helpers of servers (the next file operation makes a new one; open sessions end)."""

import posixpath

from django.contrib import admin, messages
from django.template.response import TemplateResponse

from accounts.audit import audit
from accounts.permissions import can
from config.errors import DomainError, refusal_text
from servers.files import paths
from servers.files.helper import remove_helper
from servers.files.service import files_list


class ServerFilesPage:
    """Mixed into ServerAdmin (its get_urls routes `<id>/files/` here); needs file.read on the server."""

    def files_view(self, request, server_id):
        server = self._server_for(request, server_id, "file.read")
        entries, error, path = [], "", "/"
        try:
            path = paths.clean(request.GET.get("path", "/"))
            entries = files_list(server=server, path=path, denylist=False)  # staff: not bound
        except DomainError as exc:
            error = refusal_text(exc)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": server,
            "title": f"Files of {server.name}: {path}",
            "path": path,
            "parent": posixpath.dirname(path) if path != "/" else None,
            "entries": [{**entry, "path": posixpath.join(path, entry["name"])} for entry in entries],
            "error": error,
        }
        return TemplateResponse(request, "admin/servers/server/files.html", context)


@admin.action(description="Remove the files helpers of selected servers", permissions=["server_update"])
def remove_files_helpers(modeladmin, request, queryset):
    """Per server, with server.update on it (the helper is remade on the next file operation)."""
    removed = 0
    for server in queryset.select_related("node", "template"):
        if not can(request.user, "server.update", server):
            modeladmin.message_user(request, f"{server.name}: you do not hold server.update.", messages.ERROR)
            continue
        try:
            remove_helper(server)
        except DomainError as exc:
            modeladmin.message_user(request, f"{server.name}: {refusal_text(exc)}", messages.ERROR)
            continue
        audit("files.helper_remove", actor=request.user, request=request, resource=server)
        removed += 1
    if removed:
        modeladmin.message_user(request, f"Files helpers removed: {removed} server(s).", messages.SUCCESS)
