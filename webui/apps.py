from django.apps import AppConfig


class WebUIConfig(AppConfig):
    """The customer web UI: login, the server list and the server page with its live console."""

    name = "webui"
    verbose_name = "Web UI"
