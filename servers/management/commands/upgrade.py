from contextlib import contextmanager

from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import connection, transaction

from accounts.services import roles_ensure_defaults

# pg_advisory_lock's key: "hearth upgrade" as a number, the same in every release.
UPGRADE_LOCK = 0x6865617274687570


class Command(BaseCommand):
    # In servers, beside bootstrap: it brings every app up to this release.
    help = (
        "Bring the database up to this release: migrate (one upgrade at a time: others wait for the "
        "lock), add missing default roles and catalogue templates. "
        "docker-compose.yml runs it once per `up`; safe to run again."
    )

    def handle(self, *args, **options):
        with _upgrade_lock():
            call_command("migrate", interactive=False, verbosity=options["verbosity"])
            with transaction.atomic():
                roles_ensure_defaults()
            from templates_app.services import templates_install_catalogue

            made = templates_install_catalogue()
        self.stdout.write(f"Templates added: {', '.join(made) if made else 'none'}")
        self.stdout.write(self.style.SUCCESS("Upgrade done."))


@contextmanager
def _upgrade_lock():
    """A session-level advisory lock on PostgreSQL (two `up`s, or an `up` beside a hand-run migrate,
    would otherwise apply the same migrations at once); SQLite serializes writers by itself."""
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s)", [UPGRADE_LOCK])
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [UPGRADE_LOCK])
