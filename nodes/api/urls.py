from django.urls import path
from rest_framework.routers import SimpleRouter

from nodes.api import views

router = SimpleRouter(trailing_slash=False)
router.register("nodes", views.NodeViewSet, basename="node")
router.register("locations", views.LocationViewSet, basename="location")

urlpatterns = [
    path("deploy/<str:token>", views.DeployScriptView.as_view(), name="node-deploy-script"),
    path("deploy/<str:token>/complete", views.DeployCompleteView.as_view(), name="node-deploy-complete"),
    *router.urls,
]
