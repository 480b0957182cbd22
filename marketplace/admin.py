"""Installed plugins, mods and modpacks across every server, in the admin: what came from where, at
which version, and whether a newer one fits. The actions ask the sources for updates, or install
them, through the same services as the API (the update is a job per server, as the customer's is)."""

from django.contrib import admin, messages

from accounts.admin_site import StaffModelAdmin
from config.errors import DomainError, refusal_text
from marketplace import installed
from marketplace.models import InstalledPlugin


@admin.register(InstalledPlugin)
class InstalledPluginAdmin(StaffModelAdmin):
    list_display = (
        "project_name",
        "server",
        "source",
        "project_type",
        "version_name",
        "update",
        "origin",
        "installed_at",
    )
    list_filter = ("source", "project_type", "origin")
    search_fields = ("project_name", "project_id", "path", "server__name")
    list_select_related = ("server",)
    readonly_fields = [field.name for field in InstalledPlugin._meta.fields]
    actions = ["check_updates", "install_updates"]

    def has_add_permission(self, request):
        return False  # the marketplace installs; staff use the server's Plugins tab or the API

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="Update", ordering="latest_version_name")
    def update(self, plugin: InstalledPlugin) -> str:
        return plugin.latest_version_name if plugin.has_update else ""

    def _per_server(self, request, queryset, work, done: str):
        servers = {plugin.server for plugin in queryset.select_related("server__node", "server__template")}
        for server in servers:
            try:
                self.message_user(request, f"{server.name}: {done.format(work(server))}")
            except DomainError as exc:
                self.message_user(request, f"{server.name}: {refusal_text(exc)}", messages.ERROR)

    @admin.action(description="Check the selected plugins' servers for updates")
    def check_updates(self, request, queryset):
        self._per_server(
            request,
            queryset,
            lambda server: installed.plugins_check_updates(server=server),
            "{} update(s) available.",
        )

    @admin.action(description="Install the updates of the selected plugins")
    def install_updates(self, request, queryset):
        paths = {}
        for plugin in queryset:
            paths.setdefault(plugin.server_id, []).append(plugin.path)
        self._per_server(
            request,
            queryset,
            lambda server: (
                installed.plugins_update(
                    server=server, actor=request.user, paths=paths[server.pk], request=request
                ).pk
            ),
            "update job {} started.",
        )
