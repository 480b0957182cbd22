"""/api/alerts and /api/alert-rules (contract "Alerts", "Alert Rules") and a server's own notification
subscriptions, /api/servers/<id>/notifications. Each view finds what the caller may see
(alerts.selectors, alerts.notifications: 404, 403, 423), reads its input and calls one service."""

from django.db.models import Count
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import generics, serializers
from rest_framework.views import APIView

from accounts.api.permissions import Requires
from accounts.permissions import can
from alerts import delivery, rules, selectors, validation
from alerts import notifications as subs
from alerts.api import serializers as s
from alerts.filters import filter_alerts
from alerts.models import AlertRule, AlertType, Severity
from alerts.services import resolve
from config.api.responses import created, ok
from config.api.throttling import charge, too_many_attempts
from config.errors import IllegalTransition, InvalidInput, NotFound

TAGS = ["alerts"]
RULE_TAGS = ["alert-rules"]


def _body(request, allowed) -> dict:
    """The body's fields, only those in `allowed` (else the unknown-field 400): a key such as `server`
    or `actor` must not reach the service as a keyword argument of its own."""
    if not isinstance(request.data, dict):
        raise InvalidInput("Send a JSON object.")
    body = dict(request.data)
    validation.refuse_unknown(body, allowed)
    return {key: body[key] for key in allowed if key in body}


def _charge(scope: str, user, message: str) -> None:
    """One more of `user`'s `scope` budget (settings.RATE_LIMITS, per minute); 429 past it."""
    allowed, state = charge(scope, f"user:{user.pk}")
    if not allowed:
        raise too_many_attempts(message, state=state)


TEST_LIMITED = "Too many test sends for now; try again in {wait} s."
CHANGES_LIMITED = "Too many notification changes for now; try again in {wait} s."


def _answer(name: str, **fields):
    return inline_serializer(name, {"message": serializers.CharField(), **fields})


FILTERS = [
    OpenApiParameter("serverId", str, description="Only this server's alerts"),
    OpenApiParameter("nodeId", str, description="Only this node's alerts"),
    OpenApiParameter("type", str, enum=AlertType.values),
    OpenApiParameter("severity", str, enum=Severity.values),
    OpenApiParameter("resolved", bool),
]


@extend_schema(tags=TAGS, parameters=FILTERS)
class AlertsView(generics.ListAPIView):
    """The alerts the caller may see, newest first: staff all, a customer their servers' (never a node's)."""

    serializer_class = s.AlertSerializer
    filter_backends = []

    def get_queryset(self):
        alerts = selectors.alerts_visible_to(self.request.user)
        return filter_alerts(alerts, self.request.query_params).order_by("-created_at")


class AlertView(APIView):
    @extend_schema(tags=TAGS, responses=s.AlertDetailSerializer)
    def get(self, request, alert_id):
        """One alert (404 for one the caller may not see); staff also get its deliveries."""
        alert = selectors.alert_for(request.user, alert_id)
        staff = selectors.sees_all(request.user)
        subscriber = bool(alert.server_id) and can(request.user, subs.PERMISSION, alert.server)
        context = {"staff": staff, "subscriber": subscriber}
        return ok(s.AlertDetailSerializer(alert, context=context).data)


class AlertResolveView(APIView):
    @extend_schema(tags=TAGS, request=None, responses=_answer("AlertResolved"))
    def post(self, request, alert_id):
        """Resolve it (alert.resolve on its server, or globally); 409 when it is resolved already."""
        alert = selectors.alert_for(request.user, alert_id)
        selectors.check_resolve(request.user, alert)
        if alert.resolved:
            raise IllegalTransition("Alert is already resolved.")
        resolve(
            type(alert).objects.filter(pk=alert.pk), by=request.user, resolution="by hand", request=request
        )
        return ok(message="Alert resolved")


