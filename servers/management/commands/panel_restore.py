"""`manage.py panel_restore ARCHIVE`: put a panel_backup archive back (README "Restoring the panel").

Everything is checked before anything is touched: the archive completely (config/panel_archive.py), the
database vendor, the schema (a newer Hearth's backup is refused), that this machine can read the dump, the
keys (data encrypted with a key this installation lacks is refused), that the database holds no users or
servers and that no panel process is connected (both unless --force). Then the database is replaced in one
transaction, the var files are renamed into place, and migrations the backup predates are applied."""

import os
import shutil
import sys
import tempfile
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, connections

from accounts.audit import audit
from accounts.models import User
from config import panel_archive, panel_database, panel_settings
from servers.models import Server


def var_targets() -> dict[str, Path]:
    """Where this installation keeps each var file of an archive."""
    return {
        "var/secret_key": Path(settings.VAR_DIR) / "secret_key",
        "var/sftp_host_key": Path(settings.SFTP_HOST_KEY),
    }


def rows_present() -> dict[str, int]:
    """Users and servers in the panel's database (none when its tables do not exist yet)."""
    tables = set(connection.introspection.table_names())
    models = {"users": User, "servers": Server}
    return {label: model.objects.count() for label, model in models.items() if model._meta.db_table in tables}


def close_django_connections() -> None:
    connections.close_all()
    if hasattr(connection, "close_pool"):
        connection.close_pool()


def running_keys() -> panel_settings.Running:
    return panel_settings.Running(
        secret_key=settings.SECRET_KEY,
        encryption_key=settings.ENCRYPTION_KEY,
        old_encryption_keys=list(settings.OLD_ENCRYPTION_KEYS),
        jwt_signing_key=settings.SIMPLE_JWT["SIGNING_KEY"],
        secret_key_from_environment=bool(os.environ.get("SECRET_KEY")),
        encryption_key_from_environment="HEARTH_ENCRYPTION_KEY" in os.environ,
    )


