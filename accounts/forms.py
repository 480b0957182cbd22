"""Admin forms: permissions are picked from the catalogue, never typed into a JSON box."""

from django import forms
from django.contrib.auth.forms import UserChangeForm, UserCreationForm

from accounts.models import Role, User
from accounts.permissions import CATALOGUE, RESOURCES


def permission_choices() -> list[tuple[str, str]]:
    wildcards = [("*", "* — everything")] + [
        (f"{r}.*", f"{r}.* — every {r} permission") for r in sorted(RESOURCES)
    ]
    return wildcards + [(p, p) for p in CATALOGUE]


class PermissionsField(forms.MultipleChoiceField):
    widget = forms.CheckboxSelectMultiple

    def __init__(self, **kwargs):
        kwargs.setdefault("choices", permission_choices)
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)


class RoleForm(forms.ModelForm):
    permissions = PermissionsField()

    class Meta:
        model = Role
        fields = ["name", "description", "permissions", "requires_two_factor"]


class HearthUserCreationForm(UserCreationForm):
    class Meta:
        model = User
        fields = ("email", "username")


class HearthUserChangeForm(UserChangeForm):
    class Meta:
        model = User
        fields = "__all__"
