"""The monitor: Docker events drive server states, output goes to consoles (servers/monitor/*).

supervisor.py keeps one watcher per online node (`manage.py monitor`); watcher.py follows one node
(events, stdin, stats); reconcile.py turns what the node reports into server states; follower.py reads
one run's output; output.py throttles it and keeps the read cursor."""

from servers.monitor.supervisor import Monitor  # noqa: F401
from servers.monitor.watcher import NodeWatcher  # noqa: F401
