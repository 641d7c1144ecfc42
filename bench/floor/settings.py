"""Minimal settings for the floor: one app, no middleware, its own database.

The database comes from FLOOR_DATABASE_URL (default: bench/.work/floor.sqlite3) and is set up
the way wxsite sets up its own: on SQLite WAL with synchronous=NORMAL and IMMEDIATE transactions
(the same durability as wxsite's), on PostgreSQL the same persistent connections. Connections are
persistent on both: the floor is the best Django can do, and wxsite's own choices are measured
against it.
"""

import os
from pathlib import Path

import dj_database_url

BENCH_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = "bench-floor-not-secret"  # noqa: S105 - a benchmark app serving loopback only
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = ["bench.floor"]
MIDDLEWARE: list[str] = []
ROOT_URLCONF = "bench.floor.urls"
WSGI_APPLICATION = "bench.floor.wsgi.application"
USE_TZ = True
TIME_ZONE = "Asia/Shanghai"
USE_I18N = False
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("FLOOR_DATABASE_URL")
        or f"sqlite:///{BENCH_DIR / '.work' / 'floor.sqlite3'}",
        conn_max_age=600,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
}
