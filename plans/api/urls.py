from rest_framework.routers import SimpleRouter

from plans.api import views

router = SimpleRouter(trailing_slash=False)
router.register("plans", views.PlanViewSet, basename="plan")
router.register("upgrades", views.UpgradeBundleViewSet, basename="upgrade")

urlpatterns = [
    *router.urls,
]
