from rest_framework.routers import SimpleRouter

from templates_app.api import views

router = SimpleRouter(trailing_slash=False)
router.register("templates", views.TemplateViewSet, basename="template")

urlpatterns = router.urls
