"""The database half of the panel backup: a dump of the configured database and its restore, for PostgreSQL
(pg_dump / pg_restore, the postgresql-client package) and SQLite (sqlite3's backup API).

A PostgreSQL restore runs in one transaction on its own connection: first every table, view and sequence of
the target's schema is dropped (CASCADE: a newer install's tables, which the dump does not know and whose
foreign keys would stop `pg_restore --clean`), then pg_restore's SQL (`--file=-`: it never connects) is sent
statement by statement and its COPY data through COPY FROM STDIN. Nothing of it runs through psql, so a
dump cannot smuggle in a psql meta-command; a failure anywhere rolls everything back and the old data stays.
The password reaches pg_dump through PGPASSWORD, never its command line."""

import os
import re
import shutil
import sqlite3
import subprocess
import tempfile
from pathlib import Path

from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.recorder import MigrationRecorder

VENDORS = ("postgresql", "sqlite")
LOCK_TIMEOUT = "15s"  # the restore's wait for a panel process's lock on a table, then it gives up
CLIENT_PACKAGE = (
    "install the PostgreSQL client tools: `apt-get install postgresql-client` on Debian and Ubuntu "
    "(the Hearth image has them), of a version at least the server's"
)
_LIBPQ_OPTIONS = (
    "sslmode",
    "sslrootcert",
    "sslcert",
    "sslkey",
    "sslpassword",
    "options",
    "service",
    "passfile",
)
_COPY = re.compile(rb"\ACOPY .+ FROM stdin;\n\Z")
# pg_restore >= 15.14 frames its SQL in \restrict KEY ... \unrestrict KEY (for psql): the only backslash lines kept out.
_RESTRICT = re.compile(rb"\A\\(un)?restrict [A-Za-z0-9]+\n?\Z")
# Views, then tables (CASCADE takes their identity sequences and the foreign keys of tables the dump does
# not know), then the sequences still left, looked up only then.
_DROP_EVERYTHING = """
DO $$
DECLARE item record;
BEGIN
  FOR item IN
    SELECT c.relname, CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW'
                      WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END AS kind
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = current_schema() AND c.relkind IN ('v', 'm', 'r', 'p', 'f')
    ORDER BY c.relkind = 'v' DESC, c.relkind = 'm' DESC
  LOOP
    EXECUTE format('DROP %s IF EXISTS %I.%I CASCADE', item.kind, current_schema(), item.relname);
  END LOOP;
  FOR item IN
    SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = current_schema() AND c.relkind = 'S'
  LOOP
    EXECUTE format('DROP SEQUENCE IF EXISTS %I.%I CASCADE', current_schema(), item.relname);
  END LOOP;
END $$;
"""


class DatabaseError(Exception):
    """The dump or the restore failed, or cannot run here (the message says why and what to do)."""


def vendor_of(connection) -> str:
    if connection.vendor not in VENDORS:
        raise DatabaseError(
            f"the panel's database is {connection.vendor}: backups support PostgreSQL and SQLite"
        )
    return connection.vendor


def applied_migrations(connection) -> dict[str, list[str]]:
    applied: dict[str, list[str]] = {}
    for app, name in sorted(MigrationRecorder(connection).applied_migrations()):
        applied.setdefault(app, []).append(name)
    return applied


def unknown_migrations(recorded: dict[str, list[str]]) -> list[str]:
    """The archive's migrations this code does not have: the backup was made by a newer Hearth."""
    known = set(MigrationLoader(None, ignore_no_migrations=True).disk_migrations)
    return [
        f"{app}.{name}"
        for app, names in sorted(recorded.items())
        for name in names
        if (app, name) not in known
    ]


def pending_migrations(connection) -> int:
    executor = MigrationExecutor(connection)
    return len(executor.migration_plan(executor.loader.graph.leaf_nodes()))


def _tool(name: str) -> str:
    path = shutil.which(name)
    if not path:
        raise DatabaseError(f"{name} is not installed on this machine: {CLIENT_PACKAGE}")
    return path


def tool_version(name: str) -> str:
    result = subprocess.run([_tool(name), "--version"], capture_output=True, text=True, timeout=30)
    return result.stdout.strip()


