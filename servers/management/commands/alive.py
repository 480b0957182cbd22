import sys

from django.core.management.base import BaseCommand

from config import heartbeat


class Command(BaseCommand):
    help = (
        "Exit 0 when SERVICE (beat, monitor or sftp) reported liveness to Redis in the last "
        "HEARTBEAT_TTL_SECONDS (90), else 1: the container health check of docker-compose.yml."
    )

    def add_arguments(self, parser):
        parser.add_argument("service", choices=[name for name in heartbeat.SERVICES if name != "worker"])
        parser.add_argument(
            "--here", action="store_true", help="only its process on this host counts (one replica's check)"
        )

    def handle(self, *args, service, here, **options):
        state = heartbeat.status()[service]
        if here:
            state = "running" if heartbeat.alive_here(service) else "down"
        self.stdout.write(f"{service}: {state}")
        if state != "running":
            sys.exit(1)
