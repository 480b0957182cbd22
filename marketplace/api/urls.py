from django.urls import path

from marketplace.api import views

MARKET = "servers/<uuid:server_id>/marketplace"
PLUGINS = "servers/<uuid:server_id>/plugins"
urlpatterns = [
    path(f"{MARKET}/search", views.SearchView.as_view(), name="server-marketplace-search"),
    path(
        f"{MARKET}/projects/<str:source>/<str:project_id>",
        views.ProjectView.as_view(),
        name="server-marketplace-project",
    ),
    path(f"{MARKET}/plan", views.PlanView.as_view(), name="server-marketplace-plan"),
    path(f"{MARKET}/install", views.InstallView.as_view(), name="server-marketplace-install"),
    path(PLUGINS, views.PluginsView.as_view(), name="server-plugins"),
    path(f"{PLUGINS}/check-updates", views.CheckUpdatesView.as_view(), name="server-plugins-check-updates"),
    path(f"{PLUGINS}/update", views.UpdateView.as_view(), name="server-plugins-update"),
    path(f"{PLUGINS}/enable", views.EnableView.as_view(), name="server-plugins-enable"),
    path(f"{PLUGINS}/disable", views.DisableView.as_view(), name="server-plugins-disable"),
    path(f"{PLUGINS}/uninstall", views.UninstallView.as_view(), name="server-plugins-uninstall"),
]
