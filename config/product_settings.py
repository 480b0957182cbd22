"""Hearth's own settings, read from the environment (see .env.example): the processes' schedule, nodes,
servers, files, SFTP, backups, outbound HTTP, alerts and observability. config/settings.py imports them
after Django's."""

from config.addresses import parse_networks as _parse_trusted_proxies
from config.env import VAR_DIR, env

# Long-running processes (worker, beat, monitor, sftp) report here; /api/admin/health reads it.
HEARTBEAT_TTL_SECONDS = 90
CELERY_BEAT_SCHEDULE = {
    "heartbeat": {"task": "config.tasks.heartbeat", "schedule": 30.0},
    "audit-prune": {"task": "accounts.tasks.audit_prune_task", "schedule": 24 * 3600.0},
    "node-health": {"task": "nodes.tasks.nodes_check_health_task", "schedule": 30.0},
    "server-disk": {"task": "servers.tasks.servers_check_disk_task", "schedule": 300.0},
    "transfers-reap": {"task": "servers.tasks.transfers_reap_task", "schedule": 120.0},
    "metrics-prune": {"task": "servers.tasks.metrics_prune_task", "schedule": 3600.0},
    "files-helpers-reap": {"task": "servers.tasks.files_helpers_reap_task", "schedule": 60.0},
    "backups-reap": {"task": "backups.tasks.backups_reap_task", "schedule": 60.0},
    "backups-prune": {"task": "backups.tasks.backups_prune_task", "schedule": 3600.0},
    "alerts-evaluate": {"task": "alerts.tasks.alerts_evaluate_task", "schedule": 30.0},
    "alerts-sweep-deliveries": {"task": "alerts.tasks.alerts_sweep_deliveries_task", "schedule": 120.0},
    "databases-drop-orphans": {"task": "databases.tasks.databases_drop_orphans_task", "schedule": 600.0},
    "expiry": {
        "task": "servers.tasks.expiry_run_task",
        "schedule": env.float("HEARTH_EXPIRY_CHECK_SECONDS", default=60.0),
    },
}
# Days before a server's expiry when its owner (and the expiry rules' webhooks) are reminded, once each.
EXPIRY_REMINDER_DAYS = env.list("HEARTH_EXPIRY_REMINDER_DAYS", cast=int, default=[7, 3, 1])

# Schedules: tasks per server, runs kept per task, how late a missed slot still runs as scheduled (later,
# the catch-up policy decides), how long a step waits for its job.
SCHEDULE_TASKS_PER_SERVER = env.int("HEARTH_SCHEDULE_TASKS_PER_SERVER", default=25)
SCHEDULE_RUNS_KEPT = env.int("HEARTH_SCHEDULE_RUNS_KEPT", default=100)
SCHEDULE_CATCH_UP_GRACE_SECONDS = env.float("HEARTH_SCHEDULE_CATCH_UP_GRACE_SECONDS", default=60.0)
SCHEDULE_STEP_TIMEOUT_SECONDS = env.int("HEARTH_SCHEDULE_STEP_TIMEOUT_SECONDS", default=3600)

# Server databases (databases/): how many a server may have unless staff or its plan set it, and how long
# the panel waits for a database host before answering 503.
DATABASE_DEFAULT_LIMIT = env.int("HEARTH_DATABASE_DEFAULT_LIMIT", default=2)
# Allocations (ports) a server may have unless staff or its plan set another number.
ALLOCATION_DEFAULT_LIMIT = env.int("HEARTH_ALLOCATION_DEFAULT_LIMIT", default=3)
DATABASE_HOST_TIMEOUT_SECONDS = env.float("HEARTH_DATABASE_HOST_TIMEOUT", default=5.0)

