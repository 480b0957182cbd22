import django_filters
from django.db.models import Q

from accounts.models import AuditLog, User


class UserFilter(django_filters.FilterSet):
    search = django_filters.CharFilter(method="filter_search", help_text="Part of the email or username.")

    class Meta:
        model = User
        fields = ["is_active"]

    def filter_search(self, queryset, name, value):
        return queryset.filter(Q(email__icontains=value) | Q(username__icontains=value))


class AuditLogFilter(django_filters.FilterSet):
    userId = django_filters.UUIDFilter(field_name="user_id")
    action = django_filters.CharFilter(
        help_text="Exact action, or a prefix ending in `.*` (e.g. `server.*`).", method="filter_action"
    )
    resourceType = django_filters.CharFilter(field_name="resource_type")
    resourceId = django_filters.CharFilter(field_name="resource_id")
    to = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lte")

    class Meta:
        model = AuditLog
        fields: list[str] = []

    def filter_action(self, queryset, name, value):
        if value.endswith(".*"):
            return queryset.filter(action__startswith=value[:-1])
        return queryset.filter(action=value)


# `from` is a Python keyword, so it is declared outside the class body.
AuditLogFilter.base_filters["from"] = django_filters.IsoDateTimeFilter(
    field_name="created_at", lookup_expr="gte"
)
