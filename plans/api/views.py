"""Plans and upgrade bundles (`/api/plans`, `/api/upgrades`): every signed-in user lists what is offered,
staff (admin.read) see everything and change it (admin.write). A server's upgrade and extend are
servers.api.plan_views'."""

from drf_spectacular.utils import extend_schema
from rest_framework import permissions
from rest_framework.exceptions import NotFound

from accounts.api.admin_views import StaffViewSet
from accounts.permissions import can
from config.api.responses import created, ok
from config.ids import is_uuid
from plans import selection, services
from plans.api import serializers as s
from plans.models import Plan, UpgradeBundle
from templates_app.models import Template


class _Offered(StaffViewSet):
    """Reads for every signed-in user (staff see all, with their details); changes need admin.write and
    go through the services (services.SAVE and DELETE, by model)."""

    model: type

    def get_permissions(self):
        if self.request.method == "GET":
            return [permissions.IsAuthenticated()]
        return super().get_permissions()

    def _staff(self) -> bool:
        """Staff's view: a change (admin.write was checked), or a read by someone with admin.read."""
        return self.request.method != "GET" or can(self.request.user, "admin.read")

    def create(self, request):
        return self._save(None, created)

    def update(self, request, pk=None, partial=True):
        """PUT and PATCH alike take only the fields to change."""
        return self._save(self.get_object(), ok)

    def destroy(self, request, pk=None):
        services.DELETE[self.model](self.get_object(), actor=request.user, request=request)
        return ok()

    def _save(self, instance, answer):
        data = self.get_serializer(instance, data=self.request.data, partial=instance is not None)
        data.is_valid(raise_exception=True)
        save = services.SAVE[self.model]
        saved = save(instance, actor=self.request.user, request=self.request, **data.validated_data)
        return answer(self.get_serializer(saved).data)


@extend_schema(tags=["plans"])
class PlanViewSet(_Offered):
    model = Plan

    def get_queryset(self):
        if self._staff():
            return Plan.objects.prefetch_related("templates", "locations")
        template = self.request.query_params.get("templateId")
        return selection.offered(_template(template))

    def get_serializer_class(self):
        return s.PlanSerializer if self._staff() else s.PlanOfferSerializer


def _template(template_id):
    """The template of `?templateId=` (404 for an unknown one), or None without it."""
    if template_id is None:
        return None
    template = Template.objects.filter(pk=template_id).first() if is_uuid(template_id) else None
    if template is None:
        raise NotFound("Template not found.")
    return template


@extend_schema(tags=["plans"])
class UpgradeBundleViewSet(_Offered):
    serializer_class = s.UpgradeBundleSerializer
    queryset = UpgradeBundle.objects.prefetch_related("plans")
    model = UpgradeBundle