SFTP_BIND = env("HEARTH_SFTP_BIND", default="0.0.0.0:2022")
# The host customers put in their SFTP client, shown on the Files tab (`host` or `host:port`, when a proxy
# forwards another port to SFTP_BIND). Empty: the host the browser reached the panel at, SFTP_BIND's port.
SFTP_PUBLIC_HOST = env("HEARTH_SFTP_PUBLIC_HOST", default="")
# The SFTP gateway (servers/sftp/, nodes/client/sftp_gateway.py): its host key is made once (ed25519, 0600).
SFTP_HOST_KEY = env("HEARTH_SFTP_HOST_KEY", default=str(VAR_DIR / "sftp_host_key"))
SFTP_LOGIN_TIMEOUT_SECONDS = env.float("HEARTH_SFTP_LOGIN_TIMEOUT", default=20.0)  # to authenticate
SFTP_MAX_UNAUTHENTICATED = env.int("HEARTH_SFTP_MAX_UNAUTHENTICATED", default=64)  # at once
SFTP_MAX_UNAUTHENTICATED_PER_ADDRESS = env.int("HEARTH_SFTP_MAX_UNAUTHENTICATED_PER_ADDRESS", default=16)
SFTP_LOGIN_ATTEMPTS_PER_ADDRESS = env.int("HEARTH_SFTP_LOGIN_ATTEMPTS_PER_ADDRESS", default=30)
SFTP_LOGIN_ATTEMPTS_PER_ACCOUNT = env.int("HEARTH_SFTP_LOGIN_ATTEMPTS_PER_ACCOUNT", default=10)
SFTP_LOGIN_WINDOW_SECONDS = env.int("HEARTH_SFTP_LOGIN_WINDOW", default=15 * 60)
SFTP_RECHECK_SECONDS = env.float("HEARTH_SFTP_RECHECK_SECONDS", default=2.0)  # revocation within ~2 s
SFTP_DISK_RECHECK_SECONDS = env.float("HEARTH_SFTP_DISK_RECHECK_SECONDS", default=10.0)  # when at the limit

# Server files (servers/files/, the SFTP gateway): see README "Files and SFTP".
# OpenSSH's sftp-server on the panel's machine, from which the files image is built (nodes/client/files_image.py).
FILES_SFTP_SERVER = env("HEARTH_FILES_SFTP_SERVER", default="/usr/lib/openssh/sftp-server")
FILES_UPLOAD_MAX_BYTES = env.int("HEARTH_FILES_UPLOAD_MAX_BYTES", default=100 * 1024 * 1024)
FILES_EDITOR_MAX_BYTES = env.int("HEARTH_FILES_EDITOR_MAX_BYTES", default=4 * 1024 * 1024)
# A helper container unused for this long is removed (seconds).
FILES_HELPER_IDLE_SECONDS = env.int("HEARTH_FILES_HELPER_IDLE", default=600)
# Archive extraction: at most this much written, this many entries, and this ratio of written to read.
FILES_EXTRACT_MAX_BYTES = env.int("HEARTH_FILES_EXTRACT_MAX_BYTES", default=10 * 1024**3)
FILES_EXTRACT_MAX_ENTRIES = env.int("HEARTH_FILES_EXTRACT_MAX_ENTRIES", default=100_000)
FILES_EXTRACT_MAX_RATIO = env.int("HEARTH_FILES_EXTRACT_MAX_RATIO", default=200)
# Backups (README "Backups"): where new ones go (local: the server's node; s3: the bucket below), how many
# a server keeps when staff set none, and the age past which beat prunes unlocked ones.
BACKUP_STORAGE = env("HEARTH_BACKUP_STORAGE", default="local")
BACKUP_DEFAULT_LIMIT = env.int("HEARTH_BACKUP_DEFAULT_LIMIT", default=3)
BACKUP_MAX_AGE_DAYS = env.int("HEARTH_BACKUP_MAX_AGE_DAYS", default=0)  # 0: no age limit
BACKUP_COMPRESSION = env("HEARTH_BACKUP_COMPRESSION", default="zstd")  # or gzip
BACKUP_SAVE_TIMEOUT_SECONDS = env.float("HEARTH_BACKUP_SAVE_TIMEOUT", default=60.0)  # for the done line
BACKUP_DOWNLOAD_LINK_SECONDS = env.int("HEARTH_BACKUP_DOWNLOAD_LINK_SECONDS", default=300)
# Any S3-compatible store (AWS, MinIO, Wasabi, R2…): the endpoint is empty for AWS itself.
BACKUP_S3 = {
    "endpoint_url": env("HEARTH_BACKUP_S3_ENDPOINT", default="") or None,
    "region_name": env("HEARTH_BACKUP_S3_REGION", default="us-east-1"),
    "bucket": env("HEARTH_BACKUP_S3_BUCKET", default=""),
    "prefix": env("HEARTH_BACKUP_S3_PREFIX", default="hearth/"),
    "access_key": env("HEARTH_BACKUP_S3_ACCESS_KEY", default=""),
    "secret_key": env("HEARTH_BACKUP_S3_SECRET_KEY", default=""),
    "part_mb": env.int("HEARTH_BACKUP_S3_PART_MB", default=64),  # multipart part size
}
# Outbound HTTP (config/outbound.py): destinations allowed although private/loopback (CIDRs, comma-separated).
OUTBOUND_ALLOW = env.list("HEARTH_OUTBOUND_ALLOW", default=[])
OUTBOUND_MAX_BYTES = env.int("HEARTH_OUTBOUND_MAX_BYTES", default=1024**3)
OUTBOUND_TIMEOUT_SECONDS = env.float("HEARTH_OUTBOUND_TIMEOUT", default=300.0)
# CA certificates outbound HTTPS trusts (a path; empty: the system's), for a private deployment's own CA.
OUTBOUND_CA_BUNDLE = env("HEARTH_OUTBOUND_CA_BUNDLE", default="")

