"""`manage.py doctor`: what is wrong with this installation and the command that fixes it (config/doctor.py,
and nodes/doctor.py for the nodes; here because the nodes are checked too).

Exit status 1 when a check found an error (a node down, no worker, beat stuck, the database or Redis
unreachable), 0 otherwise: warnings are printed but do not fail. `--json` prints the same as one object."""

import json
import sys

from django.core.management.base import BaseCommand

from config import doctor
from nodes.doctor import run_checks

MARKS = {doctor.OK: "ok", doctor.WARNING: "WARNING", doctor.ERROR: "ERROR"}


class Command(BaseCommand):
    help = "Check the database, Redis, beat, a worker, the SFTP gateway and every node; print fixes."
    requires_system_checks = []  # doctor must run when the panel's services are down

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="Print one JSON object instead of text.")
        parser.add_argument("--timeout", type=float, default=None, help="Seconds each check may take.")

    def handle(self, *args, **options):
        checks = run_checks(timeout=options["timeout"])
        report = doctor.summary(checks)
        if options["json"]:
            self.stdout.write(json.dumps(report, indent=2))
        else:
            width = max(len(check.name) for check in checks)
            for check in checks:
                self.stdout.write(f"{MARKS[check.status]:<8} {check.name:<{width}}  {check.message}")
                if check.fix and check.status != doctor.OK:
                    self.stdout.write(f"{'':<8} {'':<{width}}  fix: {check.fix}")
            self.stdout.write(f"\n{report['errors']} error(s), {report['warnings']} warning(s)")
        if report["errors"]:
            sys.exit(1)
