"""Settings come from the environment, with safe development defaults."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from wxsite.env import env_bool, env_int, env_list

ROOT = Path(__file__).resolve().parent.parent


def read_settings(**env) -> dict:
    """Import wxsite.settings in a fresh interpreter with exactly these variables set."""
    code = (
        "import json, wxsite.settings as s;"
        "db = s.DATABASES['default'];"
        "print(json.dumps({'debug': s.DEBUG, 'engine': db['ENGINE'], 'max_age': db['CONN_MAX_AGE'],"
        "'health': db['CONN_HEALTH_CHECKS'], 'tz': s.TIME_ZONE, 'lang': s.LANGUAGE_CODE,"
        "'hosts': s.ALLOWED_HOSTS, 'cache': s.CACHES['default']['BACKEND'], 'admin': s.ADMIN_URL,"
        "'token': s.WECHAT_TOKEN, 'window': s.WECHAT_TIMESTAMP_WINDOW}))"
    )
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "WECHAT_", "DATABASE_", "CACHE_"))
    }
    result = subprocess.run(
        [sys.executable, "-c", code],
        env=base | env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    import json

    return json.loads(result.stdout)


def test_defaults_are_safe_for_development():
    values = read_settings()
    assert values["debug"] is False
    assert values["engine"] == "django.db.backends.sqlite3"
    assert values["tz"] == "Asia/Shanghai" and values["lang"] == "zh-hans"
    assert values["hosts"] == ["localhost", "127.0.0.1", "[::1]"]
    assert values["cache"].endswith("LocMemCache")
    assert values["admin"] == "admin/"


def test_postgresql_keeps_connections_open_and_checks_them():
    values = read_settings(DATABASE_URL="postgres://postgres@127.0.0.1:5432/test")
    assert values["engine"] == "django.db.backends.postgresql"
    assert values["max_age"] == 600 and values["health"] is True


def test_environment_overrides_reach_settings():
    values = read_settings(
        DJANGO_DEBUG="true",
        DJANGO_ALLOWED_HOSTS="wx.example.com, api.example.com",
        WECHAT_TOKEN=" tok ",
        WECHAT_TIMESTAMP_WINDOW="60",
        CACHE_URL="redis://127.0.0.1:6379/1",
        DJANGO_ADMIN_URL="/staff-only/",
    )
    assert values["debug"] is True
    assert values["hosts"] == ["wx.example.com", "api.example.com"]
    assert values["token"] == "tok" and values["window"] == 60
    assert values["cache"].endswith("RedisCache")
    assert values["admin"] == "staff-only/"


def test_env_readers_refuse_garbage(monkeypatch):
    monkeypatch.setenv("X_BOOL", "maybe")
    monkeypatch.setenv("X_INT", "ten")
    monkeypatch.setenv("X_LIST", "a,,b ")
    with pytest.raises(ImproperlyConfigured, match="X_BOOL"):
        env_bool("X_BOOL")
    with pytest.raises(ImproperlyConfigured, match="X_INT"):
        env_int("X_INT", 1)
    assert env_list("X_LIST") == ["a", "b"]


def test_a_cache_url_that_is_not_redis_is_refused_at_start_up():
    with pytest.raises(subprocess.CalledProcessError) as refused:
        read_settings(CACHE_URL="memcached://127.0.0.1:11211")
    assert "CACHE_URL must start with redis://" in refused.value.stderr