def _pg_environment(settings_dict: dict) -> dict[str, str]:
    """The client's environment: the connection from the settings, nothing from the caller's PG* variables."""
    environment = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
    given = {
        "PGDATABASE": settings_dict.get("NAME"),
        "PGUSER": settings_dict.get("USER"),
        "PGPASSWORD": settings_dict.get("PASSWORD"),
        "PGHOST": settings_dict.get("HOST"),
        "PGPORT": str(settings_dict.get("PORT") or ""),
        "PGCONNECT_TIMEOUT": "10",
    }
    for option in _LIBPQ_OPTIONS:
        given[f"PG{option.upper()}"] = (settings_dict.get("OPTIONS") or {}).get(option)
    environment.update({key: str(value) for key, value in given.items() if value})
    return environment


def _connect(settings_dict: dict):
    import psycopg

    options = settings_dict.get("OPTIONS") or {}
    params = {
        "dbname": settings_dict.get("NAME"),
        "user": settings_dict.get("USER") or None,
        "password": settings_dict.get("PASSWORD") or None,
        "host": settings_dict.get("HOST") or None,
        "port": settings_dict.get("PORT") or None,
        "connect_timeout": 10,
        **{option: options[option] for option in _LIBPQ_OPTIONS if options.get(option)},
    }
    try:
        return psycopg.connect(**{key: value for key, value in params.items() if value is not None})
    except psycopg.Error as exc:
        raise DatabaseError(f"cannot connect to the database: {exc}") from None


def dump(connection, target: Path) -> dict:
    """Write a consistent copy of the panel's database to `target`; returns what the manifest records."""
    if vendor_of(connection) == "sqlite":
        source = Path(connection.settings_dict["NAME"]).resolve()
        if not source.exists():
            raise DatabaseError(f"the SQLite database {source} does not exist")
        _sqlite_copy(sqlite3.connect(f"{source.as_uri()}?mode=ro", uri=True), target)
        return {"vendor": "sqlite", "sqlite_version": sqlite3.sqlite_version}
    pg_dump = _tool("pg_dump")
    command = [pg_dump, "--format=custom", "--no-owner", "--no-privileges", "--compress=0",
               "--lock-wait-timeout=60s", f"--file={target}"]  # fmt: skip
    result = subprocess.run(
        command, env=_pg_environment(connection.settings_dict), capture_output=True, text=True
    )
    if result.returncode:
        raise DatabaseError(_pg_dump_failure(result.stderr.strip(), tool_version("pg_dump")))
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        server = cursor.fetchone()[0]
    return {"vendor": "postgresql", "server_version": server, "dump_tool": tool_version("pg_dump")}


def _pg_dump_failure(stderr: str, version: str) -> str:
    if "server version mismatch" in stderr:
        server = re.search(r"server version: ([\d.]+)", stderr)
        major = server.group(1).split(".")[0] if server else "the server's"
        return (
            f"pg_dump refuses to dump a newer server: {stderr}\n"
            f"This machine has {version}; the database runs PostgreSQL {server.group(1) if server else '?'}. "
            f"Install postgresql-client-{major} (Debian: from apt.postgresql.org) where panel_backup runs, "
            "or run the panel's database on the PostgreSQL of the Hearth image (15, Debian bookworm's)."
        )
    return f"pg_dump failed: {stderr or 'no message'}"


def _sqlite_copy(source: sqlite3.Connection, target: Path) -> None:
    copy = sqlite3.connect(target)
    try:
        with source:
            source.backup(copy)
        copy.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
    except sqlite3.Error as exc:
        raise DatabaseError(f"cannot copy the SQLite database: {exc}") from None
    finally:
        copy.close()
        source.close()


