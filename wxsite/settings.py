"""Settings for wxsite, every value read from the environment, here and nowhere else.

The defaults are for a developer's laptop: SQLite next to the code, DEBUG off unless asked, the
admin in 简体中文. Production sets DJANGO_SECRET_KEY, DJANGO_ALLOWED_HOSTS, DATABASE_URL and the
WECHAT_* values; `manage.py check --deploy` tells what is still missing. README.md has the table.
"""

from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from wxsite.env import env_bool, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent

# --- Django core -----------------------------------------------------------------------------
DEBUG = env_bool("DJANGO_DEBUG", False)
# The fallback key is for local development only; check --deploy flags it (security.W009).
SECRET_KEY = env_str("DJANGO_SECRET_KEY") or "django-insecure-wxsite-local-development-only-key"
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "wxsite.apps.WxsiteAdminConfig",  # django.contrib.admin with the project's site class
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "staff.apps.AxesConfig",  # django-axes, with a translated name
    "csp",
    "django_tasks",  # the backport of Django 6's tasks: the outbox's "reply all" follow-ups
    "replies.outbound.apps.TasksDatabaseConfig",  # django-tasks-db (db_worker), translated names
    "staff",  # after django-otp: its admin replaces django-otp's
    "accounts",  # the official accounts served, their secrets encrypted (before replies)
    "replies",
    "insights",  # optional: remove to run without the insight pages
    "console",  # the custom menu and other console features (after replies: it extends its admin)
]

MIDDLEWARE = [
    "wxsite.middleware.HealthCheckAnyHostMiddleware",  # first: /healthz answers any Host
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "replies.admin.timeouts.AdminStatementTimeoutMiddleware",  # admin queries only, PostgreSQL
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",  # request.user.is_verified(): gave a 2FA code
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "axes.middleware.AxesMiddleware",  # last: turns a lockout into the lockout page
]

ROOT_URLCONF = "wxsite.urls"
WSGI_APPLICATION = "wxsite.wsgi.application"
ADMIN_URL = env_str("DJANGO_ADMIN_URL", "admin/").strip("/") + "/"
# PostgreSQL cancels an admin request's query after this long (a 503 page); 0 turns it off.
DJANGO_ADMIN_STATEMENT_TIMEOUT_MS = env_int("DJANGO_ADMIN_STATEMENT_TIMEOUT_MS", 15000)

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        # The project's overrides of the admin's own templates (admin/base_site.html).
        "DIRS": [BASE_DIR / "wxsite" / "templates"],
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

# --- Database --------------------------------------------------------------------------------
# Persistent connections: on PostgreSQL a request that opens a fresh connection to write one row
# is about 5x slower than one that reuses it; on SQLite closing the last connection checkpoints
# the WAL (an fsync) on every request. Health checks drop a connection the server closed.
DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL") or f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 600),
        conn_health_checks=env_bool("DATABASE_CONN_HEALTH_CHECKS", True),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the admin read while the endpoint writes; IMMEDIATE takes the write lock up front
    # so concurrent writers queue on busy_timeout instead of failing with "database is locked".
    DATABASES["default"]["OPTIONS"] = {
        # Short: a locked database must fail fast enough for the spool to answer WeChat in 5 s.
        "timeout": 2,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # A database that does not answer must fail fast enough for the spool to answer in 5 s.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault(
        "connect_timeout", env_int("DATABASE_CONNECT_TIMEOUT", 2)
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache (the rule-index version lives here when it is shared) -----------------------------
_cache_url = env_str("CACHE_URL")
if _cache_url.startswith(("redis://", "rediss://", "unix://")):
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": _cache_url,
            # Tests give each run its own prefix; nothing ever flushes a shared Redis.
            "KEY_PREFIX": env_str("CACHE_KEY_PREFIX", "wxsite"),
        }
    }
elif _cache_url:
    # Anything else would silently fall back to a per-process cache that no worker shares.
    raise ImproperlyConfigured(
        f"CACHE_URL must start with redis://, rediss:// or unix:// (got {_cache_url[:40]!r})."
    )
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
SHARED_CACHE = bool(_cache_url)