class AlertBulkResolveView(APIView):
    @extend_schema(
        tags=TAGS,
        request=s.BulkResolveSerializer,
        responses=inline_serializer("AlertsResolved", {"resolved": serializers.IntegerField()}),
    )
    def post(self, request):
        """Resolve the listed alerts the caller may resolve; `resolved` counts those resolved now. Ids of
        alerts the caller may not see or resolve, or already resolved, are skipped (and not revealed)."""
        body = s.BulkResolveSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        visible = selectors.alerts_visible_to(request.user).filter(pk__in=body.validated_data["alert_ids"])
        mine = selectors.resolvable_by(request.user, visible)
        count = resolve(mine, by=request.user, resolution="by hand", request=request)
        return ok(resolved=count)


class AlertStatsView(APIView):
    @extend_schema(tags=TAGS, responses=s.AlertStatsSerializer)
    def get(self, request):
        """Counts over the alerts the caller may see (test sends aside): total, unresolved, by type and by
        severity."""
        alerts = (
            selectors.alerts_visible_to(request.user)
            .exclude(fingerprint__startswith=delivery.TEST_FINGERPRINT)
            .order_by()
        )
        by_type = dict.fromkeys(AlertType.values, 0)
        by_type.update(dict(alerts.values_list("type").annotate(n=Count("id"))))
        by_severity = dict.fromkeys(Severity.values, 0)
        by_severity.update(dict(alerts.values_list("severity").annotate(n=Count("id"))))
        data = {
            "total": sum(by_type.values()),
            "unresolved": alerts.filter(resolved=False).count(),
            "by_type": by_type,
            "by_severity": by_severity,
        }
        return ok(data)


# ---- rules (staff) ------------------------------------------------------------------------------------


class StaffView(APIView):
    """Reads need admin.read, changes admin.write."""

    def get_permissions(self):
        return [Requires("admin.read" if self.request.method == "GET" else "admin.write")()]


def _rule_context(request) -> dict:
    """Readers who may not change rules (admin.read only, e.g. Support) see webhook URLs masked."""
    return {"mask": not can(request.user, "admin.write")}


def _rule(rule_id) -> AlertRule:
    rule = AlertRule.objects.filter(pk=rule_id).first() if selectors.is_uuid(rule_id) else None
    if rule is None:
        raise NotFound("Alert rule not found.")
    return rule


class RulesView(StaffView):
    @extend_schema(tags=RULE_TAGS, responses=s.RuleSerializer(many=True))
    def get(self, request):
        return ok(s.RuleSerializer(AlertRule.objects.all(), many=True, context=_rule_context(request)).data)

    @extend_schema(tags=RULE_TAGS, request=s.RuleWriteSerializer, responses={201: s.RuleWithSecretSerializer})
    def post(self, request):
        """A rule; the answer carries its signing secret, shown only here and when rotated."""
        fields = _body(request, validation.RULE_FIELDS)
        rule = rules.rule_create(actor=request.user, request=request, **fields)
        return created(s.RuleWithSecretSerializer(rule).data, message="Alert rule created")


class RuleView(StaffView):
    @extend_schema(tags=RULE_TAGS, responses=s.RuleSerializer)
    def get(self, request, rule_id):
        return ok(s.RuleSerializer(_rule(rule_id), context=_rule_context(request)).data)

    def _change(self, request, rule_id):
        fields = _body(request, validation.RULE_FIELDS)
        rule = rules.rule_update(rule=_rule(rule_id), actor=request.user, request=request, **fields)
        return ok(s.RuleSerializer(rule).data, message="Alert rule updated")

    @extend_schema(tags=RULE_TAGS, request=s.RuleWriteSerializer, responses=s.RuleSerializer)
    def put(self, request, rule_id):
        """Change the fields given (checked against the rule as it will be)."""
        return self._change(request, rule_id)

    @extend_schema(tags=RULE_TAGS, request=s.RuleWriteSerializer, responses=s.RuleSerializer)
    def patch(self, request, rule_id):
        return self._change(request, rule_id)

    @extend_schema(tags=RULE_TAGS, responses=_answer("AlertRuleDeleted"))
    def delete(self, request, rule_id):
        """Delete the rule; its alerts stay (without their rule)."""
        rules.rule_delete(rule=_rule(rule_id), actor=request.user, request=request)
        return ok(message="Alert rule deleted")


