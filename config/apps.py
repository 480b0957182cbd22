from django.contrib.admin.apps import AdminConfig


class HearthAdminConfig(AdminConfig):
    # The site stands on accounts' permissions and login, so it lives there (a string: no import).
    default_site = "accounts.admin_site.HearthAdminSite"

    def ready(self):
        super().ready()  # autodiscovers every app's admin module first
        from django.contrib import admin

        from config import checks  # noqa: F401 - registers the checks

        admin.site.hide_internals()
