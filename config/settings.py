"""Settings for the realtime speech gateway.

Everything comes from the environment (see .env.example). With nothing set, the
embedded defaults serve: SQLite, local-memory cache, environment secrets and the
built-in local provider.
"""

import os
import secrets
from datetime import timedelta
from pathlib import Path

import environ

from speech.local.conf import master_key_load

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env")


def _dev_secret_key():
    # A random key kept on this machine, so `make run` needs no set-up and logins
    # survive restarts. Several instances behind a load balancer must share SECRET_KEY.
    path = VAR_DIR / "secret_key"
    if not path.exists():
        VAR_DIR.mkdir(exist_ok=True)
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


DEBUG = env.bool("DJANGO_DEBUG", default=False)
SECRET_KEY = env.str("SECRET_KEY", default="") or _dev_secret_key()
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_api_key",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "corsheaders",
    "csp",
    "axes",
    "settings_admin",
    "speech",
]

MIDDLEWARE = [
    "speech.ops.request_id.RequestIdMiddleware",
    "settings_admin.selectors.SettingsGenerationMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "speech.tenancy.TenantMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    # Last, as django-axes asks: it turns a locked-out login's answer into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

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

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Every request reads the settings generation, so each server thread would otherwise keep a connection
    # of its own (2 workers x 64 threads > PostgreSQL's default 100). A pool per process shares a few; a
    # request waits at most DB_POOL_TIMEOUT for one, then answers 503 database_unavailable.
    DATABASES["default"]["OPTIONS"] = {
        **DATABASES["default"].get("OPTIONS", {}),
        "pool": {
            "min_size": 1,
            "max_size": env.int("DB_POOL_SIZE", default=20),
            "timeout": env.float("DB_POOL_TIMEOUT", default=5.0),
        },
    }
    # Django then has the pool check a connection before lending it: one broken while it waited (a
    # database restart) is replaced, not lent.
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

if env.str("REDIS_URL", default=""):
    CACHES = {
        "default": {
            "BACKEND": "config.cache.DegradingRedisCache",
            "LOCATION": env.str("REDIS_URL"),
            # When Redis fails, each process serves from its own memory and tries Redis again after this long.
            "RETRY_SECONDS": env.float("REDIS_RETRY_SECONDS", default=5.0),
            # A hung Redis costs a request at most this long (connect, then each command), not the OS's minutes.
            "OPTIONS": {
                "socket_connect_timeout": env.float("REDIS_TIMEOUT", default=1.0),
                "socket_timeout": env.float("REDIS_TIMEOUT", default=1.0),
            },
        }
    }
else:
    # Rate-limit counters live here: room for many, so a flood of new counters cannot push live ones out
    # (locmem culls a third of its entries when full; its default room is 300).
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "OPTIONS": {"MAX_ENTRIES": 100_000}}
    }
# Voice previews (speech/previews.py): audio kept in each process's memory, never in Redis, in a bounded
# number of entries (each at most SPEECH_VOICE_PREVIEW_MAX_BYTES).
SPEECH_VOICE_PREVIEW_CACHE = "voice_previews"
CACHES[SPEECH_VOICE_PREVIEW_CACHE] = {
    "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
    "LOCATION": "voice-previews",
    "TIMEOUT": env.int("SPEECH_VOICE_PREVIEW_CACHE_SECONDS", default=86400),
    "OPTIONS": {"MAX_ENTRIES": env.int("SPEECH_VOICE_PREVIEW_CACHE_ENTRIES", default=64)},
}
SPEECH_VOICE_PREVIEW_CACHE_SECONDS = CACHES[SPEECH_VOICE_PREVIEW_CACHE]["TIMEOUT"]
# A sample is audio (WAV at 24 kHz: 48 kB a second, four times longer at the slowest speed): a cap of its own.
SPEECH_VOICE_PREVIEW_MAX_BYTES = env.int("SPEECH_VOICE_PREVIEW_MAX_BYTES", default=1024 * 1024)

