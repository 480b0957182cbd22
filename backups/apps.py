from django.apps import AppConfig


class BackupsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "backups"

    def ready(self) -> None:
        from backups import (
            receivers,
            transfer,  # noqa: F401 - connects the receiver that moves local backups
        )
        from servers import signals
        from servers.lifecycle import delete

        delete.delete_requested.connect(receivers.refuse_server_delete, dispatch_uid="backups-refuse-delete")
        signals.files_changing.connect(receivers.refuse_files_changing, dispatch_uid="backups-refuse-changes")
        delete.files_removed.connect(receivers.discard_server_backups, dispatch_uid="backups-discard-all")