def check_dump(vendor: str, path: Path) -> None:
    """Before anything is touched: can this machine read the archive's database?"""
    if vendor == "sqlite":
        try:
            with sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True) as check:
                verdict = check.execute("PRAGMA quick_check").fetchone()[0]
                tables = {
                    row[0] for row in check.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
                }
        except sqlite3.Error as exc:
            raise DatabaseError(f"the archive's SQLite database cannot be read: {exc}") from None
        if verdict != "ok" or "django_migrations" not in tables:
            raise DatabaseError(f"the archive's SQLite database is damaged or not the panel's ({verdict})")
        return
    result = subprocess.run([_tool("pg_restore"), "--list", str(path)], capture_output=True, text=True)
    if result.returncode:
        raise DatabaseError(
            f"pg_restore cannot read the archive's dump: {result.stderr.strip()}\n"
            f"This machine has {tool_version('pg_restore')}; a dump made by a newer pg_dump needs a "
            f"pg_restore at least as new ({CLIENT_PACKAGE})."
        )


def other_sessions(connection) -> int:
    """Sessions on the panel's database other than this process's (a running web, worker, beat…)."""
    if connection.vendor != "postgresql":
        return 0
    with _connect(connection.settings_dict) as check, check.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
        )
        return cursor.fetchone()[0]


def restore(connection, vendor: str, path: Path) -> None:
    """Replace the panel's database with the archive's, all or nothing. The caller closed Django's
    connections (and pool) first, so no session of this process holds a lock on a table."""
    if vendor == "sqlite":
        target = Path(connection.settings_dict["NAME"])
        target.parent.mkdir(parents=True, exist_ok=True)
        source = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        live = sqlite3.connect(target, timeout=20)
        try:
            source.backup(live)  # one transaction on the live file: readers see the old or the new database
        except sqlite3.Error as exc:
            raise DatabaseError(f"cannot restore the SQLite database: {exc}") from None
        finally:
            live.close()
            source.close()
        return
    _pg_restore(connection.settings_dict, path)


def _pg_restore(settings_dict: dict, path: Path) -> None:
    import psycopg

    command = [_tool("pg_restore"), "--no-owner", "--no-privileges", "--file=-", str(path)]
    with tempfile.TemporaryFile() as errors, _connect(settings_dict) as target:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=errors, env=_pg_environment({}))

        def pg_restore_failure(wait: float | None = None) -> DatabaseError | None:
            """pg_restore's own error if it stopped early (the cause, whatever the SQL did after it); None
            while it still runs after `wait` seconds (blocked writing: the failure was on our side)."""
            try:
                code = process.wait(timeout=wait)
            except subprocess.TimeoutExpired:
                return None
            if code:
                errors.seek(0)
                return DatabaseError(f"pg_restore failed: {errors.read().decode(errors='replace').strip()}")
            return None

        try:
            with target.cursor() as cursor:
                cursor.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
                cursor.execute(_DROP_EVERYTHING)
                _run_script(cursor, process.stdout)
            if failure := pg_restore_failure():
                raise failure
            target.commit()
        except (psycopg.Error, DatabaseError) as exc:
            target.rollback()
            cause = pg_restore_failure(wait=2)
            if cause is None:
                cause = exc if isinstance(exc, DatabaseError) else f"the database refused the restore: {exc}"
            raise DatabaseError(f"{cause} (rolled back: the database is as it was)") from None
        except BaseException:
            target.rollback()
            raise
        finally:
            if process.poll() is None:
                process.kill()
            process.wait()
            process.stdout.close()


def _run_script(cursor, lines) -> None:
    """Send pg_restore's SQL: statements between COPY blocks in one simple query each, COPY data through
    COPY FROM STDIN. Any psql meta-command other than pg_restore's own \\restrict framing is refused."""
    statements: list[bytes] = []
    for line in lines:
        if _RESTRICT.match(line):
            continue
        if line.startswith(b"\\"):
            raise DatabaseError(f"the dump holds a psql command ({line[:40]!r}): refused")
        if not _COPY.match(line):
            statements.append(line)
            continue
        if statements:
            cursor.execute(b"".join(statements))
            statements = []
        with cursor.copy(line.rstrip(b";\n")) as copy:
            for row in lines:
                if row == b"\\.\n":
                    break
                copy.write(row)
            else:
                raise DatabaseError("pg_restore's output ended inside a table's data")
    if b"".join(statements).strip():
        cursor.execute(b"".join(statements))
