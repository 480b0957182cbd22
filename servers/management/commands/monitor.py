from django.conf import settings
from django.core.management.base import BaseCommand

from config.daemon import Daemon
from servers.monitor import Monitor


class MonitorDaemon(Daemon):
    def __init__(self):
        super().__init__("monitor")
        self.interval = settings.MONITOR_TICK_SECONDS
        self.monitor = Monitor()

    def tick(self):
        self.monitor.sync()

    def stop(self, signum=None, frame=None):
        self.monitor.stop()
        super().stop(signum, frame)


class Command(BaseCommand):
    help = "Watch online nodes (a share of them, beside other monitors): Docker events drive server states; output goes to consoles."

    def handle(self, *args, **options):
        MonitorDaemon().run()
