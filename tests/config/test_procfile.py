"""`make run`'s process runner (config/procfile.py): Python lines forked from one preloaded parent,
other lines run as programs, output prefixed, everything stopped together."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from config.procfile import parse, python_entry
from tests.fixtures.browser import ROOT
from tests.polling import wait_for

PYTHON = str(Path(sys.executable).parent / "python")
SLEEPER = f"{PYTHON} manage.py shell -c \"print('py up', flush=True); import time; time.sleep(60)\""


def test_it_parses_lines_expanding_variables_and_skipping_comments(monkeypatch):
    monkeypatch.setenv("HEARTH_PORT", "8123")
    processes = parse("# web: nothing\n\nweb: uvicorn app --port $HEARTH_PORT\nredis: redis-server 'a b'\n")
    assert [(p.name, p.argv) for p in processes] == [
        ("web", ["uvicorn", "app", "--port", "8123"]),
        ("redis", ["redis-server", "a b"]),
    ]


def test_manage_py_and_the_virtualenvs_console_scripts_run_in_a_fork_and_other_programs_do_not():
    assert python_entry([PYTHON, "manage.py", "monitor"]) is not None
    assert python_entry([str(Path(sys.executable).parent / "celery"), "-A", "config", "worker"]) is not None
    assert python_entry(["/bin/sleep", "5"]) is None
    assert python_entry(["redis-server"]) is None


def children(pid: int) -> list[int]:
    found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    return [int(x) for x in found]


def shared_share(pid: int) -> float:
    fields = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        name, value = line.split(":")
        fields[name] = int(value.split()[0])
    return (fields["Shared_Clean"] + fields["Shared_Dirty"]) / fields["Rss"]


@pytest.fixture
def runner(tmp_path):
    procs = []

    def start(procfile: str, *flags: str) -> subprocess.Popen:
        path = tmp_path / "Procfile"
        path.write_text(procfile)
        log = open(tmp_path / "out.log", "wb")  # noqa: SIM115 - closed by the process ending
        proc = subprocess.Popen(
            [PYTHON, "-m", "config.procfile", *flags, str(path)],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def output(tmp_path) -> str:
    return (tmp_path / "out.log").read_text()


def test_a_python_line_shares_the_parents_pages_and_sigterm_stops_every_process(runner, tmp_path):
    proc = runner(f"py: {SLEEPER}\nsh: /bin/sh -c 'echo sh up; exec sleep 60'\n")
    wait_for(lambda: "py up" in output(tmp_path) and "sh up" in output(tmp_path), 60, output(tmp_path))
    kids = children(proc.pid)
    assert len(kids) == 2
    forked = next(k for k in kids if "hearth py:" in Path(f"/proc/{k}/cmdline").read_text())
    assert shared_share(forked) > 0.5, "the fork shares most of what it holds with the parent"
    assert " py     | py up\n" in output(tmp_path) and " sh     | sh up\n" in output(
        tmp_path
    )  # "system" sets the width

    proc.send_signal(signal.SIGTERM)
    assert proc.wait(20) == 0
    for kid in kids:
        assert not Path(f"/proc/{kid}").exists() or "Z" in Path(f"/proc/{kid}/stat").read_text().split()[2]


def test_when_one_process_ends_the_others_are_stopped_and_the_runner_fails(runner, tmp_path):
    proc = runner(f"py: {SLEEPER}\nquits: /bin/sh -c 'sleep 2; echo bye; exit 3'\n")
    assert proc.wait(40) == 3
    log = output(tmp_path)
    assert "quits stopped (exit code 3)" in log and "py stopped (exit code" in log, log


def test_a_process_that_ignores_sigterm_is_killed(runner, tmp_path, monkeypatch):
    proc = runner(
        f"py: {SLEEPER}\nstubborn: /bin/sh -c 'trap \"\" TERM; echo ready; while :; do sleep 1; done'\n"
    )
    wait_for(lambda: "py up" in output(tmp_path) and "ready" in output(tmp_path), 60, output(tmp_path))
    began = time.monotonic()
    os.kill(proc.pid, signal.SIGTERM)
    assert proc.wait(30) == 0
    assert time.monotonic() - began < 20
    assert "stubborn stopped (exit code -9)" in output(tmp_path)


def test_with_separate_every_line_is_a_program_of_its_own(runner, tmp_path):
    proc = runner(f"py: {SLEEPER}\n", "--separate")
    wait_for(lambda: "py up" in output(tmp_path), 60, output(tmp_path))
    [kid] = children(proc.pid)
    assert Path(f"/proc/{kid}/cmdline").read_text().split("\0")[:2] == [PYTHON, "manage.py"]
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(20) == 0