class Command(BaseCommand):
    help = "Restore a panel_backup archive: the database, the var files; checks everything first."

    def add_arguments(self, parser):
        parser.add_argument("archive", help="The .tar.gz panel_backup wrote.")
        parser.add_argument(
            "--force",
            action="store_true",
            help="Restore although the database holds users or servers, panel processes are connected to "
            "it, or the archive's encryption key is not configured here.",
        )
        parser.add_argument("--yes", action="store_true", help="Do not ask for confirmation.")
        parser.add_argument(
            "--write-env",
            metavar="PATH",
            help="Only write the archive's settings.env (its keys included) to PATH, a new file (mode 0600).",
        )

    def handle(self, *args, archive, force, yes, write_env, **options):
        workdir = Path(tempfile.mkdtemp(prefix="hearth-restore-"))
        try:
            self._restore(Path(archive), workdir, force=force, yes=yes, write_env=write_env)
        except (panel_archive.ArchiveError, panel_database.DatabaseError) as exc:
            raise CommandError(f"Nothing was restored: {exc}") from None
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    def _restore(self, path: Path, workdir: Path, *, force: bool, yes: bool, write_env: str | None) -> None:
        loaded = panel_archive.read_archive(path, workdir)
        manifest = loaded.manifest
        self.stdout.write(
            f"Archive verified: made {manifest.get('created_at', '?')} on {manifest.get('hostname', '?')} "
            f"by Hearth {manifest.get('hearth_version', '?')}, {loaded.vendor} database"
        )
        try:
            archived = panel_settings.parse_settings_env(loaded.text(panel_archive.SETTINGS_ENV))
        except (ValueError, UnicodeDecodeError) as exc:
            raise panel_archive.ArchiveError(str(exc)) from None
        if not archived.get("SECRET_KEY"):
            raise panel_archive.ArchiveError("the archive's settings.env has no SECRET_KEY")
        if write_env:
            try:
                panel_settings.write_private(Path(write_env), loaded.text(panel_archive.SETTINGS_ENV))
            except OSError as exc:
                raise CommandError(f"Cannot write {write_env}: {exc}") from None
            self.stdout.write(
                self.style.WARNING(f"Wrote the archive's settings.env to {write_env}: it holds secrets.")
            )
            return

        vendor = panel_database.vendor_of(connection)
        if loaded.vendor != vendor:
            raise CommandError(
                f"Nothing was restored: the archive holds a {loaded.vendor} database and this panel runs on "
                f"{vendor}. Restore it into a panel configured with the same database (DATABASE_URL)."
            )
        if newer := panel_database.unknown_migrations(manifest["migrations"]):
            raise CommandError(
                f"Nothing was restored: the backup was made by a newer Hearth "
                f"({manifest.get('hearth_version', '?')}) whose schema this one does not know "
                f"({', '.join(newer[:5])}{'…' if len(newer) > 5 else ''}). Install that version or a newer "
                "one, then restore."
            )
        panel_database.check_dump(vendor, loaded.database)

        overridden = self._refusals(loaded, archived, force=force)
        target = connection.settings_dict.get("NAME")
        self._confirm(yes, f"This replaces everything in the {vendor} database {target} with the archive's.")

        staged = self._stage_var_files(loaded)
        try:
            close_django_connections()  # none of this process's sessions may hold a table
            panel_database.restore(connection, vendor, loaded.database)
        except BaseException:
            for temporary, _ in staged:
                temporary.unlink(missing_ok=True)
            raise
        for temporary, final in staged:
            os.replace(temporary, final)
        self.stdout.write(self.style.SUCCESS(f"Database restored into {target}."))
        for _, final in staged:
            self.stdout.write(f"    restored {final}")

        if pending := panel_database.pending_migrations(connection):
            self.stdout.write(f"The backup predates {pending} migration(s) of this Hearth: applying them.")
            try:
                call_command("migrate", interactive=False, verbosity=1, stdout=self.stdout)
            except Exception as exc:
                raise CommandError(
                    f"The database and var files were restored, but applying the migrations failed: {exc}. "
                    "Fix the cause and run `python manage.py migrate` before starting the panel."
                ) from None
        audit(
            "panel.restore",
            resource_type="panel",
            archive=str(path),
            backup_created_at=manifest.get("created_at", ""),
            backup_hearth_version=manifest.get("hearth_version", ""),
            overridden=overridden,
        )
        self.stdout.write(
            "Done. Restart every panel process (web, worker, beat, monitor, sftp) so none keeps what it "
            "had cached. settings.env was not applied: compare it with this installation's environment."
        )

    def _refusals(self, loaded, archived: dict, *, force: bool) -> list[str]:
        """The reasons not to restore (the keys, data in the database, then connected processes), each
        said; with --force they are warnings. Returns those forced."""
        keys = panel_settings.compare_keys(archived, loaded.text("var/secret_key"), running_keys())
        if keys.secret_key_restored_from_file:
            self.stdout.write(
                "SECRET_KEY comes from the var dir here: the archive's var/secret_key replaces it, so every "
                "process started after the restore uses the archive's key."
            )
        for warning in keys.warnings:
            self.stdout.write(self.style.WARNING(f"WARNING: {warning}"))
        refusals = {}
        if keys.errors:
            refusals["keys"] = "\n".join(keys.errors)
        if present := {label: count for label, count in rows_present().items() if count}:
            listed = " and ".join(
                f"{count} {label[:-1] if count == 1 else label}" for label, count in present.items()
            )
            refusals["data"] = (
                f"The database {connection.settings_dict.get('NAME')} already holds {listed}: the restore "
                "replaces all of it. Restore into a fresh install, or pass --force to replace it."
            )
        self._say(refusals, force=force)
        # This process's own pooled sessions are not "other" ones: closed before counting (and the restore).
        close_django_connections()
        if sessions := panel_database.other_sessions(connection):
            refusals["sessions"] = (
                f"{sessions} other session(s) are connected to the database: is the panel still running? Stop "
                "web, worker, beat, monitor and sftp first (docker compose stop web worker beat monitor sftp), "
                "or pass --force."
            )
            self._say({"sessions": refusals["sessions"]}, force=force)
        return sorted(refusals)

    def _say(self, refusals: dict[str, str], *, force: bool) -> None:
        for message in refusals.values():
            self.stderr.write(self.style.ERROR(("WARNING (forced): " if force else "REFUSED: ") + message))
        if refusals and not force:
            raise CommandError(f"Nothing was restored ({', '.join(refusals)}: see above; --force overrides).")

    def _confirm(self, yes: bool, question: str) -> None:
        if yes:
            return
        if not sys.stdin.isatty():
            raise CommandError(f"Nothing was restored: {question} Pass --yes to run without a terminal.")
        answer = input(f"{question}\nType 'restore' to continue: ")
        if answer.strip() != "restore":
            raise CommandError("Nothing was restored: not confirmed.")

    def _stage_var_files(self, loaded) -> list[tuple[Path, Path]]:
        """Copy each var file next to where it goes (0600), to be renamed into place after the database."""
        staged = []
        try:
            for name, final in var_targets().items():
                if name not in loaded.files:
                    continue
                final.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
                fd, temporary = tempfile.mkstemp(dir=final.parent, prefix=f".{final.name}.")
                staged.append((Path(temporary), final))
                with os.fdopen(fd, "wb") as out, open(loaded.files[name], "rb") as source:
                    shutil.copyfileobj(source, out)
        except OSError as exc:
            for temporary, _ in staged:
                temporary.unlink(missing_ok=True)
            raise CommandError(f"Nothing was restored: cannot write the var files: {exc}") from None
        return staged
