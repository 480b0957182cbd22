import os
import subprocess
import sys

import pytest


def run_check(env_overrides: dict, tmp_path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "SECRET_KEY"}
    env.update({"HEARTH_VAR_DIR": str(tmp_path), **env_overrides})
    return subprocess.run(
        [sys.executable, "manage.py", "check"], env=env, capture_output=True, text=True, timeout=120
    )


def test_without_debug_a_secret_key_is_required(tmp_path):
    result = run_check({"DEBUG": "0"}, tmp_path)
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_the_key_file_from_the_zero_setup_run_is_used(tmp_path):
    (tmp_path / "secret_key").write_text("from-the-file-" + "x" * 40)
    assert run_check({"DEBUG": "0"}, tmp_path).returncode == 0


def test_debug_generates_a_key_once(tmp_path):
    assert run_check({"DEBUG": "1"}, tmp_path).returncode == 0
    key = (tmp_path / "secret_key").read_text()
    assert run_check({"DEBUG": "1"}, tmp_path).returncode == 0
    assert (tmp_path / "secret_key").read_text() == key
    assert oct((tmp_path / "secret_key").stat().st_mode & 0o777) == "0o600"


@pytest.mark.parametrize("url", ["sqlite:////tmp/hearth-settings-test.sqlite3"])
def test_sqlite_uses_wal_and_immediate_transactions(url, tmp_path):
    script = (
        "import django; django.setup();"
        "from django.db import connection;"
        "c = connection.cursor(); c.execute('PRAGMA journal_mode'); print(c.fetchone()[0]);"
        "print(connection.settings_dict['OPTIONS']['transaction_mode'])"
    )
    env = {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "config.settings"}
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.stdout.split() == ["wal", "IMMEDIATE"], result.stderr
