import django_filters
from django.db.models import Q

from servers.models import Server


class ServerFilter(django_filters.FilterSet):
    nodeId = django_filters.UUIDFilter(field_name="node_id")
    status = django_filters.ChoiceFilter(choices=Server.Status.choices)
    search = django_filters.CharFilter(method="filter_search", help_text="Part of the name or description.")

    class Meta:
        model = Server
        fields: list[str] = []

    def filter_search(self, queryset, name, value):
        return queryset.filter(Q(name__icontains=value) | Q(description__icontains=value))


class AdminServerFilter(ServerFilter):
    ownerId = django_filters.UUIDFilter(field_name="owner_id")
