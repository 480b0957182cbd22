"""Hearth settings, all read from the environment (see .env.example for every variable)."""

from datetime import timedelta
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from config.env import BASE_DIR, DATA_DIR, VAR_DIR, env  # noqa: F401 - settings read them

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
    "databases",
    "schedules",
    "alerts",
    "plans",
    "marketplace",
    "webui",
]

MIDDLEWARE = [
    "config.addresses.TrustedProxyMiddleware",
    "config.request_context.RequestContextMiddleware",  # request id, API durations (README "Monitoring")
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

WEB_THREADS = env.int("HEARTH_WEB_THREADS", default=32)  # per web process: config/asgi_http.py

CACHES = {
    "default": {
        "BACKEND": "config.cache.RedisCache",
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
# Celery's Django fixup closes a prefork child's whole PostgreSQL pool before and after every task: each
# task opened a new session, 8-14 ms before its first query. With this it only closes what a child
# inherited when it starts; config/celery.py gives each task's connections back to the child's pool.
CELERY_DB_REUSE_MAX = 100_000
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
            "by_type",  # alert stats: keyed by alert type and severity, as the contract spells them
            "by_severity",
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
    # Alert test sends (a rule's, a server notification's) per person: a test mails or posts to any
    # address its sender chose, so it must not be a spam cannon; notification creates and changes
    # (each resolves its URL's name) per person too.
    "alert-test": env.int("HEARTH_RATE_LIMIT_ALERT_TEST", default=5),
    "alert-notification-change": env.int("HEARTH_RATE_LIMIT_ALERT_NOTIFICATION_CHANGE", default=30),
    # Marketplace calls that reach the sources, per person: the sources' budgets are the whole panel's,
    # so no one person may spend them (searches, project pages, plans and installs; update checks).
    "marketplace": env.int("HEARTH_RATE_LIMIT_MARKETPLACE", default=60),
    "marketplace-updates": env.int("HEARTH_RATE_LIMIT_MARKETPLACE_UPDATES", default=5),
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
# LOG_FORMAT=json: one JSON object per line (python-json-logger) with timestamp, level, logger, message and,
# where known, request_id, user_id, server_id, task_id and task_name (config/request_context.py).
LOG_FORMAT = env("LOG_FORMAT", default="plain")
if LOG_FORMAT not in ("plain", "json"):
    raise ImproperlyConfigured(f"LOG_FORMAT must be plain or json, not {LOG_FORMAT!r}")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "context": {"()": "config.request_context.ContextFilter"},
        "without_query": {"()": "config.request_context.WithoutQueryString"},
    },
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s %(user_id)s "
            "%(server_id)s %(task_id)s %(task_name)s",
            "rename_fields": {"asctime": "timestamp", "levelname": "level", "name": "logger"},
            "datefmt": "%Y-%m-%dT%H:%M:%S%z",
        },
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["context"]}
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.request": {"level": "ERROR"},
        # uvicorn logs each WebSocket handshake at INFO with its query string: `?token=` is a credential.
        "uvicorn.error": {"level": "WARNING"},
        # uvicorn's own loggers through this handler too (one format, JSON included); access lines
        # without their query strings.
        "uvicorn": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "uvicorn.access": {
            "handlers": ["console"],
            "level": "INFO",
            "propagate": False,
            "filters": ["without_query"],
        },
        "paramiko": {"level": "WARNING"},
    },
}
# A JSON worker keeps these handlers (Celery would put its own plain one on the root logger).
CELERY_WORKER_HIJACK_ROOT_LOGGER = LOG_FORMAT != "json"

STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# The panel's own settings (nodes, servers, files, backups, alerts…): config/product_settings.py.
from config.product_settings import *  # noqa: E402,F403
