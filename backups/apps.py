from django.apps import AppConfig


class BackupsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "backups"

    def ready(self):
        from backups import transfer  # noqa: F401 - connects the receiver that moves local backups
