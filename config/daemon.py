"""Shared shape of the long-running management commands: loop until SIGTERM/SIGINT, heartbeat as we go."""

import logging
import signal
import threading

from config import heartbeat

logger = logging.getLogger(__name__)


class Daemon:
    """Runs `tick()` every `interval` seconds until asked to stop; reports liveness as `service`."""

    interval = 10.0

    def __init__(self, service: str):
        self.service = service
        self.stopping = threading.Event()

    def tick(self) -> None:
        """One round of work; subclasses override."""

    def stop(self, signum=None, frame=None) -> None:
        logger.info("%s: stopping (signal %s)", self.service, signum)
        self.stopping.set()

    def run(self) -> None:
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)
        logger.info("%s: started", self.service)
        while not self.stopping.is_set():
            try:
                heartbeat.beat(self.service)
            except Exception:
                logger.warning("%s: cannot reach Redis to report liveness", self.service)
            try:
                self.tick()
            except Exception:
                logger.exception("%s: round failed; continuing", self.service)
            self.stopping.wait(self.interval)
        logger.info("%s: stopped", self.service)
