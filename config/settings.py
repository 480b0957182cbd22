"""Hearth settings, all read from the environment (see .env.example for every variable)."""

from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

from config.addresses import parse_networks as _parse_trusted_proxies

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
if (BASE_DIR / ".env").exists():
    environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

VAR_DIR = Path(env("HEARTH_VAR_DIR", default=str(BASE_DIR / "var")))
DATA_DIR = Path(env("HEARTH_DATA_DIR", default=str(VAR_DIR / "data")))

DEBUG = env.bool("DEBUG", default=False)


def _secret_key() -> str:
    """SECRET_KEY from the environment, else the key `make run` generated once into var/."""
    if key := env("SECRET_KEY", default=""):
        return key
    key_file = VAR_DIR / "secret_key"
    if key_file.exists():
        return key_file.read_text().strip()
    if DEBUG:
        from django.core.management.utils import get_random_secret_key

        VAR_DIR.mkdir(parents=True, exist_ok=True)
        key_file.write_text(get_random_secret_key())
        key_file.chmod(0o600)
        return key_file.read_text().strip()
    raise ImproperlyConfigured(
        f"SECRET_KEY is not set and {key_file} does not exist. Set SECRET_KEY in the environment "
        "(or run `make run`, which generates one for the zero-setup install)."
    )


SECRET_KEY = _secret_key()
# Secrets stored encrypted (node keys, TOTP seeds) use this; it defaults to SECRET_KEY.
ENCRYPTION_KEY = env("HEARTH_ENCRYPTION_KEY", default=SECRET_KEY)
OLD_ENCRYPTION_KEYS = env.list("HEARTH_OLD_ENCRYPTION_KEYS", default=[])

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
PUBLIC_URL = env("HEARTH_PUBLIC_URL", default="http://localhost:8000").rstrip("/")

INSTALLED_APPS = [
    "config.apps.HearthAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "django_celery_beat",
    "accounts",
    "nodes",
    "templates_app",
    "servers",
    "backups",
    "schedules",
    "alerts",
    "marketplace",
    "webui",
]

MIDDLEWARE = [
    "config.addresses.TrustedProxyMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "config.security_headers.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "config.api.middleware.ApiErrorMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "accounts.browser.BrowserSessionMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"
WSGI_APPLICATION = None

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# Database: SQLite under var/ for the zero-setup run, PostgreSQL everywhere else.
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'hearth.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets readers and one writer work together; IMMEDIATE takes the write lock at
    # BEGIN, so web and worker wait for each other instead of failing with "database is locked".
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=20000;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
else:
    # A pool per process, not persistent connections: Django's ASGI handler runs each request's sync code
    # in a fresh thread (asgiref's ThreadSensitiveContext, whatever the server), so
    # CONN_MAX_AGE opened a new session per request (~7 ms) and left the old ones until garbage
    # collection; 32 concurrent clients held 50-97 of PostgreSQL's 100 and a third of requests failed.
    # Threads now borrow one of at most DATABASE_POOL_MAX_SIZE connections and wait up to
    # DATABASE_POOL_TIMEOUT seconds for one to come back. Pooling requires CONN_MAX_AGE=0.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": env.int("DATABASE_POOL_MIN_SIZE", default=1),
        "max_size": env.int("DATABASE_POOL_MAX_SIZE", default=10),
        "timeout": env.float("DATABASE_POOL_TIMEOUT", default=10.0),
        "max_idle": 300,
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"

# Redis: the embedded server `make run` starts listens on 6380 so it never fights a system Redis.
REDIS_URL = env("REDIS_URL", default=f"redis://127.0.0.1:{env.int('EMBEDDED_REDIS_PORT', default=6380)}/0")

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": env("HEARTH_CACHE_PREFIX", default="hearth"),
        "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
    }
}

# Redis Pub/Sub: a group message is published once, each web process hands it to its sockets. The list
# layer (channels_redis.core) lost 1-9 % of console lines at 50 busy servers; this one none (bench/console).
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
        "CONFIG": {
            "hosts": [REDIS_URL],
            "prefix": env("HEARTH_CACHE_PREFIX", default="hearth"),
        },
    }
}

CELERY_BROKER_URL = env("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
# schedules/beat.py: DatabaseScheduler + tick + catch-up; the interval bounds when a changed task is seen.
CELERY_BEAT_SCHEDULER = "schedules.beat:Scheduler"
CELERY_BEAT_MAX_LOOP_INTERVAL = 1.0
CELERY_TIMEZONE = env("TIME_ZONE", default="UTC")

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 8}},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env("HEARTH_STATIC_ROOT", default=str(VAR_DIR / "static")))
STATICFILES_DIRS = [BASE_DIR / "static"]

EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="hearth@localhost")

# Behind a TLS-terminating proxy set HEARTH_HTTPS=true, and list the proxy in HEARTH_TRUSTED_PROXIES:
# X-Forwarded-Proto is only believed from a trusted proxy (config.addresses.TrustedProxyMiddleware).
HTTPS = env.bool("HEARTH_HTTPS", default=False)
if HTTPS:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    # Sent on HTTPS responses only (SecurityMiddleware); 0 turns it off.
    SECURE_HSTS_SECONDS = env.int("HEARTH_HSTS_SECONDS", default=365 * 24 * 3600)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("HEARTH_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.apikeys.ApiKeyAuthentication",
        "accounts.authentication.JWTAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_THROTTLE_CLASSES": ["config.api.throttling.DefaultRateThrottle"],
    "DEFAULT_RENDERER_CLASSES": ["config.api.renderers.EnvelopeRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        "config.api.parsers.JSONParser",
        "djangorestframework_camel_case.parser.CamelCaseMultiPartParser",
        "djangorestframework_camel_case.parser.CamelCaseFormParser",
    ],
    "DEFAULT_PAGINATION_CLASS": "config.api.pagination.PagePagination",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "config.api.exceptions.api_exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    "PAGE_SIZE": 20,
    # The contract's decimals (maxCpuCores, allocatedCpuCores…) are JSON numbers, not strings.
    "COERCE_DECIMAL_TO_STRING": False,
}

