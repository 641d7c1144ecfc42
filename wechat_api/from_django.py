"""Build the project's WeChatClient from Django's settings and cache, for an official account.

The one module of ``wechat_api`` that imports Django; the client itself takes everything as
arguments. It lives here rather than in the console app because the console (the menu editor),
replies' ``import_console_rules`` and the outbox all need it, and replies must not depend on the
console. ``client_for_account`` is the one place that turns an account into a client: the
environment account's AppID and AppSecret are the WECHAT_* settings, any other's are decrypted
from the database (accounts.credentials), so a call made for one account never goes out as
another. The token is cached in Django's default cache, one entry per AppID: per process by
default, shared by every worker and host when CACHE_URL points at Redis.
"""

from django.conf import settings
from django.core.cache import cache

from accounts.credentials import account_credentials
from accounts.models import Account
from accounts.secrets import SecretsKeyMissing, SecretUnreadable
from wechat_api.client import WeChatClient
from wechat_api.errors import WeChatAPINotConfigured

__all__ = ["client_for_account", "client_from_settings"]


def client_from_settings(**overrides) -> WeChatClient:
    """Return a client for WECHAT_APP_ID / WECHAT_APP_SECRET at WECHAT_API_BASE.

    ``overrides`` replace any argument of WeChatClient (e.g. ``access_token=``, or another
    account's ``app_id`` and ``app_secret``). Close the client when done (``with
    client_from_settings() as client: …``).
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


def client_for_account(account: Account | int, **overrides) -> WeChatClient:
    """Return a client that calls WeChat as ``account`` (an Account or its id); close it when
    done.

    Raises WeChatAPINotConfigured (a WeChatAPIError, which every caller already records) when
    the account's stored secrets cannot be decrypted, and Account.DoesNotExist for an id no
    account has.
    """
    if not isinstance(account, Account):
        account = Account.objects.get(pk=account)
    try:
        credentials = account_credentials(account)
    except (SecretsKeyMissing, SecretUnreadable) as error:
        raise WeChatAPINotConfigured(
            f"the AppSecret of account {account.slug} cannot be decrypted: {error}",
            f"公众号“{account.name}”保存的 AppSecret 无法解密："
            "检查 WECHAT_SECRETS_KEYS 是否仍含加密时用的密钥。",
        ) from None
    if (
        not account.from_environment
        and not credentials.app_secret
        and "access_token" not in overrides
    ):
        raise WeChatAPINotConfigured(
            f"account {account.slug} has no AppSecret",
            f"公众号“{account.name}”未保存 AppSecret：超级用户可在后台“公众号”页面填写，或运行 "
            f"manage.py add_account --update --slug {account.slug} --app-secret …",
        )
    arguments = {"app_id": credentials.app_id, "app_secret": credentials.app_secret}
    return client_from_settings(**{**arguments, **overrides})
