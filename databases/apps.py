from django.apps import AppConfig


class DatabasesConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "databases"

    def ready(self) -> None:
        from databases import receivers
        from servers.lifecycle import delete

        delete.files_removed.connect(receivers.drop_server_databases, dispatch_uid="databases-drop-all")