# Keys whose values are user data (environment variables, free-form metadata) keep their spelling.
JSON_CAMEL_CASE = {
    "JSON_UNDERSCOREIZE": {
        "ignore_fields": (
            "environment",
            "metadata",
            "payload",
            "variables",
            "conditions",
            "egg",
            "docker_images",
            "config_file_rules",
        )
    }
}

# Two-factor codes, password reset links, audit retention.
TWO_FACTOR_ISSUER = env("HEARTH_2FA_ISSUER", default="Hearth")
PASSWORD_RESET_TIMEOUT = env.int("HEARTH_PASSWORD_RESET_SECONDS", default=3600)
AUDIT_LOG_RETENTION_DAYS = env.int("HEARTH_AUDIT_RETENTION_DAYS", default=365)
LOGIN_ATTEMPTS_PER_ACCOUNT = env.int("HEARTH_LOGIN_ATTEMPTS_PER_ACCOUNT", default=10)

RATE_LIMITS = {
    "default": env.int("HEARTH_RATE_LIMIT_DEFAULT", default=200),
    "auth": env.int("HEARTH_RATE_LIMIT_AUTH", default=10),
    "health": env.int("HEARTH_RATE_LIMIT_HEALTH", default=1000),
    # Staff-started contacts with a node address (test, create, a new address): per staff member,
    # so the node test cannot sweep a network.
    "node-contact": env.int("HEARTH_RATE_LIMIT_NODE_CONTACT", default=20),
}
RATE_LIMIT_WINDOW_SECONDS = 60

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env.int("JWT_ACCESS_MINUTES", default=60)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env.int("JWT_REFRESH_DAYS", default=14)),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": True,
    "ALGORITHM": "HS256",
    "SIGNING_KEY": env("JWT_SIGNING_KEY", default=SECRET_KEY),
    "USER_ID_FIELD": "id",
    "USER_ID_CLAIM": "userId",
    "AUTH_HEADER_TYPES": ("Bearer",),
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Hearth API",
    "DESCRIPTION": (
        "Game-server hosting panel API. Every success is wrapped as "
        '`{"success": true, "data": ...}`; every error is `{"error", "statusCode", "message"}`. '
        "JSON keys are camelCase. Authenticate with `Authorization: Bearer <token>` "
        "(a JWT from /api/auth/login)."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api",
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "CAMELIZE_NAMES": False,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.contrib.djangorestframework_camel_case.camelize_serializer_fields",
        "drf_spectacular.hooks.postprocess_schema_enums",
        "config.api.schema.wrap_envelopes",
    ],
}

LOG_LEVEL = env("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.request": {"level": "ERROR"},
        # uvicorn logs each WebSocket handshake at INFO with its query string: `?token=` is a credential.
        "uvicorn.error": {"level": "WARNING"},
        "paramiko": {"level": "WARNING"},
    },
}

STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

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
}

# Schedules: tasks per server, runs kept per task, how late a missed slot still runs as scheduled (later,
# the catch-up policy decides), how long a step waits for its job.
SCHEDULE_TASKS_PER_SERVER = env.int("HEARTH_SCHEDULE_TASKS_PER_SERVER", default=25)
SCHEDULE_RUNS_KEPT = env.int("HEARTH_SCHEDULE_RUNS_KEPT", default=100)
SCHEDULE_CATCH_UP_GRACE_SECONDS = env.float("HEARTH_SCHEDULE_CATCH_UP_GRACE_SECONDS", default=60.0)
SCHEDULE_STEP_TIMEOUT_SECONDS = env.int("HEARTH_SCHEDULE_STEP_TIMEOUT_SECONDS", default=3600)

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
# A server printing more lines than this per 100 ms is throttled with a notice, as Wings does.
CONSOLE_LINES_PER_100MS = env.int("HEARTH_CONSOLE_LINES_PER_100MS", default=2000)
CONSOLE_MAX_LINE_CHARS = env.int("HEARTH_CONSOLE_MAX_LINE_CHARS", default=4096)
STATS_INTERVAL_SECONDS = env.float("HEARTH_STATS_INTERVAL", default=5.0)
METRICS_RETENTION_DAYS = env.int("HEARTH_METRICS_RETENTION_DAYS", default=7)

# Client addresses: forwarding headers (X-Forwarded-For, -Proto) are believed only from these proxies
# (CIDRs, comma-separated): see config/addresses.py and README "Trusted proxies and client addresses".
TRUSTED_PROXIES = env.list("HEARTH_TRUSTED_PROXIES", default=[])
_parse_trusted_proxies(TRUSTED_PROXIES)  # a typo here stops the panel instead of trusting nobody quietly

# Request limits: bodies over this answer 413 (Django's own check, also applied to the API's parsers);
# JSON nested deeper than this answers 400.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("HEARTH_MAX_BODY_BYTES", default=2_621_440)
JSON_MAX_DEPTH = 32