# --- Internationalisation --------------------------------------------------------------------
LANGUAGE_CODE = env_str("DJANGO_LANGUAGE_CODE", "zh-hans")
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
LOCALE_PATHS = [
    BASE_DIR / "replies" / "locale",
    # django-axes' admin strings in 简体中文 (it ships no zh_Hans); makemessages leaves it alone.
    BASE_DIR / "staff" / "third_party" / "locale",
]
TIME_ZONE = env_str("DJANGO_TIME_ZONE", "Asia/Shanghai")
USE_I18N = True
USE_TZ = True

# --- Static files (the admin's CSS and JS, served by whitenoise) -----------------------------
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # Not the manifest variant: pages must render before collectstatic has run (tests, a first
    # `manage.py runserver`), and the only static files are the admin's, versioned with Django.
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# --- HTTPS (behind a TLS-terminating proxy set DJANGO_HTTPS=true) ----------------------------
HTTPS = env_bool("DJANGO_HTTPS", False)
if env_bool("DJANGO_TRUST_X_FORWARDED_PROTO", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = HTTPS
# A redirect would lose WeChat's POST: the endpoint and the health check answer on either scheme.
SECURE_REDIRECT_EXEMPT = [r"^wechat/?$", r"^healthz$"]
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 31536000 if HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SECURE_HSTS_PRELOAD = env_bool("DJANGO_HSTS_PRELOAD", False)
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
# The admin's Content-Security-Policy (django-csp): no inline script or style anywhere, so an
# injected <script> or style attribute does nothing. /wechat/ and /healthz send none (see urls.py).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    },
}

