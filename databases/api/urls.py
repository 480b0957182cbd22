from django.urls import path
from rest_framework.routers import SimpleRouter

from databases.api import views

router = SimpleRouter(trailing_slash=False)
router.register("admin/database-hosts", views.DatabaseHostViewSet, basename="database-host")

DATABASES = "servers/<uuid:server_id>/databases"
ONE = f"{DATABASES}/<uuid:database_id>"
urlpatterns = [
    path(DATABASES, views.DatabaseListView.as_view(), name="server-databases"),
    path(f"{DATABASES}/hosts", views.DatabaseHostChoicesView.as_view(), name="server-database-hosts"),
    path(ONE, views.DatabaseDetailView.as_view(), name="server-database"),
    path(f"{ONE}/rotate", views.DatabaseRotateView.as_view(), name="server-database-rotate"),
    *router.urls,
]
