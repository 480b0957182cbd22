"""`manage.py panel_restore` treats its archive as hostile: every refusal happens before anything is touched
(the database keeps its rows, nothing is written outside a private directory). Also: settings.env, the key
comparison, the SQLite copy and the dump executor's refusal of psql commands."""

import gzip
import io
import json
import sqlite3
import tarfile
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from accounts.models import User
from config import panel_archive, panel_database, panel_settings

MIGRATIONS = {"accounts": ["0001_initial"]}


def build(tmp_path: Path, *, vendor="postgresql", settings_env="SECRET_KEY='test-secret-key-not-for-production'\n",
          migrations=MIGRATIONS, database=b"not a real dump") -> Path:  # fmt: skip
    """A well-formed archive (write_archive's own), its database a placeholder: every refusal below comes
    before the dump is read."""
    staged = tmp_path / "staged"
    staged.mkdir(parents=True, exist_ok=True)
    files = {
        panel_archive.DATABASE_FILES[vendor]: staged / "database",
        "settings.env": staged / "settings.env",
    }
    files[panel_archive.DATABASE_FILES[vendor]].write_bytes(database)
    files["settings.env"].write_text(settings_env)
    destination = tmp_path / "good.tar.gz"
    manifest = {"database": {"vendor": vendor}, "migrations": migrations, "created_at": "now"}
    panel_archive.write_archive(destination, manifest, files)
    return destination


def members_of(archive: Path) -> list[tuple[tarfile.TarInfo, bytes]]:
    with tarfile.open(archive, "r:gz") as tar:
        return [(m, tar.extractfile(m).read()) for m in tar.getmembers()]


