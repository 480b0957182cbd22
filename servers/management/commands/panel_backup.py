"""`manage.py panel_backup`: one archive of the panel itself, its database, the settings its data depends on
(SECRET_KEY and the encryption keys: without them the nodes' SSH keys are unreadable) and the var files that
matter (config/panel_archive.py says what it holds; README "Backing up the panel")."""

import importlib.metadata
import shutil
import socket
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from accounts.audit import audit
from config import panel_archive, panel_database, panel_settings


def hearth_version() -> str:
    try:
        return importlib.metadata.version("hearth")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def var_files() -> dict[str, Path]:
    """The var files worth keeping, by archive name, where this installation has them."""
    candidates = {
        "var/secret_key": Path(settings.VAR_DIR) / "secret_key",
        "var/sftp_host_key": Path(settings.SFTP_HOST_KEY),
    }
    return {name: path for name, path in candidates.items() if path.is_file()}


class Command(BaseCommand):
    # In servers, the app on top, beside bootstrap: it audits (accounts) and reads every app's tables.
    help = (
        "Back up the panel: its database, the settings its data depends on and its var files, in one archive."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--output",
            help="The archive's path, or a directory to write hearth-panel-<time>.tar.gz in "
            "(default: the var dir's panel-backups/). An existing file is never replaced.",
        )

    def handle(self, *args, output=None, **options):
        now = datetime.now(UTC)
        destination = self._destination(output, now)
        try:
            staging = Path(tempfile.mkdtemp(dir=destination.parent, prefix=".hearth-panel-"))
        except OSError as exc:
            raise CommandError(
                f"No backup was written: cannot write in {destination.parent}: {exc}"
            ) from None
        kept = var_files()
        try:
            vendor = panel_database.vendor_of(connection)
            files = {panel_archive.DATABASE_FILES[vendor]: staging / "database"}
            database = panel_database.dump(connection, files[panel_archive.DATABASE_FILES[vendor]])
            files[panel_archive.SETTINGS_ENV] = staging / "settings.env"
            panel_settings.write_private(
                files[panel_archive.SETTINGS_ENV],
                panel_settings.settings_env(
                    secret_key=settings.SECRET_KEY,
                    header=f"Hearth panel settings, saved by panel_backup on {now:%Y-%m-%d %H:%M} UTC.\n"
                    "SECRETS: SECRET_KEY and HEARTH_ENCRYPTION_KEY decrypt the node SSH keys and two-factor\n"
                    "seeds of this backup's database. Usable as a .env file (make run, docker compose).",
                ),
            )
            for name, path in kept.items():
                files[name] = staging / name.replace("/", "__")
                shutil.copyfile(path, files[name])
            manifest = {
                "hearth_version": hearth_version(),
                "created_at": now.isoformat(),
                "hostname": socket.gethostname(),
                "database": database,
                "migrations": panel_database.applied_migrations(connection),
            }
            size = panel_archive.write_archive(destination, manifest, files)
        except (panel_archive.ArchiveError, panel_database.DatabaseError, OSError) as exc:
            raise CommandError(f"No backup was written: {exc}") from None
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        audit(
            "panel.backup",
            resource_type="panel",
            path=str(destination),
            size=size,
            sha256=panel_archive.sha256_of(destination),
            database=vendor,
        )
        self.stdout.write(self.style.SUCCESS(f"Backup written: {destination} ({_size(size)})"))
        holds = ", ".join(["the database", "settings.env", *sorted(kept)])
        self.stdout.write(f"    holds: {holds}")
        self.stdout.write(
            self.style.WARNING(
                "This archive holds the panel's secrets (SECRET_KEY, the encryption keys, the SFTP host key) "
                "and all its data, node credentials included: keep it as safe as the panel itself, off this "
                "machine. It is readable by its owner only (mode 0600)."
            )
        )

    def _destination(self, output: str | None, now: datetime) -> Path:
        name = f"hearth-panel-{now:%Y%m%d-%H%M%S}.tar.gz"
        if output is None:
            directory = Path(settings.VAR_DIR) / "panel-backups"
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            return directory / name
        path = Path(output).expanduser().absolute()
        if path.is_dir() or output.endswith("/"):
            if not path.is_dir():
                raise CommandError(f"No backup was written: the directory {path} does not exist")
            return path / name
        if path.exists():
            raise CommandError(f"No backup was written: {path} already exists (an archive is never replaced)")
        if not path.parent.is_dir():
            raise CommandError(f"No backup was written: the directory {path.parent} does not exist")
        return path


def _size(size: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.1f} {unit}" if unit != "bytes" else f"{size} bytes"
        size /= 1024
    return str(size)
