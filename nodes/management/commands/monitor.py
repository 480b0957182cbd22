from django.core.management.base import BaseCommand

from config.daemon import Daemon


class Command(BaseCommand):
    help = (
        "Watch every node: Docker events, console logs and resource stats (the realtime issue fills this in)."
    )

    def handle(self, *args, **options):
        Daemon("monitor").run()
