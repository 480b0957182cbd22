import django_filters

from templates_app.models import Template


class TemplateFilter(django_filters.FilterSet):
    search = django_filters.CharFilter(
        field_name="name", lookup_expr="icontains", help_text="Part of the name."
    )
    source = django_filters.CharFilter(help_text='How the template was made: "manual", "egg:PTDL_v2"…')

    class Meta:
        model = Template
        fields: list[str] = []
