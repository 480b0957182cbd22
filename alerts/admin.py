"""Alerts in the admin (staff only, as the rest): rules (checked by alerts.validation, changed through
alerts.rules, a "send a test" action showing each delivery's outcome, enable/disable), alerts (filters,
a resolve action through alerts.services.resolve, their deliveries read-only with masked destinations)
and the servers' own notification subscriptions (read-only)."""

import json

from django import forms
from django.contrib import admin, messages

from accounts.admin_site import ReadOnlyAdmin, StaffInline, StaffModelAdmin
from alerts import delivery, rules, validation
from alerts.api.serializers import actions_masked
from alerts.masking import mask_destination as mask
from alerts.masking import scrub
from alerts.models import Alert, AlertDelivery, AlertRule, ServerNotification
from alerts.services import resolve
from config.errors import DomainError, InvalidInput, refusal_text

RULE_FIELDS = validation.RULE_FIELDS


class AlertRuleForm(forms.ModelForm):
    class Meta:
        model = AlertRule
        fields = RULE_FIELDS

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        stored = self.instance if self.instance.pk else None  # its URLs are not looked up again
        try:
            self.cleaned = validation.rule({key: data.get(key) for key in RULE_FIELDS}, instance=stored)
        except InvalidInput as exc:
            raise forms.ValidationError(exc.message) from exc
        return data


@admin.register(AlertRule)
class AlertRuleAdmin(StaffModelAdmin):
    form = AlertRuleForm
    list_display = ("name", "type", "target", "target_id", "enabled", "severity", "created_at")
    list_filter = ("type", "target", "enabled", "severity")
    search_fields = ("name", "id")
    readonly_fields = ("created_by", "created_at", "updated_at")
    fields = (*RULE_FIELDS, *readonly_fields)
    actions = ("send_test", "enable", "disable")

    def get_fields(self, request, obj=None):
        """Whoever may not change rules (Support: admin.read only) sees the webhook URLs masked."""
        if self.has_change_permission(request, obj):
            return self.fields
        return tuple("shown_actions" if f == "actions" else f for f in self.fields)

    def get_readonly_fields(self, request, obj=None):
        readonly = super().get_readonly_fields(request, obj)
        return readonly if self.has_change_permission(request, obj) else (*readonly, "shown_actions")

    @admin.display(description="Actions")
    def shown_actions(self, rule):
        return json.dumps(actions_masked(rule.actions), indent=1)

    def save_model(self, request, obj, form, change):
        fields = form.cleaned
        if change:
            fresh = AlertRule.objects.get(pk=obj.pk)
            rules.rule_update(rule=fresh, actor=request.user, request=request, **fields)
        else:
            obj.pk = rules.rule_create(actor=request.user, request=request, **fields).pk
        obj.refresh_from_db()

    def delete_model(self, request, obj):
        rules.rule_delete(rule=obj, actor=request.user, request=request)

    def delete_queryset(self, request, queryset):
        for rule in queryset:
            rules.rule_delete(rule=rule, actor=request.user, request=request)

    @admin.action(description="Send a test", permissions=["change"])
    def send_test(self, request, queryset):
        for rule in queryset:
            try:
                deliveries = delivery.send_test(rule=rule, actor=request.user)
            except DomainError as exc:
                self.message_user(request, f"{rule.name}: {refusal_text(exc)}", messages.ERROR)
                continue
            if not deliveries:
                self.message_user(request, f"{rule.name}: the rule has no actions.", messages.WARNING)
            for d in deliveries:
                code = f" HTTP {d.status_code}" if d.status_code else ""
                error = f": {d.error}" if d.error else ""
                status = (
                    "queued (its delivery log is on the test alert)" if d.status == "pending" else d.status
                )
                level = {"delivered": messages.SUCCESS, "pending": messages.INFO}.get(
                    d.status, messages.ERROR
                )
                self.message_user(
                    request, f"{rule.name} → {mask(d.destination)}: {status}{code}{error}", level
                )

    def _set_enabled(self, request, queryset, enabled: bool):
        done = 0
        for rule in queryset:
            try:
                rules.rule_update(rule=rule, actor=request.user, request=request, enabled=enabled)
            except DomainError as exc:
                self.message_user(request, f"{rule.name}: {refusal_text(exc)}", messages.ERROR)
                continue
            done += 1
        self.message_user(request, f"{'Enabled' if enabled else 'Disabled'} {done} rule(s).")

    @admin.action(description="Enable", permissions=["change"])
    def enable(self, request, queryset):
        self._set_enabled(request, queryset, True)

    @admin.action(description="Disable", permissions=["change"])
    def disable(self, request, queryset):
        self._set_enabled(request, queryset, False)


class DeliveryInline(StaffInline, admin.TabularInline):
    model = AlertDelivery
    fields = ("channel", "where", "format", "status", "attempts", "status_code", "duration_ms",
              "shown_error", "last_attempt_at", "delivered_at")  # fmt: skip
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False

    @admin.display(description="Destination")
    def where(self, delivery):
        return mask(delivery.destination)

    @admin.display(description="Error")
    def shown_error(self, delivery):
        return scrub(delivery.error, delivery.destination)


@admin.register(Alert)
class AlertAdmin(ReadOnlyAdmin):
    list_display = ("title", "type", "severity", "server", "node", "resolved", "occurrences", "created_at")
    list_filter = ("type", "severity", "resolved", "node")
    list_select_related = ("server", "node")
    search_fields = ("title", "server__name", "id")
    date_hierarchy = "created_at"
    readonly_fields = ("title", "type", "severity", "server", "node", "rule", "message", "shown_metadata",
                       "fingerprint", "occurrences", "last_seen_at", "resolved", "resolved_at", "resolved_by",
                       "resolution", "created_at")  # fmt: skip
    fields = readonly_fields
    inlines = (DeliveryInline,)
    actions = ("resolve_selected",)

    def has_resolve_permission(self, request):
        from accounts.permissions import can

        return can(request.user, "alert.resolve") or can(request.user, "admin.write")

    @admin.display(description="Metadata")
    def shown_metadata(self, alert):
        return json.dumps(alert.metadata, indent=1, sort_keys=True)

    @admin.action(description="Resolve", permissions=["resolve"])
    def resolve_selected(self, request, queryset):
        count = resolve(queryset, by=request.user, resolution="by staff", request=request)
        self.message_user(request, f"Resolved {count} alert(s).", messages.SUCCESS)


@admin.register(ServerNotification)
class ServerNotificationAdmin(ReadOnlyAdmin):
    list_display = ("server", "kind", "where", "format", "events", "enabled", "created_at")
    list_filter = ("kind", "enabled", "format")
    list_select_related = ("server",)
    search_fields = ("server__name", "id")
    fields = ("server", "kind", "where", "format", "events", "enabled", "created_by", "created_at")
    readonly_fields = fields

    @admin.display(description="Destination")
    def where(self, notification):
        return mask(notification.url or notification.email)
