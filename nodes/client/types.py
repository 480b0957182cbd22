"""What the node client answers with: small dataclasses of our own, never docker-py's objects or dicts."""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ContainerState:
    """A container as the engine describes it. Times are the engine's RFC 3339 text with nanoseconds
    ("0001-01-01T00:00:00Z" when it never started or finished): nodes.dockertime reads them exactly."""

    id: str
    name: str
    status: str  # created, running, paused, restarting, exited, dead
    running: bool
    exit_code: int | None
    oom_killed: bool
    started_at: str
    finished_at: str
    labels: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_inspect(cls, attrs: dict) -> "ContainerState":
        state = attrs.get("State") or {}
        return cls(
            id=attrs["Id"],
            name=(attrs.get("Name") or "").lstrip("/"),
            status=state.get("Status", ""),
            running=bool(state.get("Running")),
            exit_code=state.get("ExitCode"),
            oom_killed=bool(state.get("OOMKilled")),
            started_at=state.get("StartedAt") or "",
            finished_at=state.get("FinishedAt") or "",
            labels=dict((attrs.get("Config") or {}).get("Labels") or {}),
        )


@dataclass(frozen=True)
class ContainerEvent:
    """One container event of the engine's stream (start, die, oom…)."""

    action: str
    container_id: str
    time_ns: int  # the engine's time of the event, in unix nanoseconds
    attributes: dict[str, str] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        return int(self.attributes.get("exitCode", 0))

    @classmethod
    def from_engine(cls, event: dict, *, now: float) -> "ContainerEvent":
        when = event.get("timeNano") or int(event.get("time", now) * 1_000_000_000)
        return cls(
            action=event.get("Action") or event.get("status") or "",
            container_id=event.get("id") or (event.get("Actor") or {}).get("ID", ""),
            time_ns=int(when),
            attributes=dict((event.get("Actor") or {}).get("Attributes") or {}),
        )


@dataclass(frozen=True)
class ContainerStats:
    """One sample of a container's resource use (`docker stats --no-stream`)."""

    cpu_total: int  # the container's CPU time so far, ns
    system_cpu: int  # the host's CPU time so far, ns
    online_cpus: int
    memory_used: int  # bytes, without the page cache (inactive files), as `docker stats` shows
    network_received: int  # bytes, all interfaces
    network_sent: int

    @classmethod
    def from_engine(cls, stats: dict) -> "ContainerStats":
        cpu = stats.get("cpu_stats") or {}
        memory = stats.get("memory_stats") or {}
        details = memory.get("stats") or {}
        networks = stats.get("networks") or {}
        return cls(
            cpu_total=(cpu.get("cpu_usage") or {}).get("total_usage", 0),
            system_cpu=cpu.get("system_cpu_usage", 0),
            online_cpus=cpu.get("online_cpus") or 1,
            memory_used=max(
                memory.get("usage", 0) - details.get("inactive_file", details.get("cache", 0)), 0
            ),
            network_received=sum(n.get("rx_bytes", 0) for n in networks.values()),
            network_sent=sum(n.get("tx_bytes", 0) for n in networks.values()),
        )
