"""The one place that builds the WeChat API client used to send to a follower.

Every send (staff replies, the outbox worker) asks `client_for_account` for its client, with the
account's original id as the log stores it (Message.account). Today every account shares the
project's credentials (WECHAT_APP_ID / WECHAT_APP_SECRET through `client_from_settings`); when
credentials become per account, this function is the only one to change.
"""

from wechat_api.client import WeChatClient
from wechat_api.from_django import client_from_settings


def client_for_account(account: str, **overrides) -> WeChatClient:
    """Return a client that may send as `account` (e.g. "gh_123456789abc"); close it when done.

    `overrides` replace WeChatClient arguments (the outbox passes `busy_retries=0`: it backs
    off between its own tries instead).
    """
    return client_from_settings(**overrides)
