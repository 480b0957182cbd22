from rest_framework.routers import SimpleRouter

from servers.api import views

router = SimpleRouter(trailing_slash=False)
router.register("servers", views.ServerViewSet, basename="server")

urlpatterns = router.urls
