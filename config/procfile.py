"""Run a Procfile's processes from one parent that imported Django first (`make run`, scripts/run.sh).

Each Python process of the Procfile (a console script of the virtualenv such as uvicorn or celery, or
`python manage.py …`) is forked from a parent that has already set Django up and imported the modules
they all load. Those pages stay shared between the processes instead of each process holding its own
copy, which is most of a Django process's memory. Any other line (the embedded Redis) is started as
a program. Every line of output is prefixed with the time and the process's name, as honcho does.
When one process ends, or on SIGINT/SIGTERM, the others get SIGTERM, and SIGKILL 10 s later.

Usage: python -m config.procfile [--separate] PROCFILE
  --separate: every line is a program of its own, nothing shared (what bench/footprint compares with).
"""

import contextlib
import gc
import importlib
import importlib.metadata
import os
import runpy
import selectors
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from setproctitle import setproctitle

STOP_SECONDS = 10.0


@dataclass
class Process:
    name: str
    argv: list[str]
    pid: int = 0
    popen: subprocess.Popen | None = None
    pending: bytes = field(default=b"", repr=False)


def parse(text: str) -> list[Process]:
    """`name: command` lines, environment variables expanded as a shell would."""
    processes = []
    for line in text.splitlines():
        name, sep, command = line.partition(":")
        if line.strip() and not line.lstrip().startswith("#") and sep:
            processes.append(Process(name.strip(), shlex.split(os.path.expandvars(command))))
    return processes


def python_entry(argv: list[str]):
    """What runs the command inside a forked Python process, or None for a program of its own."""
    program = Path(argv[0])
    if program.name.startswith("python") and argv[1:2] == ["manage.py"]:
        return lambda: runpy.run_path("manage.py", run_name="__main__")
    if program.parent.resolve() == Path(sys.executable).parent.resolve():
        scripts = importlib.metadata.entry_points(group="console_scripts", name=program.name)
        return next((script.load() for script in scripts), None)
    return None


def preload(processes: list[Process]) -> None:
    """Set Django up and import what the processes import first, before any connection is opened."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.core.management import get_commands

    commands = get_commands()
    for process in processes:
        if process.argv[1:2] == ["manage.py"] and len(process.argv) > 2:
            app = commands.get(process.argv[2])
            if app:
                importlib.import_module(f"{app}.management.commands.{process.argv[2]}")
    importlib.import_module("config.asgi")
    from config.celery import app as celery_app

    celery_app.loader.import_default_modules()  # every app's tasks, which the worker and beat import first
    from django.db import connections

    connections.close_all()
    # Objects made so far are left out of garbage collection, so collecting never writes to the
    # pages the children share.
    gc.collect()
    gc.freeze()


def start(process: Process, selector: selectors.BaseSelector, entry) -> None:
    read, write = os.pipe()
    if entry is None:
        process.popen = subprocess.Popen(process.argv, stdout=write, stderr=write, stdin=subprocess.DEVNULL)
        process.pid = process.popen.pid
    else:
        sys.stdout.flush()
        sys.stderr.flush()
        process.pid = os.fork()
        if process.pid == 0:
            os.close(read)
            run_child(process, entry, write)
    os.close(write)
    selector.register(read, selectors.EVENT_READ, process)


def run_child(process: Process, entry, output: int) -> None:
    """In the forked process: output into the parent's pipe, default signals, the command's argv."""
    code = 1
    try:
        os.dup2(output, 1)
        os.dup2(output, 2)
        os.close(output)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        sys.stdout.reconfigure(line_buffering=True)
        sys.stderr.reconfigure(line_buffering=True)
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGCHLD):
            signal.signal(signum, signal.SIG_DFL)
        setproctitle(f"hearth {process.name}: {shlex.join(process.argv)}")
        sys.argv = process.argv[1:] if process.argv[1:2] == ["manage.py"] else process.argv
        entry()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


class Runner:
    def __init__(self, processes: list[Process], *, separate: bool = False):
        self.processes = processes
        self.entries = [None if separate else python_entry(p.argv) for p in processes]
        self.width = max(len(p.name) for p in [*processes, Process("system", [])])
        self.selector = selectors.DefaultSelector()
        self.stopping = False
        self.status = 0

    def echo(self, name: str, text: str) -> None:
        sys.stdout.write(f"{time.strftime('%H:%M:%S')} {name.ljust(self.width)} | {text}\n")
        sys.stdout.flush()

    def run(self) -> int:
        setproctitle(f"hearth: run {shlex.join(sys.argv[1:])}")
        signal.signal(signal.SIGINT, self.stop)
        signal.signal(signal.SIGTERM, self.stop)
        if any(self.entries):
            preload(self.processes)
        for process, entry in zip(self.processes, self.entries, strict=True):
            start(process, self.selector, entry)
            self.echo("system", f"{process.name} started (pid {process.pid})")
        deadline = None
        while self.running():
            self.relay(timeout=0.2)
            self.reap()
            if self.stopping and deadline is None:
                deadline = time.monotonic() + STOP_SECONDS
                self.signal_all(signal.SIGTERM)
            if deadline is not None and time.monotonic() > deadline:
                self.signal_all(signal.SIGKILL)
                deadline = float("inf")
        self.relay(timeout=0)
        return self.status

    def stop(self, signum=None, frame=None) -> None:
        self.stopping = True

    def running(self) -> list[Process]:
        return [p for p in self.processes if p.pid]

    def signal_all(self, signum: int) -> None:
        for process in self.running():
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signum)

    def reap(self) -> None:
        for process in self.running():
            pid, status = os.waitpid(process.pid, os.WNOHANG)
            if pid:
                code = os.waitstatus_to_exitcode(status)
                self.echo("system", f"{process.name} stopped (exit code {code})")
                process.pid = 0
                if not self.stopping:
                    self.status = code or 1
                    self.stopping = True

    def relay(self, timeout: float) -> None:
        for key, _ in self.selector.select(timeout):
            process = key.data
            chunk = os.read(key.fd, 65536)
            if not chunk:
                self.selector.unregister(key.fd)
                os.close(key.fd)
                chunk = b"\n" if process.pending else b""
            *lines, process.pending = (process.pending + chunk).split(b"\n")
            for line in lines:
                self.echo(process.name, line.decode(errors="replace"))


def main(argv: list[str]) -> int:
    separate = argv[:1] == ["--separate"]
    if len(argv) != 1 + separate:
        sys.exit("usage: python -m config.procfile [--separate] PROCFILE")
    return Runner(parse(Path(argv[-1]).read_text()), separate=separate).run()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