# Nodes: every call to a node's engine or SSH daemon is bounded by these.
NODE_TIMEOUT_SECONDS = env.float("HEARTH_NODE_TIMEOUT", default=15.0)
NODE_CONNECT_TIMEOUT_SECONDS = env.float("HEARTH_NODE_CONNECT_TIMEOUT", default=5.0)
NODE_HEALTH_INTERVAL_SECONDS = env.float("HEARTH_NODE_HEALTH_INTERVAL", default=30.0)
NODE_OFFLINE_AFTER_FAILURES = env.int("HEARTH_NODE_OFFLINE_AFTER", default=3)
NODE_DEPLOY_TOKEN_MINUTES = env.int("HEARTH_NODE_DEPLOY_TOKEN_MINUTES", default=60)
# The only unix:// sockets a node may use: any other socket on the panel's machine is not an engine
# staff may point a node at (comma-separated paths).
NODE_LOCAL_SOCKETS = env.list("HEARTH_NODE_LOCAL_SOCKETS", default=["/var/run/docker.sock"])
# How a server without a nodeId is placed: least-memory (default), round-robin or fewest-servers.
PLACEMENT_STRATEGY = env("HEARTH_PLACEMENT_STRATEGY", default="least-memory")

# Self-service: who may sign up, and what a customer (a user without `server.resources`) may create
# on their own. Staff creates ignore the quota and the maximums; plans will take these over later.
REGISTRATION_ENABLED = env.bool("HEARTH_REGISTRATION_ENABLED", default=True)
SELF_SERVICE_SERVER_QUOTA = env.int("HEARTH_SELF_SERVICE_SERVER_QUOTA", default=2)
SELF_SERVICE_MAX_MEMORY_MB = env.int("HEARTH_SELF_SERVICE_MAX_MEMORY_MB", default=2048)
SELF_SERVICE_MAX_CPU_CORES = env.float("HEARTH_SELF_SERVICE_MAX_CPU_CORES", default=2.0)
SELF_SERVICE_MAX_DISK_MB = env.int("HEARTH_SELF_SERVICE_MAX_DISK_MB", default=10240)
# What a server gets when its create request leaves a limit out (anyone's request).
SERVER_DEFAULT_MEMORY_MB = env.int("HEARTH_SERVER_DEFAULT_MEMORY_MB", default=1024)
SERVER_DEFAULT_CPU_CORES = env.float("HEARTH_SERVER_DEFAULT_CPU_CORES", default=1.0)
SERVER_DEFAULT_DISK_MB = env.int("HEARTH_SERVER_DEFAULT_DISK_MB", default=5120)

# Servers
CONSOLE_HISTORY_LINES = env.int("HEARTH_CONSOLE_HISTORY_LINES", default=1000)
SERVER_STOP_TIMEOUT_SECONDS = env.int("HEARTH_STOP_TIMEOUT", default=30)
SERVER_INSTALL_TIMEOUT_SECONDS = env.int("HEARTH_INSTALL_TIMEOUT", default=1800)
SERVER_START_TIMEOUT_SECONDS = env.int("HEARTH_START_TIMEOUT", default=600)
CRASH_WINDOW_SECONDS = env.int("HEARTH_CRASH_WINDOW", default=60)
# The user game containers run as on nodes (the node user's uid:gid on SSH nodes).
CONTAINER_USER = env("HEARTH_CONTAINER_USER", default="1000:1000")

