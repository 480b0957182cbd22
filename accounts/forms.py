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


class ActorFormMixin:
    """The admin sets `actor` (the staff member) on the form class; grants beyond theirs are refused."""

    actor = None

    def _refuse_beyond_actor(self, permissions: list[str]) -> None:
        from accounts.staff import grant_refusal

        if self.actor is not None and (reason := grant_refusal(self.actor, permissions)):
            raise forms.ValidationError(reason)


class RoleForm(ActorFormMixin, forms.ModelForm):
    permissions = PermissionsField()

    def clean_permissions(self):
        permissions = self.cleaned_data["permissions"]
        self._refuse_beyond_actor(permissions)
        return permissions

    class Meta:
        model = Role
        fields = ["name", "description", "permissions", "requires_two_factor"]


class RolesFormMixin(ActorFormMixin):
    def clean_roles(self):
        roles = self.cleaned_data.get("roles")
        current = set(self.instance.roles.all()) if self.instance.pk else set()
        if roles is not None:
            self._refuse_beyond_actor(sorted({p for r in roles if r not in current for p in r.permissions}))
        return roles


class HearthUserCreationForm(RolesFormMixin, UserCreationForm):
    class Meta:
        model = User
        fields = ("email", "username")


class HearthUserChangeForm(RolesFormMixin, UserChangeForm):
    class Meta:
        model = User
        fields = "__all__"