class RuleTestView(StaffView):
    @extend_schema(tags=RULE_TAGS, request=None, responses=s.TestResultSerializer)
    def post(self, request, rule_id):
        """Send a test alert to each of the rule's actions now; each delivery's outcome. At most
        RATE_LIMITS["alert-test"] test sends a minute per person (429 past it)."""
        rule = _rule(rule_id)
        _charge("alert-test", request.user, TEST_LIMITED)
        deliveries = delivery.send_test(rule=rule, actor=request.user)
        return ok({"deliveries": s.DeliverySerializer(deliveries, many=True).data}, message="Test sent")


class RuleRotateView(StaffView):
    @extend_schema(tags=RULE_TAGS, request=None, responses=s.RuleWithSecretSerializer)
    def post(self, request, rule_id):
        """A new signing secret (the old one stops verifying at once); shown in this answer only."""
        rule = _rule(rule_id)
        rules.rule_rotate_secret(rule=rule, actor=request.user, request=request)
        return ok(s.RuleWithSecretSerializer(rule).data, message="Signing secret rotated")


# ---- a server's notifications -----------------------------------------------------------------------------


class NotificationsView(APIView):
    @extend_schema(tags=TAGS, responses=s.NotificationSerializer(many=True))
    def get(self, request, server_id):
        """The server's subscriptions (alert.subscribe on it)."""
        server = subs.notification_server(request.user, server_id, write=False)
        return ok(s.NotificationSerializer(server.notifications.all(), many=True).data)

    @extend_schema(
        tags=TAGS, request=s.NotificationWriteSerializer, responses={201: s.NotificationSerializer}
    )
    def post(self, request, server_id):
        """Subscribe a webhook (e.g. a Discord channel) or an email address to the server's alerts."""
        server = subs.notification_server(request.user, server_id, write=True)
        fields = _body(request, validation.NOTIFICATION_FIELDS)
        _charge("alert-notification-change", request.user, CHANGES_LIMITED)
        made = subs.notification_create(server=server, actor=request.user, request=request, **fields)
        return created(s.NotificationSerializer(made).data, message="Notification created")


def _find(request, server_id, notification_id, *, write: bool):
    server = subs.notification_server(request.user, server_id, write=write)
    return subs.notification_of(server, notification_id)


class NotificationView(APIView):
    @extend_schema(tags=TAGS, responses=s.NotificationSerializer)
    def get(self, request, server_id, notification_id):
        return ok(s.NotificationSerializer(_find(request, server_id, notification_id, write=False)).data)

    @extend_schema(tags=TAGS, request=s.NotificationWriteSerializer, responses=s.NotificationSerializer)
    def patch(self, request, server_id, notification_id):
        found = _find(request, server_id, notification_id, write=True)
        fields = _body(request, validation.NOTIFICATION_FIELDS)
        _charge("alert-notification-change", request.user, CHANGES_LIMITED)
        found = subs.notification_update(notification=found, actor=request.user, request=request, **fields)
        return ok(s.NotificationSerializer(found).data, message="Notification updated")

    @extend_schema(tags=TAGS, responses=_answer("NotificationDeleted"))
    def delete(self, request, server_id, notification_id):
        found = _find(request, server_id, notification_id, write=True)
        subs.notification_delete(notification=found, actor=request.user, request=request)
        return ok(message="Notification deleted")


class NotificationTestView(APIView):
    @extend_schema(tags=TAGS, request=None, responses=s.TestResultSerializer)
    def post(self, request, server_id, notification_id):
        """Send a test alert to this destination now; the delivery's outcome (usually still pending: it
        is queued). At most RATE_LIMITS["alert-test"] test sends a minute per person (429 past it)."""
        found = _find(request, server_id, notification_id, write=True)
        _charge("alert-test", request.user, TEST_LIMITED)
        deliveries = delivery.send_test(notification=found, actor=request.user)
        return ok({"deliveries": s.DeliverySerializer(deliveries, many=True).data}, message="Test sent")