# Call supervision (docs/deployment.md, "Call supervisors"): how attach jobs reach a supervisor. "redis" (the
# default with REDIS_URL): a Redis Stream that `manage.py call_supervisor` processes take jobs from; "in_process"
# (the embedded default): a thread of the web process itself supervises the calls it attaches.
REDIS_URL = env.str("REDIS_URL", default="")
# A down Redis costs an attach at most REDIS_TIMEOUT, once per REDIS_RETRY_SECONDS (as for the cache).
REDIS_TIMEOUT = env.float("REDIS_TIMEOUT", default=1.0)
REDIS_RETRY_SECONDS = env.float("REDIS_RETRY_SECONDS", default=5.0)
SPEECH_CALL_DISPATCH = env.str("SPEECH_CALL_DISPATCH", default="redis" if REDIS_URL else "in_process")
# The coroutine run for each attached call (a dotted path): call_supervise(call_id=..., stop=...).
SPEECH_SUPERVISOR_HANDLER = env.str("SPEECH_SUPERVISOR_HANDLER", default="speech.supervisor.session.call_supervise")
SPEECH_SUPERVISOR_MAX_CALLS = env.int("SPEECH_SUPERVISOR_MAX_CALLS", default=2000)  # per process
# A job no live supervisor has touched for this long is claimed by another; each one touches its own every beat.
SPEECH_SUPERVISOR_CLAIM_IDLE_SECONDS = env.float("SPEECH_SUPERVISOR_CLAIM_IDLE_SECONDS", default=5.0)
SPEECH_SUPERVISOR_HEARTBEAT_SECONDS = env.float("SPEECH_SUPERVISOR_HEARTBEAT_SECONDS", default=1.0)
SPEECH_SUPERVISOR_STREAM = env.str("SPEECH_SUPERVISOR_STREAM", default="speech:calls:attach")
SPEECH_SUPERVISOR_STREAM_MAXLEN = env.int("SPEECH_SUPERVISOR_STREAM_MAXLEN", default=100_000)
# `manage.py call_supervisor` serves its metrics here (0: not at all); several on one host need a port each.
SPEECH_SUPERVISOR_METRICS_ADDR = env.str("SPEECH_SUPERVISOR_METRICS_ADDR", default="127.0.0.1")
SPEECH_SUPERVISOR_METRICS_PORT = env.int("SPEECH_SUPERVISOR_METRICS_PORT", default=0)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# django-axes first: it refuses a locked-out login before any password is checked.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "chat"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Serve straight from the source folders, re-read on change (make run); production sets
# STATIC_FROM_SOURCE=false after collectstatic.
WHITENOISE_USE_FINDERS = WHITENOISE_AUTOREFRESH = env.bool("STATIC_FROM_SOURCE", default=True)
if not WHITENOISE_USE_FINDERS:
    # Collected files, compressed and with content hashes in their names, cached for ever.
    STORAGES = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
    }

# Production behind TLS: SECURE_SSL=true turns on HTTPS redirects, secure cookies and HSTS
# (python manage.py check --deploy passes). Behind a proxy that ends TLS, also set
# SECURE_PROXY_SSL_HEADER=HTTP_X_FORWARDED_PROTO.
SECURE_SSL = env.bool("SECURE_SSL", default=False)
SECURE_SSL_REDIRECT = SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = SECURE_SSL
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000 if SECURE_SSL else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HSTS_PRELOAD = SECURE_SSL
if env.str("SECURE_PROXY_SSL_HEADER", default=""):
    SECURE_PROXY_SSL_HEADER = (env.str("SECURE_PROXY_SSL_HEADER"), "https")
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
# Pages load only this site's own scripts and styles; the chat page adds its provider to connect-src.
CONTENT_SECURITY_POLICY = {
    # JSON and SDP answers are not documents: no policy header for them.
    "EXCLUDE_URL_PREFIXES": ["/api/v1/", "/realtime_session", "/healthz", "/readyz", "/metrics"],
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "media-src": ["'self'", "blob:"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    },
}
# Messages (admin) live in the session: the cookie store would load a signer on every request, API calls too.
MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "speech.authentication.APIKeyAuthentication",
        "speech.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": ["speech.parsers.LimitedJSONParser"],
    # How many proxies in front of us may set X-Forwarded-For (0: use the socket address).
    "NUM_PROXIES": env.int("NUM_PROXIES", default=0),
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "EXCEPTION_HANDLER": "speech.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "speech.schema.AutoSchema",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

