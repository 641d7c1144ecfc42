"""The one place that builds the WeChat API client used to send to a follower.

Every send (staff replies, the outbox worker) asks `client_for_account` for its client, with the
id of the account the follower wrote to (Message.account). The account's own AppID and AppSecret
call WeChat: from the WECHAT_* settings for the environment account, decrypted from the database
for any other — wechat_api.from_django.client_for_account, which the menu editor and the
commands use too — so one account's token never sends as another.
"""

from wechat_api.client import WeChatClient
from wechat_api.from_django import client_for_account as account_client


def client_for_account(account_id: int, **overrides) -> WeChatClient:
    """Return a client that sends as the account `account_id`; close it when done.

    `overrides` replace WeChatClient arguments (the outbox passes `busy_retries=0`: it backs
    off between its own tries instead).
    """
    return account_client(account_id, **overrides)
