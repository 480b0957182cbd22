"""The admin's server forms: they only collect input; servers.lifecycle validates and does the work."""

from django import forms

from accounts.models import User
from nodes.models import Location, Node
from plans.models import Plan
from servers.models import Server
from servers.resources import LIMIT_FIELDS, RESOURCE_FIELDS

LIMITS = (*RESOURCE_FIELDS, *LIMIT_FIELDS)
# The service names a field as the API does; the form calls some of them differently.
SERVICE_TO_FORM = {
    "node_id": "node",
    "template_id": "template",
    "owner_id": "owner",
    "location_id": "location",
}


def _variables(value) -> dict:
    if value in (None, ""):
        return {}
    if not isinstance(value, dict):
        raise forms.ValidationError('Variables are a JSON object: {"MOTD": "Welcome"}.')
    return value


class ServerCreateForm(forms.ModelForm):
    """What POST /api/servers takes: placement (or a chosen node), ports, variables, owner, limits."""

    node = forms.ModelChoiceField(
        Node.objects.order_by("name"),
        required=False,
        help_text="Leave empty to place the server on an online node with room (in the location, if chosen).",
    )
    location = forms.ModelChoiceField(
        Location.objects.order_by("name"),
        required=False,
        help_text="Used by placement when no node is chosen.",
    )
    primary_port = forms.IntegerField(
        min_value=1,
        max_value=65535,
        required=False,
        help_text="A free allocation on the node; empty takes the lowest free port.",
    )
    port_bindings = forms.JSONField(
        required=False,
        label="Extra ports",
        help_text='More free allocations on the node, as {"container port": host port}, e.g. {"25575": 25575}.',
    )
    docker_image = forms.CharField(
        required=False, help_text="One of the template's images; empty uses its default image."
    )
    environment = forms.JSONField(
        required=False,
        label="Variables",
        help_text='A JSON object of the template\'s variables, e.g. {"MOTD": "Welcome"}; '
        "missing ones take their defaults.",
    )
    install = forms.BooleanField(required=False, initial=True, help_text="Start the installation right away.")
    plan = forms.ModelChoiceField(
        Plan.objects.all(),
        required=False,
        help_text="Its limits fill in those left empty below, and it decides when the server expires.",
    )
    expire_in_days = forms.IntegerField(
        min_value=1, required=False, help_text="Days until it expires; empty: the plan's default (or never)."
    )

    class Meta:
        model = Server
        fields = (
            "name",
            "description",
            "owner",
            "template",
            "plan",
            "expire_in_days",
            "node",
            "location",
            "primary_port",
            "port_bindings",
            "docker_image",
            *LIMITS,
            "environment",
            "restart_policy",
            "install",
        )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "owner" in self.fields:
            self.fields["owner"].queryset = User.objects.filter(is_active=True)
        for field in LIMITS:  # empty: the plan's value, else the setting's default
            if field in self.fields:
                self.fields[field].required = False
                self.fields[field].initial = None

    def clean_environment(self):
        return _variables(self.cleaned_data.get("environment"))

    def clean_port_bindings(self):
        value = self.cleaned_data.get("port_bindings") or {}
        if not isinstance(value, dict):
            raise forms.ValidationError('Extra ports are a JSON object: {"25575": 25575}.')
        bindings = {}
        for container, host in value.items():
            if not str(container).isdigit() or not 1 <= int(container) <= 65535:
                raise forms.ValidationError(f"'{container}' is not a container port.")
            if isinstance(host, bool) or not isinstance(host, int) or not 1 <= host <= 65535:
                raise forms.ValidationError(f"{host!r} is not a host port.")
            bindings[int(container)] = host
        return bindings

    def service_arguments(self) -> dict:
        """Keyword arguments for servers.lifecycle.create.server_create, as the API passes them."""
        data = dict(self.cleaned_data)
        for optional in ("node", "location", "primary_port", "port_bindings", "plan", "expire_in_days"):
            if not data.get(optional):
                data.pop(optional, None)
        for field in LIMITS:
            if data.get(field) is None:
                data.pop(field, None)
        return data


class ServerChangeForm(forms.ModelForm):
    """What PATCH /api/servers/:id and its restart-policy endpoint take."""

    environment = forms.JSONField(
        required=False, label="Variables", help_text="A JSON object of the template's variables."
    )

    class Meta:
        model = Server
        fields = (
            "name",
            "description",
            "docker_image",
            *LIMITS,
            "environment",
            "restart_policy",
            "max_crash_count",
        )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for field in LIMIT_FIELDS:  # their defaults are callables: no hidden "initial" copy to compare with
            if field in self.fields:  # a read-only form (Support staff) has none
                self.fields[field].show_hidden_initial = False
        template = self.instance.template if self.instance.template_id else None
        if template is not None and "docker_image" in self.fields:
            images = sorted({template.docker_image, *(template.docker_images or {}).values()})
            current = self.instance.docker_image
            choices = [(image, image) for image in images]
            if (
                current and current not in images
            ):  # keep showing what runs now, even if the template dropped it
                choices.insert(0, (current, f"{current} (no longer in the template)"))
            self.fields["docker_image"] = forms.ChoiceField(
                choices=choices, help_text="One of the template's images."
            )

    def clean_environment(self):
        return _variables(self.cleaned_data.get("environment"))


class TransferForm(forms.Form):
    target = forms.ModelChoiceField(Node.objects.none(), label="Target node")

    def __init__(self, *args, server: Server, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["target"].queryset = Node.objects.exclude(pk=server.node_id).order_by("name")


class SuspendForm(forms.Form):
    reason = forms.CharField(required=False, max_length=500, widget=forms.Textarea(attrs={"rows": 3}))


class AllocationAddForm(forms.Form):
    """POST /api/servers/:id/allocations: bind one more free allocation of the server's node."""

    host_port = forms.IntegerField(min_value=1, max_value=65535, help_text="A free allocation on the node.")
    container_port = forms.IntegerField(
        min_value=1, max_value=65535, help_text="The port inside the container it forwards to."
    )
