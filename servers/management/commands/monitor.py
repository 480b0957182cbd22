from django.core.management.base import BaseCommand

from config.daemon import Daemon
from servers.monitor import Monitor


class MonitorDaemon(Daemon):
    interval = 5.0

    def __init__(self):
        super().__init__("monitor")
        self.monitor = Monitor()

    def tick(self):
        self.monitor.sync()

    def stop(self, signum=None, frame=None):
        self.monitor.stop()
        super().stop(signum, frame)


class Command(BaseCommand):
    help = "Watch every online node: Docker events drive server states; output goes to consoles."

    def handle(self, *args, **options):
        MonitorDaemon().run()
