"""The lifecycle benchmark's panel series: one start and one stop through the API, timed to the
status row, cut into stages by the engine's events and the panel's console history."""

import math
import time

from bench import adapter
from bench.harness import Aborted
from bench.lifecycle.common import READY, RoundFailed, Target, now
from bench.lifecycle.observe import engine_ready_time


class PanelCycles:
    """The Bench's panel series (a mixin of bench.lifecycle.run.Bench)."""

    def panel_cycle(self, t: Target, round_no: int, warmup: bool) -> None:
        S = adapter.server_model().Status
        sid, name, timeout = str(t.server.pk), t.server.container_name, self.args.timeout
        record = {"node": t.key, "series": "panel", "round": round_no, "warmup": warmup}
        try:
            # start
            t0_wall, t0 = now(), time.perf_counter()
            response = self.http.post(f"{self.base_url}/api/servers/{sid}/start", timeout=timeout)
            http = time.perf_counter() - t0
            if response.status_code != 200:
                raise RoundFailed(f"start answered {response.status_code}: {response.text[:200]}")
            seen, seen_wall, running_at = self.poller.wait(
                sid, {S.RUNNING}, {S.CRASHED, S.STOPPED, S.INSTALL_FAILED}, timeout
            )
            record["start"] = {"t0": t0_wall, "total": seen - t0, "http": http}
            record["start"]["stages"] = self._start_stages(t, name, t0_wall, seen_wall, running_at)
            # stop
            t0_wall, t0 = now(), time.perf_counter()
            response = self.http.post(f"{self.base_url}/api/servers/{sid}/stop", timeout=timeout)
            http = time.perf_counter() - t0
            if response.status_code != 200:
                raise RoundFailed(f"stop answered {response.status_code}: {response.text[:200]}")
            seen, seen_wall, stopped_at = self.poller.wait(sid, {S.STOPPED}, {S.CRASHED}, timeout)
            record["stop"] = {"t0": t0_wall, "total": seen - t0, "http": http}
            record["stop"]["stages"] = self._stop_stages(t, name, t0_wall, seen_wall, stopped_at)
        except (RoundFailed, OSError) as exc:
            self._failed(record, exc)
            self._recover_panel(t)
        self.records.append(record)

    def _start_stages(self, t, name, t0, seen, running_at) -> dict:
        start_event = t.events.wait_for(name, "start", t0)
        engine_calls = t.events.between(name, t0, seen)
        first_call = engine_calls[0][0] if engine_calls else None
        # This start's own ready line: it may not exist yet when the status already says running (the
        # monitor can take an earlier run's line for it), so wait for it before judging and stopping.
        deadline = time.monotonic() + self.args.timeout
        while (ready_engine := engine_ready_time(t.engine_api, name, t0)) is None:
            if time.monotonic() > deadline:
                break
            time.sleep(0.02)
        return {
            "first_engine_call": first_call,
            "engine_calls": [a for _, a in engine_calls],
            "engine_call_ms": [[a, round((at - t0) * 1000, 1)] for at, a in engine_calls],
            "start_event": start_event,
            "ready_engine": ready_engine,
            "running_at": running_at,
            "seen": seen,
            # the status moved to running before this start's own ready line reached the engine
            "early": bool(ready_engine and running_at < ready_engine),
        }

    def _stop_stages(self, t, name, t0, seen, stopped_at) -> dict:
        return {
            "attach_event": t.events.first(name, "attach", t0, seen),
            "die_event": t.events.wait_for(name, "die", t0),
            "stopped_at": stopped_at,
            "seen": seen,
        }

    def annotate_from_console(self) -> None:
        """After the rounds, when every line has landed: add the console's timestamps to each panel
        cycle (its lines until the next request of that server)."""
        for t in self.targets:
            history = adapter.console_history(t.server.pk, limit=10_000)
            cycles = sorted(
                (r[phase]["t0"], phase, r)
                for r in self.records
                if r["node"] == t.key and r["series"] == "panel"
                for phase in ("start", "stop")
                if phase in r
            )
            for i, (t0, phase, record) in enumerate(cycles):
                end = cycles[i + 1][0] if i + 1 < len(cycles) else math.inf
                lines = [e for e in history if t0 - 0.002 <= e["ts"] < end]

                def first(prefix, lines=lines):
                    return min((e["ts"] for e in lines if e["data"].startswith(prefix)), default=None)

                stages = record[phase]["stages"]
                if phase == "start":
                    stages["requested"] = first("Start requested")
                    stages["worker_done"] = first("Container started")
                    stages["ready_console"] = min(
                        (e["ts"] for e in lines if e["stream"] == "stdout" and READY in e["data"]),
                        default=None,
                    )
                else:
                    stages["requested"] = first("Stop requested")
                    # the monitor writes this line only when it moved the status; the worker writes its own anyway
                    stages["recorded_by"] = "monitor" if first("Server stopped (exit") else "worker"
                    stages["worker_done"] = first("Server stopped.")
                    # the game never acted on the stop command: the worker waited its timeout, then killed it
                    stages["timed_out"] = first("The server did not stop within") is not None

    def _failed(self, record: dict, exc: Exception) -> None:
        record["error"] = f"{exc.__class__.__name__}: {exc}"
        self.failures.append(record)
        print(
            f"  ! {record['node']} {record['series']} round {record['round']}: {record['error']}", flush=True
        )
        if len(self.failures) > self.args.max_failures:
            raise Aborted(f"{len(self.failures)} failed rounds (more than --max-failures); stopping.")

    def _recover_panel(self, t: Target) -> None:
        """Bring the server back to stopped (or crashed) so the next round can start it."""
        S = adapter.server_model().Status
        sid = str(t.server.pk)
        status, _ = self.poller.read(sid)
        if status in (S.STARTING, S.RUNNING):
            self.http.post(f"{self.base_url}/api/servers/{sid}/kill", timeout=self.args.timeout)
        try:
            self.poller.wait(sid, {S.STOPPED, S.CRASHED}, set(), self.args.timeout)
        except RoundFailed as exc:
            raise Aborted(f"Server {t.server.name} could not be brought back to stopped: {exc}") from exc
