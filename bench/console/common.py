"""What the console benchmark's modules share: its constants (ports, labels, the ticker template)."""

from bench.console.readers import TICK
from bench.harness import OUT

LEFTOVERS = OUT / "console-leftovers.json"
BENCH_LABEL = "hearth.bench"  # raw containers only (the monitor and the tests ignore them)
SUITE_LABEL = "hearth.bench.suite"
SUITE = "console"
PORT_BASE = (
    30000  # the panel's servers: 30000 + i; below the ephemeral range (32768+), not the tests' (31000+)
)
RAW_PORT_BASE = 30100  # raw containers: 30100-30109
TICK_FILE = ".bench-tick"
TEMPLATE_NAME = "Bench Console (Test Game + ticker)"
# /bin/sh -c of the container: the ticker in the background, then the Test Game in the foreground
# (stdin, the ready line, `flood`, `stop`). No fork per tick: $EPOCHREALTIME and `read -t` are ash
# built-ins; the FIFO is opened read-write so the read never blocks on open and never hits EOF.
TICKER_START = (
    "( mkfifo /tmp/.bench-tick-fifo && exec 3<>/tmp/.bench-tick-fifo && while :; do "
    f"if [ -e {TICK_FILE} ]; then printf '{TICK}%s\\n' \"$EPOCHREALTIME\"; fi; read -t 0.1 x <&3; "
    "done ) & exec /usr/local/bin/testgame"
)
SPARES = 2  # extra flood servers per throttle setting, for floods measured again
