"""System checks for settings that are valid but probably not what the operator meant."""

from django.conf import settings
from django.core.checks import Warning, register


@register("security", deploy=False)
def https_needs_a_trusted_proxy(app_configs, **kwargs):
    if getattr(settings, "HTTPS", False) and not settings.TRUSTED_PROXIES:
        return [
            Warning(
                "HEARTH_HTTPS is on but HEARTH_TRUSTED_PROXIES is empty: X-Forwarded-Proto is believed only "
                "from a trusted proxy, so requests will not be seen as HTTPS (CSRF and HSTS need that).",
                hint="Set HEARTH_TRUSTED_PROXIES to your TLS proxy's address, e.g. 127.0.0.1/32.",
                id="hearth.W001",
            )
        ]
    return []
