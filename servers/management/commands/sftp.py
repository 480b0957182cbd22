from django.conf import settings
from django.core.management.base import BaseCommand

from config.daemon import Daemon


class Command(BaseCommand):
    help = (
        "SFTP gateway for customers' server files (listens on HEARTH_SFTP_BIND once the files issue lands)."
    )

    def handle(self, *args, **options):
        self.stdout.write(f"sftp: gateway will listen on {settings.SFTP_BIND}")
        Daemon("sftp").run()