# Image registries a pull may reach although they are loopback, private, link-local or CGNAT
# addresses (hosts, host:port or CIDRs, comma-separated); see templates_app/registries.py.
IMAGE_REGISTRY_ALLOW = env.list("HEARTH_IMAGE_REGISTRY_ALLOW", default=[])
# Config files larger than this (apparent size, bytes) are not read to be rewritten before a start.
CONFIG_FILE_MAX_BYTES = env.int("HEARTH_CONFIG_FILE_MAX_BYTES", default=4 * 1024 * 1024)

# Live console (WebSocket) and output handling
WS_MAX_MESSAGE_BYTES = env.int("HEARTH_WS_MAX_MESSAGE_BYTES", default=8192)
WS_INPUTS_PER_SECOND = env.int("HEARTH_WS_INPUTS_PER_SECOND", default=10)
WS_HISTORY_LINES = 150
WS_TOKEN_NOTICE_SECONDS = 60
# A socket with more console messages than this waiting for it is dropped with a notice (a flooding
# server sends up to 100 messages a second: about 10 s behind).
WS_BACKLOG_MESSAGES = env.int("HEARTH_WS_BACKLOG_MESSAGES", default=1000)
# A server printing more lines than this per 100 ms is throttled with a notice, as Wings does.
CONSOLE_LINES_PER_100MS = env.int("HEARTH_CONSOLE_LINES_PER_100MS", default=2000)
# The monitor writes every server's new lines at most this often (servers/monitor/flusher.py): a line
# after a quiet spell goes out at once; under steady output, each write carries what gathered meanwhile
# (50 servers at 10 lines/s: the monitor's CPU 28% of a core at 10 ms, 13% at 50 ms; bench-console).
CONSOLE_FLUSH_SECONDS = env.float("HEARTH_CONSOLE_FLUSH_SECONDS", default=0.05)
CONSOLE_MAX_LINE_CHARS = env.int("HEARTH_CONSOLE_MAX_LINE_CHARS", default=4096)
STATS_INTERVAL_SECONDS = env.float("HEARTH_STATS_INTERVAL", default=5.0)
# Monitors share the nodes through leases of this length (servers/monitor/leases.py), each looking for
# nodes to take every MONITOR_TICK_SECONDS: a dead monitor's nodes are watched again within their sum.
MONITOR_LEASE_SECONDS = env.float("HEARTH_MONITOR_LEASE_SECONDS", default=6.0)
MONITOR_TICK_SECONDS = env.float("HEARTH_MONITOR_TICK_SECONDS", default=2.0)
METRICS_RETENTION_DAYS = env.int("HEARTH_METRICS_RETENTION_DAYS", default=7)

# Client addresses: forwarding headers (X-Forwarded-For, -Proto) are believed only from these proxies
# (CIDRs, comma-separated): see config/addresses.py and README "Trusted proxies and client addresses".
TRUSTED_PROXIES = env.list("HEARTH_TRUSTED_PROXIES", default=[])
_parse_trusted_proxies(TRUSTED_PROXIES)  # a typo here stops the panel instead of trusting nobody quietly

# Request limits: bodies over this answer 413 (Django's own check, also applied to the API's parsers);
# JSON nested deeper than this answers 400.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("HEARTH_MAX_BODY_BYTES", default=2_621_440)
JSON_MAX_DEPTH = 32

