"""Test fixtures for several official accounts: two stored accounts, A and B, and WeChat's
servers signing for each of them at its own URL.

A and B differ in every value WeChat's console issues (Token, AppID, EncodingAESKey, original
ID, AppSecret), so a test that mixes them up fails. Import the fixtures a test needs by name:

    from tests.accounts_helpers import account_a, account_b, two_accounts  # noqa: F401

`endpoint` runs a test on each endpoint path: `/wechat/` (the environment account) and
`/wechat/<slug>/` (a stored account holding the conftest's TOKEN, APP_ID and AES_KEY, while the
environment's settings then hold other values, so the stored URL is shown to use its own).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from urllib.parse import urlencode

import pytest
from cryptography.fernet import Fernet

from accounts.environment import environment_account_id
from accounts.models import Account
from replies.endpoint.account_lookup import forget_stored_accounts
from replies.protocol import Credentials, decode_aes_key
from replies.protocol.client import build_message_xml
from tests.conftest import ACCOUNT, AES_KEY, APP_ID, OPENID, TOKEN, WeChatServer, next_msg_id

SECRETS_KEY = Fernet.generate_key().decode()

ACCOUNT_A = {
    "name": "A 服务号",
    "slug": "shop-a",
    "app_id": "wx0a0a0a0a0a0a0a0a",
    "original_id": "gh_aaaaaaaaaaaa",
    "token": "tokenOfA42",
    "aes_key": "AAAA0123456789abcdefghijklmnopqrstuvwxyzABC",
    "previous_aes_key": "",
    "app_secret": "a" * 32,
}
ACCOUNT_B = {
    "name": "B 订阅号",
    "slug": "news-b",
    "app_id": "wx0b0b0b0b0b0b0b0b",
    "original_id": "gh_bbbbbbbbbbbb",
    "token": "tokenOfB77",
    "aes_key": "BBBB9876543210zyxwvutsrqponmlkjihgfedcbaZYX",
    "previous_aes_key": "",
    "app_secret": "b" * 32,
}
SECRETS = ("token", "aes_key", "previous_aes_key", "app_secret")
# What the environment account holds while `endpoint` runs a test on the stored account's URL.
OTHER_ENVIRONMENT = {
    "WECHAT_TOKEN": "environmentToken9",
    "WECHAT_APP_ID": "wx9999999999999999",
    "WECHAT_ENCODING_AES_KEY": "EnvEnv0123456789abcdefghijklmnopqrstuvwxyz0",
}


def store_account(values: dict) -> Account:
    """Create a stored account with `values` (ACCOUNT_A's keys), its secrets encrypted."""
    account = Account(
        name=values["name"],
        slug=values["slug"],
        app_id=values["app_id"],
        original_id=values["original_id"],
    )
    for name in SECRETS:
        account.set_secret(name, values.get(name, ""))
    account.save()
    return account


def credentials_of(values: dict) -> Credentials:
    keys = tuple(
        decode_aes_key(values[name]) for name in ("aes_key", "previous_aes_key") if values[name]
    )
    return Credentials(token=values["token"], app_id=values["app_id"], aes_keys=keys)


class AccountServer(WeChatServer):
    """WeChat's servers for one account: messages to its original ID, signed with its
    credentials, posted to its URL."""

    def __init__(self, client, credentials: Credentials, *, path: str, to_user: str, account):
        super().__init__(client, credentials)
        self.path = path
        self.to_user = to_user
        self.account = account  # the Account row; None for the environment's (see account_id)

    @property
    def account_id(self) -> int:
        return self.account.pk if self.account is not None else environment_account_id()

    def xml(self, msg_type="text", *, openid=OPENID, create_time=None, **fields) -> bytes:
        if msg_type != "event" and "MsgId" not in fields:
            fields["MsgId"] = next_msg_id()
        return build_message_xml(
            msg_type=msg_type,
            from_user=openid,
            to_user=self.to_user,
            create_time=create_time or int(time.time()),
            **fields,
        )

    def post_raw(self, query: dict, body: bytes, content_type="text/xml"):
        return self.client.post(
            f"{self.path}?{urlencode(query)}", data=body, content_type=content_type
        )

    def get(self, query: dict | str):
        query = query if isinstance(query, str) else urlencode(query)
        return self.client.get(f"{self.path}?{query}")


def server_for(client, account: Account, values: dict) -> AccountServer:
    return AccountServer(
        client,
        credentials_of(values),
        path=account.endpoint_path,
        to_user=values["original_id"],
        account=account,
    )


@pytest.fixture
def secrets_key(settings):
    """WECHAT_SECRETS_KEYS with one key, and no credentials of an earlier test in memory."""
    settings.WECHAT_SECRETS_KEYS = [SECRETS_KEY]
    forget_stored_accounts()
    yield settings
    forget_stored_accounts()


@pytest.fixture
def two_accounts(secrets_key, db) -> tuple[Account, Account]:
    """Accounts A and B, stored with their secrets encrypted."""
    return store_account(ACCOUNT_A), store_account(ACCOUNT_B)


@pytest.fixture
def account_a(client, two_accounts) -> AccountServer:
    return server_for(client, two_accounts[0], ACCOUNT_A)


@pytest.fixture
def account_b(client, two_accounts) -> AccountServer:
    return server_for(client, two_accounts[1], ACCOUNT_B)


# --- every endpoint path, for the hostile-input tests -----------------------------------------

ENDPOINTS = ("environment", "stored")
STORED = {
    "name": "Hostile tests",
    "slug": "stored",
    "app_id": APP_ID,
    "original_id": ACCOUNT,
    "token": TOKEN,
    "aes_key": AES_KEY,
    "previous_aes_key": "",
    "app_secret": "",
}
# The environment account's setting of each secret, for Endpoint.configure.
_SETTING_OF = {
    "token": "WECHAT_TOKEN",
    "aes_key": "WECHAT_ENCODING_AES_KEY",
    "previous_aes_key": "WECHAT_ENCODING_AES_KEY_PREVIOUS",
}


@dataclass
class Endpoint:
    """One endpoint path holding the conftest's TOKEN, APP_ID and AES_KEY."""

    path: str
    account: Account | None  # None: the environment account
    settings: object

    @property
    def account_id(self) -> int:
        return self.account.pk if self.account is not None else environment_account_id()

    def configure(self, **secrets: str) -> None:
        """Change the endpoint account's secrets (token="", aes_key="" …)."""
        for name, value in secrets.items():
            if self.account is None:
                setattr(self.settings, _SETTING_OF[name], value)
            else:
                self.account.set_secret(name, value)
        if self.account is not None:
            self.account.save()

    def server(self, client) -> AccountServer:
        server = AccountServer(
            client,
            credentials_of(STORED),
            path=self.path,
            to_user=ACCOUNT,
            account=self.account,
        )
        server.endpoint = self
        return server


@pytest.fixture(params=ENDPOINTS)
def endpoint(request, wechat_settings, db) -> Endpoint:
    """Each endpoint path in turn: /wechat/ and /wechat/<slug>/ (see the module docstring)."""
    if request.param == "environment":
        return Endpoint(path="/wechat/", account=None, settings=wechat_settings)
    wechat_settings.WECHAT_SECRETS_KEYS = [SECRETS_KEY]
    forget_stored_accounts()
    request.addfinalizer(forget_stored_accounts)
    for name, value in OTHER_ENVIRONMENT.items():
        setattr(wechat_settings, name, value)
    account = store_account(STORED)
    return Endpoint(path=account.endpoint_path, account=account, settings=wechat_settings)


@pytest.fixture
def endpoint_wechat(client, endpoint) -> AccountServer:
    """The conftest's `wechat`, posting to each endpoint path in turn."""
    return endpoint.server(client)
