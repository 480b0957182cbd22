"""`manage.py panel_backup` and `panel_restore` on the real PostgreSQL: the backup is taken (in this process,
a real pg_dump) of the test database; restores run as real `manage.py` processes into a scratch database
made for the test (restoring into the test database itself would drop tables under this process)."""

import io
import os
import stat
import subprocess
import sys
import tarfile
import uuid
from pathlib import Path
from types import SimpleNamespace

import psycopg
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from accounts.models import AuditLog, User
from config import panel_archive, panel_database
from config.crypto import decrypt, encrypt
from nodes.models import Location, Node

ROOT = Path(__file__).resolve().parents[2]
NODE_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nnot-a-real-key\n-----END OPENSSH PRIVATE KEY-----\n"


def connect(dbname: str, **extra) -> psycopg.Connection:
    params = connection.settings_dict
    return psycopg.connect(
        dbname=dbname, user=params["USER"], password=params["PASSWORD"], host=params["HOST"],
        port=params["PORT"] or None, **extra,
    )  # fmt: skip


@pytest.fixture
def scratch():
    """An empty database beside the test database, dropped afterwards; its name."""
    name = f"{connection.settings_dict['NAME']}_restore_{uuid.uuid4().hex[:8]}"
    with connect("postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    yield name
    with connect("postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def query(dbname: str, sql: str, *params) -> list[tuple]:
    with connect(dbname) as db:
        rows = db.execute(sql, params)
        result = rows.fetchall() if rows.description else []
        db.commit()
        return result


def manage(*args: str, dbname: str, var_dir: Path) -> subprocess.CompletedProcess:
    params = connection.settings_dict
    url = (
        f"postgres://{params['USER']}:{params['PASSWORD']}@{params['HOST']}:{params['PORT'] or 5432}/{dbname}"
    )
    env = {**os.environ, "DATABASE_URL": url, "HEARTH_VAR_DIR": str(var_dir)}
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


@pytest.fixture
def panel():
    """The panel's data worth restoring: a user, and a node whose SSH key is stored encrypted."""
    user = User.objects.create_user(email="owner@example.com", username="owner", password="pw-123456789")
    node = Node.objects.create(
        name="node-backed-up", location=Location.objects.create(name="dc"), hostname="10.0.0.5",
        public_address="10.0.0.5", docker_url="ssh://hearth@10.0.0.5:22", ssh_private_key=encrypt(NODE_KEY),
        max_memory_mb=1024, max_cpu_cores=1,
    )  # fmt: skip
    return user, node


def directory(path: Path) -> Path:
    path.mkdir()
    return path


def backup(into: Path) -> Path:
    call_command("panel_backup", "--output", str(into), stdout=io.StringIO())
    (archive,) = into.glob("hearth-panel-*.tar.gz")
    return archive


@pytest.mark.django_db
def test_the_archive_is_private_complete_and_audited(panel, tmp_path, capsys):
    call_command("panel_backup", "--output", str(tmp_path))
    out = capsys.readouterr().out
    (archive,) = tmp_path.glob("hearth-panel-*.tar.gz")
    assert sorted(p.name for p in tmp_path.iterdir()) == [archive.name]  # no staging, no partial file left
    assert stat.S_IMODE(archive.stat().st_mode) == 0o600
    assert str(archive) in out and "holds the panel's secrets" in out
    loaded = panel_archive.read_archive(archive, directory(tmp_path / "read"))
    assert loaded.vendor == "postgresql" and "0001_initial" in loaded.manifest["migrations"]["nodes"]
    assert loaded.manifest["database"]["server_version"].startswith("15")
    assert "SECRET_KEY='test-secret-key-not-for-production'" in loaded.text("settings.env")
    with tarfile.open(archive) as tar:
        assert all(m.isreg() and m.mode == 0o600 for m in tar.getmembers())
    audit = AuditLog.objects.get(action="panel.backup")
    assert audit.user is None and audit.metadata["path"] == str(archive)
    # an archive is never replaced
    with pytest.raises(CommandError, match="already exists"):
        call_command("panel_backup", "--output", str(archive))


@pytest.mark.django_db
def test_a_failed_pg_dump_leaves_no_archive(panel, tmp_path, monkeypatch):
    monkeypatch.setitem(connection.settings_dict, "PASSWORD", "wrong-password")
    with pytest.raises(CommandError) as failure:
        call_command("panel_backup", "--output", str(tmp_path))
    assert "No backup was written: pg_dump failed" in str(failure.value)
    assert "password authentication failed" in str(failure.value)
    assert list(tmp_path.iterdir()) == []
    assert not AuditLog.objects.filter(action="panel.backup").exists()


@pytest.mark.django_db
def test_a_restore_into_a_database_with_data_is_refused_without_force(panel, tmp_path):
    archive = backup(tmp_path)
    User.objects.create_user(email="later@example.com", username="later", password="pw-123456789")
    with pytest.raises(CommandError, match=r"Nothing was restored \(data"):
        call_command("panel_restore", str(archive), "--yes")
    assert User.objects.filter(email="later@example.com").exists()  # untouched
    assert Node.objects.get().ssh_private_key == panel[1].ssh_private_key


@pytest.mark.django_db
def test_a_restore_under_another_encryption_key_is_refused(panel, tmp_path, settings, capsys):
    archive = backup(tmp_path)
    settings.ENCRYPTION_KEY = "another-installation-key"
    with pytest.raises(CommandError, match="keys"):
        call_command("panel_restore", str(archive), "--yes")
    errors = capsys.readouterr().err
    assert "encrypted with another key" in errors and "SECRET_KEY to the archive's SECRET_KEY" in errors
    assert "test-secret-key-not-for-production" not in errors  # fingerprints, never the keys
    assert User.objects.filter(email="owner@example.com").exists()


@pytest.mark.django_db(transaction=True)  # pg_dump sees committed rows only
def test_a_round_trip_brings_the_rows_and_the_node_key_back(panel, tmp_path, scratch):
    user, node = panel
    archive = backup(directory(tmp_path / "out"))
    var_dir = tmp_path / "var"
    restored = manage("panel_restore", str(archive), "--yes", dbname=scratch, var_dir=var_dir)
    assert restored.returncode == 0, restored.stderr
    assert "Database restored" in restored.stdout
    (ciphertext,) = query(scratch, "SELECT ssh_private_key FROM nodes_node WHERE id = %s", node.pk)[0]
    assert decrypt(ciphertext) == NODE_KEY
    assert query(scratch, "SELECT email FROM accounts_user") == [(user.email,)]
    assert query(scratch, "SELECT count(*) FROM accounts_auditlog WHERE action = 'panel.restore'") == [(1,)]

    # the rows change; a restore whose dump breaks midway changes nothing
    query(scratch, "DELETE FROM nodes_node")
    query(scratch, "UPDATE accounts_user SET email = 'changed@example.com'")
    broken = truncated_dump(archive, tmp_path / "broken")
    target = SimpleNamespace(vendor="postgresql", settings_dict={**connection.settings_dict, "NAME": scratch})
    with pytest.raises(panel_database.DatabaseError, match=r"pg_restore failed: .*end of file.*rolled back"):
        panel_database.restore(target, "postgresql", broken)
    assert query(scratch, "SELECT email FROM accounts_user") == [("changed@example.com",)]
    assert query(scratch, "SELECT count(*) FROM nodes_node") == [(0,)]

    # the whole archive again, over the data (--force): the rows are back
    again = manage("panel_restore", str(archive), "--yes", "--force", dbname=scratch, var_dir=var_dir)
    assert again.returncode == 0, again.stderr
    assert query(scratch, "SELECT email FROM accounts_user") == [(user.email,)]
    (ciphertext,) = query(scratch, "SELECT ssh_private_key FROM nodes_node")[0]
    assert decrypt(ciphertext) == NODE_KEY
    if "var/sftp_host_key" in panel_archive.read_archive(archive, directory(tmp_path / "check")).files:
        assert stat.S_IMODE((var_dir / "sftp_host_key").stat().st_mode) == 0o600


def truncated_dump(archive: Path, workdir: Path) -> Path:
    """The archive's dump cut before its table data ends (its table of contents intact, so
    `pg_restore --list` passes): pg_restore fails midway through the restore."""
    loaded = panel_archive.read_archive(archive, directory(workdir))
    dump = loaded.files["database.pgdump"]
    dump.write_bytes(dump.read_bytes()[: dump.stat().st_size * 3 // 4])
    return dump
