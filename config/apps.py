from django.contrib.admin.apps import AdminConfig


class HearthAdminConfig(AdminConfig):
    default_site = "config.admin.HearthAdminSite"

    def ready(self):
        super().ready()
        from config import checks  # noqa: F401 - registers the checks
