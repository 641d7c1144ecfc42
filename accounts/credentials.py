"""What the endpoint and WeChat's API client need of an account, whichever kind it is.

An account stored in the database keeps its secrets encrypted (accounts.secrets); the account
configured in the environment keeps them in the WECHAT_* settings. `account_credentials` is the one
place that tells the two apart, so no caller reads a setting or decrypts a column itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from django.conf import settings

from accounts.secrets import decrypt_secret
from replies.protocol import Credentials, decode_aes_key

if TYPE_CHECKING:
    from accounts.models import Account

__all__ = ["ENVIRONMENT_SETTINGS", "AccountCredentials", "account_credentials"]

# Where the environment account's secrets are: secret name -> setting.
ENVIRONMENT_SETTINGS = {
    "token": "WECHAT_TOKEN",
    "aes_key": "WECHAT_ENCODING_AES_KEY",
    "previous_aes_key": "WECHAT_ENCODING_AES_KEY_PREVIOUS",
    "app_secret": "WECHAT_APP_SECRET",
}
APP_ID_SETTING = "WECHAT_APP_ID"


@dataclass(frozen=True)
class AccountCredentials:
    """An account's identifiers and secrets in clear, for one request or one API client.

    The secrets are left out of repr(), so a log line or a traceback showing the object shows no
    secret. Empty strings stand for values that are not set.
    """

    app_id: str
    original_id: str
    token: str = field(repr=False)
    aes_key: str = field(repr=False)
    previous_aes_key: str = field(repr=False)
    app_secret: str = field(repr=False)

    def protocol_credentials(self) -> Credentials:
        """Return the protocol's Credentials: the token, the AppID and the decoded AES keys,
        current first, then previous (the order decrypt_with_keys tries them in).

        Raises replies.protocol.InvalidAESKey when a key is malformed.
        """
        keys = tuple(
            decode_aes_key(value) for value in (self.aes_key, self.previous_aes_key) if value
        )
        return Credentials(token=self.token, app_id=self.app_id, aes_keys=keys)


def account_credentials(account: Account) -> AccountCredentials:
    """Return `account`'s credentials: from the settings for the environment account, decrypted
    from its columns for any other.

    Raises accounts.secrets.SecretsKeyMissing or SecretUnreadable when a stored secret cannot be
    decrypted.
    """
    if account.from_environment:
        return AccountCredentials(
            app_id=getattr(settings, APP_ID_SETTING),
            original_id=account.original_id,
            **{name: getattr(settings, setting) for name, setting in ENVIRONMENT_SETTINGS.items()},
        )
    return AccountCredentials(
        app_id=account.app_id,
        original_id=account.original_id,
        **{
            name: decrypt_secret(stored) if stored else ""
            for name, stored in account.stored_secrets().items()
        },
    )
