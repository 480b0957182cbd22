from django.apps import AppConfig


class AccountsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "accounts"

    def ready(self):
        from accounts import schema  # noqa: F401 - registers the OpenAPI auth extension
        from accounts.permissions import has_permission
        from config.api import throttling

        throttling.set_bypass_check(lambda user: has_permission(user, throttling.BYPASS_PERMISSION))
