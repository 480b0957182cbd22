import django_filters
from django.db.models import Q

from accounts.models import User


class UserFilter(django_filters.FilterSet):
    search = django_filters.CharFilter(method="filter_search", help_text="Part of the email or username.")

    class Meta:
        model = User
        fields = ["is_active"]

    def filter_search(self, queryset, name, value):
        return queryset.filter(Q(email__icontains=value) | Q(username__icontains=value))
