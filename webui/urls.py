from django.urls import path

from webui import views

app_name = "webui"

urlpatterns = [
    path("login", views.login_view, name="login"),
    path("logout", views.logout_view, name="logout"),
    path("", views.server_list, name="server-list"),
    path("servers/new", views.server_new, name="server-new"),
    path("servers/<uuid:server_id>", views.server_detail, name="server-detail"),
    path("alerts", views.alerts_page, name="alerts"),
    path("account/ssh-keys", views.ssh_keys, name="ssh-keys"),
]
