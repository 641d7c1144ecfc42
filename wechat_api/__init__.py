"""WeChat's server API (api.weixin.qq.com): a client, its errors, the menu rules, and a fake.

- ``client``: ``WeChatClient`` — the access token (stable_token, shared through a cache with a
  lock), the calls (menu, customer-service messages, the console's auto-reply), retries.
- ``errors``: ``WeChatAPIError`` and one subclass per way a call fails, with WeChat's errcode and
  errmsg and an explanation for operators in Chinese.
- ``menu``: ``check_menu``, the one copy of WeChat's custom-menu rules, and conversions of the
  menus WeChat returns.
- ``fake``: ``FakeWeChatAPI``, a local HTTP server that answers like WeChat, for tests and for
  trying things without an account (``manage.py fake_wechat_api``).
- ``from_django``: ``client_from_settings()``, the only module here that imports Django.

Everything but ``from_django`` is plain Python: credentials and the cache are arguments, so one
process can hold a client per account.
"""

from wechat_api.client import DEFAULT_BASE_URL, MemoryCache, TokenCache, WeChatClient, redact
from wechat_api.errors import (
    SystemBusy,
    WeChatAPIBadAnswer,
    WeChatAPIError,
    WeChatAPINotConfigured,
    WeChatAPIUnavailable,
    error_for,
)

__all__ = [
    "DEFAULT_BASE_URL",
    "MemoryCache",
    "SystemBusy",
    "TokenCache",
    "WeChatAPIBadAnswer",
    "WeChatAPIError",
    "WeChatAPINotConfigured",
    "WeChatAPIUnavailable",
    "WeChatClient",
    "error_for",
    "redact",
]