# Login throttling (django-axes; the site's and the admin's login pages). Failures are counted per client
# address and per user name, in the database (every worker and host sees the same counts). At
# AXES_FAILURE_LIMIT failures within the cool-off, logins stop for AXES_COOLOFF_SECONDS after the last
# counted failure; tries during a lockout are not counted, so they cannot prolong it (docs/security.md).
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=10)
AXES_COOLOFF_TIME = timedelta(seconds=env.int("AXES_COOLOFF_SECONDS", default=15 * 60))
AXES_LOCKOUT_PARAMETERS = ["ip_address", "username"]
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
# The client address as the rate limits see it: X-Forwarded-For only from NUM_PROXIES trusted proxies.
AXES_CLIENT_IP_CALLABLE = "speech.throttling.client_ip"
# The login page again, saying why, with status 429 (not axes' bare text).
AXES_LOCKOUT_CALLABLE = "config.login.lockout_response"

# CORS: these origins everywhere, plus each tenant's own (speech/cors.py).
SPECTACULAR_SETTINGS = {
    "TITLE": "Realtime speech gateway API",
    "DESCRIPTION": "Mint realtime sessions for your own front end, and read or change a tenant's speech "
    'settings. Errors are {"error": {"code", "message"}} with the codes listed per answer. '
    "POST /realtime_session (the chat page's path) is the same operation as POST /api/v1/realtime_session.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "PREPROCESSING_HOOKS": ["speech.schema.api_paths_only"],
    "ENUM_NAME_OVERRIDES": {"ErrorCode": "speech.schema.ERROR_CODES"},
}

CORS_ALLOWED_ORIGINS = env.list("CORS_ALLOWED_ORIGINS", default=[])
CORS_URLS_REGEX = r"^/(api/|realtime_session$)"
CORS_EXPOSE_HEADERS = ["Retry-After", "X-Realtime-Call-Id", "X-Call-Id"]

# The gateway. Providers and secrets backends are dotted paths (the EMAIL_BACKEND pattern).
SPEECH_PROVIDERS = env.list(
    "SPEECH_PROVIDERS",
    default=[
        "speech.providers.openai_realtime.OpenAIRealtimeProvider",
        "speech.providers.azure_openai.AzureOpenAIProvider",
        "speech.providers.local.LocalRealtimeProvider",
    ],
)
# Provider credentials: Vault when VAULT_ADDR is set, else the environment (OPENAI_API_KEY, ...).
VAULT_ADDR = env.str("VAULT_ADDR", default="")
SPEECH_SECRETS_BACKEND = env.str(
    "SPEECH_SECRETS_BACKEND",
    default="settings_admin.secrets.vault.VaultSecretsBackend"
    if VAULT_ADDR
    else "settings_admin.secrets.env.EnvironmentSecretsBackend",
)
SPEECH_SECRETS_CACHE_SECONDS = env.int("SPEECH_SECRETS_CACHE_SECONDS", default=60)
SPEECH_SECRETS_STALE_SECONDS = env.int("SPEECH_SECRETS_STALE_SECONDS", default=300)
VAULT_AUTH_METHOD = env.str("VAULT_AUTH_METHOD", default="token")  # token | approle | kubernetes
VAULT_TOKEN = env.str("VAULT_TOKEN", default="")
VAULT_ROLE_ID = env.str("VAULT_ROLE_ID", default="")
VAULT_SECRET_ID = env.str("VAULT_SECRET_ID", default="")
VAULT_APPROLE_MOUNT = env.str("VAULT_APPROLE_MOUNT", default="approle")
VAULT_K8S_ROLE = env.str("VAULT_K8S_ROLE", default="")
VAULT_K8S_MOUNT = env.str("VAULT_K8S_MOUNT", default="kubernetes")
VAULT_K8S_TOKEN_PATH = env.str("VAULT_K8S_TOKEN_PATH", default="/var/run/secrets/kubernetes.io/serviceaccount/token")
VAULT_NAMESPACE = env.str("VAULT_NAMESPACE", default="")
VAULT_KV_MOUNT = env.str("VAULT_KV_MOUNT", default="secret")
VAULT_PATH_PREFIX = env.str("VAULT_PATH_PREFIX", default="")
VAULT_VERIFY = env.bool("VAULT_VERIFY", default=True)
VAULT_CACERT = env.str("VAULT_CACERT", default="")
VAULT_TIMEOUT = env.float("VAULT_TIMEOUT", default=5.0)
SPEECH_DEFAULT_TENANT = env.str("SPEECH_DEFAULT_TENANT", default="default")
SPEECH_SETTINGS_CACHE_SECONDS = env.int("SPEECH_SETTINGS_CACHE_SECONDS", default=300)
SPEECH_MAX_BODY_BYTES = env.int("SPEECH_MAX_BODY_BYTES", default=16 * 1024)
SPEECH_AUDIT_RETENTION_DAYS = env.int("SPEECH_AUDIT_RETENTION_DAYS", default=90)
# Write session audit rows from a background thread in batches (make serve turns it on; see speech/audit.py).
SPEECH_AUDIT_ASYNC = env.bool("SPEECH_AUDIT_ASYNC", default=False)
SPEECH_TELEMETRY_RATE = env.str("SPEECH_TELEMETRY_RATE", default="30/m")
# Changes of speech settings and preferences through the API, per user or API key.
SPEECH_SETTINGS_WRITE_RATE = env.str("SPEECH_SETTINGS_WRITE_RATE", default="30/m")
# Voice previews asked for, per user or API key (a cached sample counts too).
SPEECH_VOICE_PREVIEW_RATE = env.str("SPEECH_VOICE_PREVIEW_RATE", default="20/m")