# Alerts (alerts/, README "Alerts"): rules are evaluated every 30 s (beat) on the metric history, one
# point per METRICS_POINT_SECONDS per server and one per node health check. Webhooks go through
# config/outbound.py, each attempt bounded; a failed one is retried ALERT_DELIVERY_ATTEMPTS times in all,
# ALERT_DELIVERY_BACKOFF_SECONDS apart and doubling, or as long as a receiver's Retry-After says (Discord's,
# Slack's 429), up to ALERT_DELIVERY_RETRY_AFTER_MAX_SECONDS. At most ALERT_DELIVERY_MAX_ANSWER_BYTES of
# an answer is read (for the delivery log). The generic JSON format is signed (alerts/signing.py).
METRICS_POINT_SECONDS = env.int("HEARTH_METRICS_POINT_SECONDS", default=60)
ALERT_DEDUPE_SECONDS = env.int("HEARTH_ALERT_DEDUPE_SECONDS", default=300)
ALERT_DELIVERY_ATTEMPTS = env.int("HEARTH_ALERT_DELIVERY_ATTEMPTS", default=5)
ALERT_DELIVERY_TIMEOUT_SECONDS = env.float("HEARTH_ALERT_DELIVERY_TIMEOUT", default=10.0)
ALERT_DELIVERY_BACKOFF_SECONDS = env.float("HEARTH_ALERT_DELIVERY_BACKOFF", default=15.0)
ALERT_DELIVERY_RETRY_AFTER_MAX_SECONDS = env.float("HEARTH_ALERT_DELIVERY_RETRY_AFTER_MAX", default=300.0)
ALERT_DELIVERY_MAX_ANSWER_BYTES = 64 * 1024
ALERT_SIGNATURE_TOLERANCE_SECONDS = 300  # what receivers are told to accept (README)

# Observability (README "Monitoring"): GET /metrics answers a staff token holding admin.read or this
# scrape token; the processes share counters through prometheus-client's multiprocess directory, which
# is exported here, before any process creates a metric (config/metrics_dir.py). `manage.py doctor`
# bounds each check (config/doctor.py) and waits DOCTOR_PING_TIMEOUT_SECONDS for a worker's ping.
from config.metrics_dir import prepare as _prepare_metrics_dir  # noqa: E402

METRICS_SCRAPE_TOKEN = env("HEARTH_METRICS_TOKEN", default="")
PROMETHEUS_MULTIPROC_DIR = _prepare_metrics_dir()
DOCTOR_CHECK_TIMEOUT_SECONDS = env.float("HEARTH_DOCTOR_CHECK_TIMEOUT", default=5.0)
DOCTOR_PING_TIMEOUT_SECONDS = env.float("HEARTH_DOCTOR_PING_TIMEOUT", default=1.0)
# Beat records a tick every second (schedules/beat.py); this long without one, doctor calls it stuck.
DOCTOR_BEAT_STUCK_SECONDS = env.int("HEARTH_DOCTOR_BEAT_STUCK_SECONDS", default=30)
# Below this free space on a node's data dir, doctor warns; below a tenth of it, an error.
DOCTOR_DISK_FREE_WARN_MB = env.int("HEARTH_DOCTOR_DISK_FREE_WARN_MB", default=5120)

# Marketplace (marketplace/, README "Plugins and mods"): each source's API base (tests point them at a
# local stand-in); CurseForge is searched only with an API key (console.curseforge.com). Searches are
# cached MARKETPLACE_SEARCH_CACHE_SECONDS, projects and versions MARKETPLACE_PROJECT_CACHE_SECONDS; the
# whole search answers within MARKETPLACE_SEARCH_SECONDS (a slower source is reported, not waited for).
# A download is at most MARKETPLACE_MAX_FILE_BYTES, from the source's own hosts only (marketplace/sources).
MODRINTH_URL = env("HEARTH_MODRINTH_URL", default="https://api.modrinth.com")
HANGAR_URL = env("HEARTH_HANGAR_URL", default="https://hangar.papermc.io")
SPIGET_URL = env("HEARTH_SPIGET_URL", default="https://api.spiget.org")
CURSEFORGE_URL = env("HEARTH_CURSEFORGE_URL", default="https://api.curseforge.com")
CURSEFORGE_API_KEY = env("HEARTH_CURSEFORGE_API_KEY", default="")
MARKETPLACE_SEARCH_CACHE_SECONDS = env.int("HEARTH_MARKETPLACE_SEARCH_CACHE_SECONDS", default=3600)
MARKETPLACE_PROJECT_CACHE_SECONDS = env.int("HEARTH_MARKETPLACE_PROJECT_CACHE_SECONDS", default=86400)
MARKETPLACE_SEARCH_SECONDS = env.float("HEARTH_MARKETPLACE_SEARCH_SECONDS", default=10.0)
# Any other request's source calls in all (a project page, a plan with its dependencies, an update check).
MARKETPLACE_REQUEST_SECONDS = env.float("HEARTH_MARKETPLACE_REQUEST_SECONDS", default=20.0)
MARKETPLACE_MAX_FILE_BYTES = env.int("HEARTH_MARKETPLACE_MAX_FILE_BYTES", default=512 * 1024**2)