def repack(path: Path, members: list[tuple[tarfile.TarInfo, bytes]]) -> Path:
    with tarfile.open(path, "w:gz", format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return path


def special(name: str, kind: bytes, linkname: str = "") -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, linkname
    return info, b""


def regular(name: str, data: bytes) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


def with_member(extra):
    return lambda members: [*members, extra]


def without(name):
    return lambda members: [(m, d) for m, d in members if m.name != name]


def replaced(name, data):
    return lambda members: [(m, d) if m.name != name else regular(name, data) for m, d in members]


HOSTILE = {
    "traversal": (with_member(regular("../escaped", b"x")), "leaves its directory"),
    "traversal-inside": (with_member(regular("var/../../escaped", b"x")), "leaves its directory"),
    "absolute": (with_member(regular("/tmp/escaped", b"x")), "absolute name"),
    "symlink": (with_member(special("var/secret_key", tarfile.SYMTYPE, "/etc/passwd")), "a symbolic link"),
    "hardlink": (with_member(special("var/secret_key", tarfile.LNKTYPE, "settings.env")), "a hard link"),
    "device": (with_member(special("var/sftp_host_key", tarfile.CHRTYPE)), "a device"),
    "directory": (with_member(special("var/secret_key", tarfile.DIRTYPE)), "a directory"),
    "unknown-member": (with_member(regular("notes.txt", b"x")), "not a member of a panel backup"),
    "duplicate": (with_member(regular("settings.env", b"SECRET_KEY='x'\n")), "appears twice"),
    "oversized": (replaced("settings.env", b"#" * (1024 * 1024 + 1)), "over its limit"),
    "checksum": (replaced("settings.env", b"SECRET_KEY='altered'\n"), "does not match its checksum"),
    "missing-manifest": (without("manifest.json"), "has no manifest.json"),
    "missing-member": (without("settings.env"), "lacks settings.env"),
    "unlisted-member": (with_member(regular("var/secret_key", b"k")), "which its manifest does not list"),
    "bad-manifest": (replaced("manifest.json", b"{not json"), "not valid JSON"),
    "newer-format": (
        replaced(
            "manifest.json", json.dumps({"format": "hearth-panel-backup", "format_version": 2}).encode()
        ),
        "format 2",
    ),
}


@pytest.fixture
def rows(make_user):
    make_user()
    return lambda: (User.objects.count(), User.objects.order_by("pk").values_list("email", flat=True)[0])


def refused(archive: Path, *args: str) -> str:
    with pytest.raises(CommandError) as refusal:
        call_command("panel_restore", str(archive), "--yes", *args)
    return str(refusal.value)


@pytest.mark.parametrize("case", HOSTILE, ids=list(HOSTILE))
def test_it_refuses_a_hostile_archive_before_touching_anything(case, tmp_path, rows):
    edit, expected = HOSTILE[case]
    before = rows()
    hostile = repack(tmp_path / "hostile.tar.gz", edit(members_of(build(tmp_path))))
    message = refused(hostile, "--force")
    assert message.startswith("Nothing was restored") and expected in message, message
    assert rows() == before
    assert not (tmp_path / "escaped").exists() and not Path("/tmp/escaped").exists()


def test_it_refuses_a_truncated_archive(tmp_path, rows):
    before = rows()
    good = build(tmp_path, database=bytes(range(256)) * 4000)  # incompressible enough to be cut mid-member
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    assert "damaged or truncated" in refused(cut, "--force")
    assert rows() == before


def test_it_refuses_what_is_not_an_archive(tmp_path, rows):
    text = tmp_path / "notes.tar.gz"
    text.write_text("hello")
    assert "is not a panel backup" in refused(text)
    assert "does not exist" in refused(tmp_path / "missing.tar.gz")
    # a gzip stream that is not a tar
    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(gzip.compress(b"\x01" * 2048))
    assert "Nothing was restored" in refused(junk)


def test_it_refuses_another_database_vendor(tmp_path, rows):
    archive = build(tmp_path, vendor="sqlite")
    message = refused(archive, "--force")
    assert "holds a sqlite database and this panel runs on postgresql" in message


def test_it_refuses_a_newer_hearths_schema(tmp_path, rows):
    archive = build(tmp_path, migrations={"accounts": ["0001_initial", "9999_from_the_future"]})
    message = refused(archive, "--force")
    assert "made by a newer Hearth" in message and "accounts.9999_from_the_future" in message


def test_it_refuses_a_dump_pg_restore_cannot_read(tmp_path, rows):
    before = rows()
    message = refused(build(tmp_path), "--force")
    assert "pg_restore cannot read the archive's dump" in message and "pg_restore (PostgreSQL)" in message
    assert rows() == before


def test_it_refuses_settings_env_it_did_not_write(tmp_path, rows):
    assert "settings.env line 1 is not NAME=value" in refused(build(tmp_path, settings_env="$(reboot)\n"))
    assert "has no SECRET_KEY" in refused(build(tmp_path / "b", settings_env="DEBUG='1'\n"))


def test_settings_env_round_trips_and_is_a_dotenv(tmp_path, monkeypatch):
    import environ

    environ_values = {"SECRET_KEY": "ignored", "HEARTH_PUBLIC_URL": "https://x", "HEARTH_TEST_THING": "no",
                      "ALLOWED_HOSTS": "a,b", "HEARTH_ENCRYPTION_KEY": "it's \"quoted\" $HOME\\n"}  # fmt: skip
    text = panel_settings.settings_env(secret_key="s3cr#t $x", environ=environ_values, header="two\nlines")
    assert text.startswith("# two\n# lines\n") and "HEARTH_TEST_THING" not in text
    values = panel_settings.parse_settings_env(text)
    assert values == {"SECRET_KEY": "s3cr#t $x", "HEARTH_PUBLIC_URL": "https://x", "ALLOWED_HOSTS": "a,b",
                      "HEARTH_ENCRYPTION_KEY": "it's \"quoted\" $HOME\\n"}  # fmt: skip
    dotenv = tmp_path / ".env"
    dotenv.write_text(text)
    monkeypatch.setattr(environ.Env, "ENVIRON", {})
    environ.Env.read_env(dotenv)  # django-environ, as config/env.py reads .env
    assert values == environ.Env.ENVIRON
    assert {"SECRET_KEY", "HEARTH_ENCRYPTION_KEY", "JWT_SIGNING_KEY", "DATABASE_URL"} <= (
        panel_settings.variables_read_by_settings()
    )


def running(**fields) -> panel_settings.Running:
    defaults = {"secret_key": "new", "encryption_key": "new", "old_encryption_keys": [], "jwt_signing_key": "new",
                "secret_key_from_environment": True, "encryption_key_from_environment": False}  # fmt: skip
    return panel_settings.Running(**{**defaults, **fields})


def test_keys_a_different_encryption_key_is_an_error_naming_what_to_set():
    report = panel_settings.compare_keys({"SECRET_KEY": "old"}, None, running())
    assert len(report.errors) == 1 and "Set SECRET_KEY to the archive's SECRET_KEY" in report.errors[0]
    assert "--write-env" in report.errors[0] and "old" not in report.errors[0].split()
    assert any("sessions" in warning for warning in report.warnings)
    explicit = panel_settings.compare_keys(
        {"SECRET_KEY": "new", "HEARTH_ENCRYPTION_KEY": "enc"}, None, running()
    )
    assert "Set HEARTH_ENCRYPTION_KEY to the archive's HEARTH_ENCRYPTION_KEY" in explicit.errors[0]
    assert not explicit.warnings


def test_keys_an_old_key_kept_here_or_a_var_dir_secret_key_restored_is_fine():
    rotated = running(old_encryption_keys=["old"])
    assert not panel_settings.compare_keys(
        {"SECRET_KEY": "new", "HEARTH_ENCRYPTION_KEY": "old"}, None, rotated
    ).errors
    missing = panel_settings.compare_keys(
        {"SECRET_KEY": "new", "HEARTH_OLD_ENCRYPTION_KEYS": "older,new"}, None, running()
    )
    assert "HEARTH_OLD_ENCRYPTION_KEYS" in missing.errors[0]
    # `make run`: SECRET_KEY is var/secret_key's, which the archive brings back
    from_file = panel_settings.compare_keys(
        {"SECRET_KEY": "old"}, "old\n", running(secret_key_from_environment=False)
    )
    assert from_file.secret_key_restored_from_file and not from_file.errors and not from_file.warnings


def test_sqlite_copy_and_restore_are_whole(tmp_path):
    live = tmp_path / "hearth.sqlite3"
    with sqlite3.connect(live) as db:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("CREATE TABLE django_migrations (app text)")
        db.execute("CREATE TABLE t (v text)")
        db.executemany("INSERT INTO t VALUES (?)", [("a",), ("b",)])
    panel = SimpleNamespace(vendor="sqlite", settings_dict={"NAME": str(live)})
    copy = tmp_path / "copy.sqlite3"
    panel_database.dump(panel, copy)
    assert not Path(f"{copy}-wal").exists()
    panel_database.check_dump("sqlite", copy)
    with sqlite3.connect(live) as db:
        db.execute("DELETE FROM t WHERE v = 'a'")
    panel_database.restore(panel, "sqlite", copy)
    with sqlite3.connect(live) as db:
        assert [v for (v,) in db.execute("SELECT v FROM t ORDER BY v")] == ["a", "b"]
    other = tmp_path / "other.sqlite3"
    sqlite3.connect(other).execute("CREATE TABLE x (y)").connection.close()
    with pytest.raises(panel_database.DatabaseError, match="not the panel's"):
        panel_database.check_dump("sqlite", other)


def test_the_dump_executor_refuses_psql_commands(db):
    lines = iter([b"CREATE TABLE executor_probe (a int);\n", b"\\! touch /tmp/owned\n"])
    with connection.cursor() as cursor, pytest.raises(panel_database.DatabaseError, match="psql command"):
        panel_database._run_script(cursor.cursor, lines)
    assert not Path("/tmp/owned").exists()


def test_a_missing_client_names_the_package(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(panel_database.DatabaseError, match="apt-get install postgresql-client"):
        panel_database.tool_version("pg_dump")
