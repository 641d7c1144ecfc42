"""The project's settings without the insights app, to prove the rest does not need it."""

from wxsite.settings import *  # noqa: F403

INSTALLED_APPS = [app for app in INSTALLED_APPS if app != "insights"]  # noqa: F405
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
WECHAT_TOKEN = "optional-token"
ALLOWED_HOSTS = ["testserver"]
