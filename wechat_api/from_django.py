"""Build the project's WeChatClient from Django's settings and cache.

The one module of ``wechat_api`` that imports Django; the client itself takes everything as
arguments. It lives here rather than in the console app because both the console (the menu
editor) and replies' ``import_console_rules`` need it, and replies must not depend on the
console. The token is cached in Django's default cache: per process by default, shared by every
worker and host when CACHE_URL points at Redis.
"""

from django.conf import settings
from django.core.cache import cache

from wechat_api.client import WeChatClient


def client_from_settings(**overrides) -> WeChatClient:
    """Return a client for WECHAT_APP_ID / WECHAT_APP_SECRET at WECHAT_API_BASE.

    ``overrides`` replace any argument of WeChatClient (e.g. ``access_token=``). Close the
    client when done (``with client_from_settings() as client: …``).
    """
    arguments = {
        "app_id": settings.WECHAT_APP_ID,
        "app_secret": settings.WECHAT_APP_SECRET,
        "cache": cache,
        "base_url": settings.WECHAT_API_BASE,
        "timeout": settings.WECHAT_API_TIMEOUT,
    }
    arguments.update(overrides)
    return WeChatClient(**arguments)