# prometheus-client's multiprocess mode (make serve's workers): every process that imports the metrics needs the folder.
if env.str("PROMETHEUS_MULTIPROC_DIR", default=""):
    Path(env.str("PROMETHEUS_MULTIPROC_DIR")).mkdir(parents=True, exist_ok=True)

# /metrics: a bearer token, or a request from these networks (default: this machine only).
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
METRICS_ALLOWED_NETWORKS = env.list("METRICS_ALLOWED_NETWORKS", default=["127.0.0.0/8", "::1/128"])
# Hosts a tenant's provider endpoint may name besides the provider's own (api.openai.com, Azure's
# resource hosts, LOCAL_REALTIME_URL's): "host", "host:port" or ".suffix". The server key goes there.
SPEECH_ALLOWED_ENDPOINT_HOSTS = env.list("SPEECH_ALLOWED_ENDPOINT_HOSTS", default=[])
# Tools (docs/tools.md). Hosts a tenant's webhook or MCP server URL may name ("host", "host:port",
# ".suffix", or "*" for any public host); private and loopback addresses only when named exactly.
SPEECH_TOOL_ALLOWED_HOSTS = env.list("SPEECH_TOOL_ALLOWED_HOSTS", default=[])
# Built-in tools by name: a dotted path, or {"handler": path, "description": ..., "parameters": {...}}.
SPEECH_TOOLS = {
    "end_call": "speech.tools.builtins.end_call",
    "current_time": "speech.tools.builtins.current_time",
}
SPEECH_PROVIDER_CONNECT_TIMEOUT = env.float("SPEECH_PROVIDER_CONNECT_TIMEOUT", default=3.05)
SPEECH_PROVIDER_READ_TIMEOUT = env.float("SPEECH_PROVIDER_READ_TIMEOUT", default=10.0)
# No tenant can starve another (docs/security.md, "Upstream limits"): a whole provider call ends within
# the deadline, reads at most so many bytes, and only so many are in flight per process, per tenant and in all
# (by default a quarter and three quarters of make serve's threads per worker).
SPEECH_PROVIDER_DEADLINE_SECONDS = env.float("SPEECH_PROVIDER_DEADLINE_SECONDS", default=15.0)
SPEECH_PROVIDER_MAX_RESPONSE_BYTES = env.int("SPEECH_PROVIDER_MAX_RESPONSE_BYTES", default=256 * 1024)
_WEB_THREADS = env.int("WEB_THREADS", default=64)
SPEECH_PROVIDER_CALLS_PER_TENANT = env.int("SPEECH_PROVIDER_CALLS_PER_TENANT", default=max(1, _WEB_THREADS // 4))
SPEECH_PROVIDER_CALLS = env.int("SPEECH_PROVIDER_CALLS", default=max(1, _WEB_THREADS * 3 // 4))

# Calls (docs/calls.md): the operator's defaults for tenants without a call policy of their own, and the
# price table the cost estimate uses: USD per million tokens, per model (a JSON object in the environment).
SPEECH_CALL_MAX_SECONDS = env.int("SPEECH_CALL_MAX_SECONDS", default=30 * 60)
SPEECH_CALL_IDLE_SECONDS = env.int("SPEECH_CALL_IDLE_SECONDS", default=5 * 60)
# How long a process trusts its read of a tenant's call policy and month's spending (the mint's budget check).
SPEECH_CALL_GATE_SECONDS = env.float("SPEECH_CALL_GATE_SECONDS", default=5.0)
# Direct-mode reports of a call's provider call id (POST /api/v1/calls/report), per user, API key or client.
SPEECH_CALL_REPORT_RATE = env.str("SPEECH_CALL_REPORT_RATE", default="60/m")
SPEECH_MODEL_PRICES = env.json(
    "SPEECH_MODEL_PRICES",
    default={
        # input_text, input_audio, input_cached, output_text, output_audio (OpenAI's list prices, 2026-11)
        "gpt-realtime": {
            "input_text": 4, "input_audio": 32, "input_cached": 0.4, "output_text": 16, "output_audio": 64,
        },
        "gpt-realtime-mini": {
            "input_text": 0.6, "input_audio": 10, "input_cached": 0.3, "output_text": 2.4, "output_audio": 20,
        },
    },
)  # fmt: skip

# Webhook tools (docs/tools.md, "How tools run"): TLS is verified against the system store plus this PEM
# bundle of the operator's CAs (empty: the system store alone); an answer larger than this is refused.
SPEECH_TOOL_CA_BUNDLE = env.str("SPEECH_TOOL_CA_BUNDLE", default="")
SPEECH_TOOL_MAX_RESPONSE_BYTES = env.int("SPEECH_TOOL_MAX_RESPONSE_BYTES", default=64 * 1024)

# The chat page: how long one WebRTC negotiation may take, and how many fresh sessions to try.
SPEECH_NEGOTIATION_TIMEOUT_MS = env.int("SPEECH_NEGOTIATION_TIMEOUT_MS", default=10000)
SPEECH_NEGOTIATION_ATTEMPTS = env.int("SPEECH_NEGOTIATION_ATTEMPTS", default=3)

# The built-in local provider: a service of its own (`python -m speech.local`, which reads its limits from
# the environment itself); the gateway reaches it here, with tenant keys derived from the shared master key
# (LOCAL_REALTIME_API_KEY, else the one both processes keep in var/local_realtime_key).
LOCAL_REALTIME_URL = env.str("LOCAL_REALTIME_URL", default="http://127.0.0.1:8001/v1")
LOCAL_REALTIME_API_KEY = master_key_load(os.environ, path=VAR_DIR / "local_realtime_key")

LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
# LOG_FORMAT=json: one JSON object per line (python-json-logger), with the request id and the
# session line's fields (tenant, provider, model, outcome, error_code, duration_ms).
LOG_FORMAT = env.str("LOG_FORMAT", default="plain")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "speech.ops.request_id.RequestIdFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(request_id)s %(message)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json" if LOG_FORMAT == "json" else "plain",
            "filters": ["request_id"],
        }
    },
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {
        "speech": {"level": LOG_LEVEL},
        "settings_admin": {"level": LOG_LEVEL},
        # The pool warns at each failed reconnect; the gateway reports a database fault once, with its code.
        "psycopg.pool": {"level": "ERROR"},
    },
}
