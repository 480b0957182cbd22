from django.contrib.admin.apps import AdminConfig


class HearthAdminConfig(AdminConfig):
    default_site = "config.admin.HearthAdminSite"

    def ready(self):
        super().ready()  # autodiscovers every app's admin module first
        from django.contrib import admin

        from config import checks  # noqa: F401 - registers the checks
        from config.admin import hide_internals

        hide_internals(admin.site)
