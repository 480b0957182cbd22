from django.urls import path

from alerts.api import views

urlpatterns = [
    path("alerts", views.AlertsView.as_view(), name="alerts"),
    path("alerts/stats", views.AlertStatsView.as_view(), name="alerts-stats"),
    path("alerts/bulk-resolve", views.AlertBulkResolveView.as_view(), name="alerts-bulk-resolve"),
    path("alerts/<uuid:alert_id>", views.AlertView.as_view(), name="alert"),
    path("alerts/<uuid:alert_id>/resolve", views.AlertResolveView.as_view(), name="alert-resolve"),
    path("alert-rules", views.RulesView.as_view(), name="alert-rules"),
    path("alert-rules/<uuid:rule_id>", views.RuleView.as_view(), name="alert-rule"),
    path("alert-rules/<uuid:rule_id>/test", views.RuleTestView.as_view(), name="alert-rule-test"),
    path(
        "alert-rules/<uuid:rule_id>/rotate-secret", views.RuleRotateView.as_view(), name="alert-rule-rotate"
    ),
    path("servers/<uuid:server_id>/notifications", views.NotificationsView.as_view(), name="notifications"),
    path(
        "servers/<uuid:server_id>/notifications/<uuid:notification_id>",
        views.NotificationView.as_view(),
        name="notification",
    ),
    path(
        "servers/<uuid:server_id>/notifications/<uuid:notification_id>/test",
        views.NotificationTestView.as_view(),
        name="notification-test",
    ),
]