# --- Staff accounts: passwords, login lockout, two-factor authentication ---------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    "staff.backends.LockoutBackend",  # first: refuses a locked-out login before the password check
    "django.contrib.auth.backends.ModelBackend",
]
# django-axes counts failed logins in the database: every worker and host sees the same count (a
# per-process cache would give each worker its own 5 tries), and the admin lists them under
# "Access attempts". Logins are rare; the extra rows cost nothing.
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
AXES_FAILURE_LIMIT = env_int("DJANGO_AXES_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("DJANGO_AXES_COOLOFF_MINUTES", 15))
# Lock the account name, whatever address the attempts come from: a botnet that spreads its guesses
# over thousands of addresses still gets 5 per cool-off, and colleagues behind one office NAT do not
# lock each other out (locking by address would). The price: whoever knows a username can keep that
# account paused; DJANGO_AXES_LOCKOUT_BY=username+ip confines the pause to the attacking address.
AXES_LOCKOUT_BY = env_str("DJANGO_AXES_LOCKOUT_BY", "username").lower()
if AXES_LOCKOUT_BY not in ("username", "username+ip"):
    raise ImproperlyConfigured(
        f"DJANGO_AXES_LOCKOUT_BY must be username or username+ip, got {AXES_LOCKOUT_BY!r}"
    )
AXES_LOCKOUT_PARAMETERS = (
    ["username"] if AXES_LOCKOUT_BY == "username" else [["username", "ip_address"]]
)
# axes.W006 asks for the address in the key because other keys (a User-Agent, a cookie) can be
# rotated; an account name cannot be rotated against that account, so locking by it is deliberate.
SILENCED_SYSTEM_CHECKS = ["axes.W006"] if AXES_LOCKOUT_BY == "username" else []
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False  # no start-up banner on every manage.py command's stderr
AXES_ENABLE_ACCESS_FAILURE_LOG = True
# Masked in the stored attempts and in axes' log lines (the password always is): a backup code
# typed with a wrong password would otherwise sit in the database, still valid.
AXES_SENSITIVE_PARAMETERS = ["username", "ip_address", "otp_token", "csrfmiddlewaretoken"]
AXES_LOCKOUT_CALLABLE = "staff.views.lockout_response"  # the admin's page, translated, 429
AXES_CLIENT_IP_CALLABLE = "staff.client_ip.get_client_ip"
# Reverse proxies in front of Django that append to X-Forwarded-For (0: none, the header is
# ignored). The client is the address the outermost of them saw; see staff/client_ip.py.
TRUSTED_PROXY_COUNT = env_int("DJANGO_TRUSTED_PROXY_COUNT", 0)
# Who must log in to the admin with a second factor: off, superusers or staff (everyone). A user
# who has a device always needs it, whatever this says.
ADMIN_REQUIRE_2FA = env_str("DJANGO_ADMIN_REQUIRE_2FA", "off").lower()
if ADMIN_REQUIRE_2FA not in ("off", "superusers", "staff"):
    raise ImproperlyConfigured(
        f"DJANGO_ADMIN_REQUIRE_2FA must be off, superusers or staff, got {ADMIN_REQUIRE_2FA!r}"
    )
OTP_TOTP_ISSUER = "wxsite"  # the name the authenticator app shows next to the code

# --- WeChat ----------------------------------------------------------------------------------
WECHAT_TOKEN = env_str("WECHAT_TOKEN")
WECHAT_APP_ID = env_str("WECHAT_APP_ID")
WECHAT_APP_SECRET = env_str("WECHAT_APP_SECRET")
# WeChat's server API (wechat_api/): its address (the fake's, to try things locally) and the
# seconds each request may take.
WECHAT_API_BASE = env_str("WECHAT_API_BASE", "https://api.weixin.qq.com").rstrip("/")
WECHAT_API_TIMEOUT = float(env_str("WECHAT_API_TIMEOUT") or 5.0)
WECHAT_ENCODING_AES_KEY = env_str("WECHAT_ENCODING_AES_KEY")
WECHAT_ENCODING_AES_KEY_PREVIOUS = env_str("WECHAT_ENCODING_AES_KEY_PREVIOUS")
# Fernet keys (comma-separated) that encrypt the secrets of accounts stored in the database: the
# first encrypts, all decrypt, so a key can rotate (accounts/secrets.py). Not needed while only
# the account above, from the environment, is served.
WECHAT_SECRETS_KEYS = env_list("WECHAT_SECRETS_KEYS")
WECHAT_TIMESTAMP_WINDOW = env_int("WECHAT_TIMESTAMP_WINDOW", 300)
WECHAT_MAX_BODY_BYTES = env_int("WECHAT_MAX_BODY_BYTES", 1024 * 1024)
# Refuse plaintext requests: once the console is in safe mode, an unencrypted POST is a forgery.
WECHAT_REQUIRE_ENCRYPTION = env_bool("WECHAT_REQUIRE_ENCRYPTION", False)
# Seconds after a request arrives by which the endpoint's database work must be done; past it the
# message goes to the spool and WeChat still gets its answer (see replies/deadline.py).
WECHAT_DATABASE_DEADLINE = float(env_str("WECHAT_DATABASE_DEADLINE") or 3.0)
# How long a worker may answer from its rule index before checking whether a rule changed: an
# edit reaches every worker within this many seconds (0: check on every message, one read each).
WECHAT_RULES_MAX_STALENESS = float(env_str("WECHAT_RULES_MAX_STALENESS") or 1.0)
# Where messages wait when the database cannot take them (see replies/spool.py).
WECHAT_SPOOL_DIR = env_str("WECHAT_SPOOL_DIR") or str(BASE_DIR / "spool")
# The outbox (replies/outbound/): a row claimed for sending longer ago than this many seconds
# belongs to a worker that died mid-call; it is shown as "uncertain", never resent by itself.
WECHAT_OUTBOX_CLAIM_TIMEOUT = float(env_str("WECHAT_OUTBOX_CLAIM_TIMEOUT") or 120.0)

# --- Background tasks: the outbox worker (`manage.py db_worker`, next to gunicorn) -----------
# Tasks are rows in the database, enqueued in the transaction that stores the message.
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}

# --- Logging: one line per event, to stderr (gunicorn and systemd collect it) ----------------
# Every handler uses wxsite.logging.LineFormatter: control characters from follower-chosen values
# are escaped (no forged lines), and asctime is ISO 8601 in UTC with a "Z", whatever the machine's
# TZ or TIME_ZONE, so lines from several hosts compare as they are.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "line": {
            "()": "wxsite.logging.LineFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s %(message)s",
        },
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "line"},
    },
    "root": {"handlers": ["console"], "level": env_str("DJANGO_LOG_LEVEL", "INFO")},
    "loggers": {
        # Django's default handlers (its own console formatter for "django" and runserver's
        # "django.server") are dropped: their lines reach the root handler and its formatter.
        "django": {"handlers": [], "propagate": True},
        "django.server": {"handlers": [], "propagate": True},
        # axes says INFO on every login and logout; failures and lockouts are WARNING.
        "axes": {"level": "WARNING"},
        # Our endpoint answers 4xx itself and logs why; Django's per-4xx warning would be a
        # duplicate line without the reason.
        "django.request": {"level": "ERROR"},
    },
}
