"""Database hosts and the databases made on them, in the admin. A host is saved through the same service
as the API (the panel logs in to it first, and the password is stored encrypted and never shown); the
actions test a host, or give a database a new password or drop it, as the API would."""

from django import forms
from django.contrib import admin, messages
from django.db.models import Count

from accounts.admin_site import StaffModelAdmin
from config.errors import DomainError, refusal_text
from databases import hosts, services
from databases.models import DatabaseHost, ServerDatabase


class DatabaseHostForm(forms.ModelForm):
    new_password = forms.CharField(
        widget=forms.PasswordInput(render_value=False),
        required=False,
        strip=False,
        help_text="The panel's account password on this host (never shown again). Leave empty to keep it.",
    )

    class Meta:
        model = DatabaseHost
        fields = ("name", "host", "port", "username", "max_databases", "nodes")

    def clean(self):
        cleaned = super().clean()
        if self.instance._state.adding and not cleaned.get("new_password"):
            self.add_error("new_password", "The panel needs the account's password to log in.")
        return cleaned


@admin.register(DatabaseHost)
class DatabaseHostAdmin(StaffModelAdmin):
    form = DatabaseHostForm
    list_display = ("name", "address", "username", "databases_used", "serves")
    search_fields = ("name", "host")
    filter_horizontal = ("nodes",)
    actions = ["test_connection"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(used=Count("databases")).prefetch_related("nodes")

    @admin.display(description="Address")
    def address(self, host: DatabaseHost) -> str:
        return f"{host.host}:{host.port}"

    @admin.display(description="Databases", ordering="used")
    def databases_used(self, host: DatabaseHost) -> str:
        return f"{host.used} / {host.max_databases}" if host.max_databases is not None else str(host.used)

    @admin.display(description="Nodes")
    def serves(self, host: DatabaseHost) -> str:
        return ", ".join(node.name for node in host.nodes.all()) or "every node"

    def save_model(self, request, obj, form, change):
        fields = {f: form.cleaned_data[f] for f in form.changed_data if f not in ("new_password", "nodes")}
        if form.cleaned_data.get("new_password"):
            fields["password"] = form.cleaned_data["new_password"]
        nodes = form.cleaned_data.get("nodes")
        # A refusal propagates: StaffModelAdmin.changeform_view rolls back and shows it as an error.
        if change:
            hosts.host_update(
                host=DatabaseHost.objects.get(pk=obj.pk),
                actor=request.user,
                request=request,
                nodes=nodes,
                **fields,
            )
        else:
            obj.pk = hosts.host_create(actor=request.user, request=request, nodes=nodes or (), **fields).pk

    def save_related(self, request, form, formsets, change):
        pass  # the nodes were set by the service

    def delete_model(self, request, obj):
        hosts.host_delete(host=obj, actor=request.user, request=request)

    @admin.action(description="Test connection (log in and read the version)", permissions=["change"])
    def test_connection(self, request, queryset):
        for host in queryset:
            try:
                version = hosts.host_test(host=host, actor=request.user, request=request)
            except DomainError as exc:
                self.message_user(request, refusal_text(exc), messages.ERROR)
            else:
                self.message_user(request, f"{host.name}: the panel logged in, {version}.")


@admin.register(ServerDatabase)
class ServerDatabaseAdmin(StaffModelAdmin):
    list_display = ("name", "server", "host", "username", "remote", "created_at")
    list_filter = ("host",)
    search_fields = ("name", "username", "server__name", "server__id")
    list_select_related = ("server", "host")
    readonly_fields = ("name", "server", "host", "username", "remote", "created_by", "created_at")
    exclude = ("password_encrypted",)
    actions = ["rotate_password", "drop"]

    def has_add_permission(self, request):
        return False  # made from the server (the API, the web UI), which names and grants it

    def has_delete_permission(self, request, obj=None):
        return False  # Django's delete would leave the database on its host: the Drop action does both

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def _each(self, request, queryset, call, done: str) -> None:
        for database in queryset.select_related("host", "server"):
            try:
                call(database=database, actor=request.user, request=request)
            except DomainError as exc:
                self.message_user(request, f"{database.name}: {refusal_text(exc)}", messages.ERROR)
            else:
                self.message_user(request, f"{database.name}: {done}.")

    @admin.action(description="Give selected databases a new password", permissions=["change"])
    def rotate_password(self, request, queryset):
        self._each(request, queryset, services.database_rotate, "new password set")

    @admin.action(description="Drop selected databases (on their host too)", permissions=["change"])
    def drop(self, request, queryset):
        self._each(request, queryset, services.database_delete, "dropped")
