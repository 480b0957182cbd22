import threading

from django.core.management.base import BaseCommand

from config.daemon import Daemon
from servers.sftp.gateway import build_gateway


class Command(BaseCommand):
    help = "SFTP gateway for customers' server files (listens on HEARTH_SFTP_BIND, 0.0.0.0:2022)."

    def handle(self, *args, **options):
        gateway, watcher = build_gateway()
        self.stdout.write(f"sftp: gateway listening on port {gateway.port}")
        serving = threading.Thread(target=gateway.serve, name="sftp-accept", daemon=True)
        serving.start()
        try:
            Daemon("sftp").run()  # heartbeats (the health endpoint sees the gateway) until SIGTERM
        finally:
            gateway.stop()
            watcher.stop()
            serving.join(5)
