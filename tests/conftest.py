"""Shared fixtures: WeChat settings for every test and a client that signs like WeChat."""

import itertools
import os
import socket
import time

import pytest

from replies.protocol import Credentials, decode_aes_key
from replies.protocol.client import build_message_xml, open_reply, sign_request

TOKEN = "test-token"
APP_ID = "wx2c2769f8efd9abc2"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
OLD_AES_KEY = "ZYXWVUTSRQPONMLKJIHGFEDCBAzyxwvutsrqponmlkj"
ACCOUNT = "gh_0123456789ab"
OPENID = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"


@pytest.fixture(autouse=True)
def wechat_settings(settings, tmp_path):
    settings.WECHAT_SPOOL_DIR = str(tmp_path / "spool")
    settings.WECHAT_TOKEN = TOKEN
    settings.WECHAT_APP_ID = APP_ID
    settings.WECHAT_ENCODING_AES_KEY = AES_KEY
    settings.WECHAT_ENCODING_AES_KEY_PREVIOUS = ""
    settings.WECHAT_TIMESTAMP_WINDOW = 300
    settings.WECHAT_MAX_BODY_BYTES = 1024 * 1024
    # Tests run inside a transaction that never commits, so an edit's on-commit "forget the
    # index" never fires: read the version on every message (tests of the bound set their own).
    settings.WECHAT_RULES_MAX_STALENESS = 0
    return settings


@pytest.fixture(autouse=True)
def fresh_rule_index():
    """Each test builds its rule index afresh: a rolled-back test leaves the rule-set version
    where the next test's first edit brings it again, so a cached index could name deleted
    rules (a foreign-key violation on PostgreSQL, whose check waits for the commit)."""
    from replies.rules.ruleset import forget_rule_index

    forget_rule_index()
    yield
    forget_rule_index()


@pytest.fixture(autouse=True)
def fresh_environment_account():
    """Forget the environment account's cached id: a flushed database makes a new row."""
    from accounts.environment import forget_environment_account

    forget_environment_account()
    yield
    forget_environment_account()


@pytest.fixture(autouse=True)
def fresh_spool_presence():
    """Each test looks at its own spool directory afresh (a test may write files into it)."""
    from replies.endpoint import spool

    spool._presence.forget()
    yield
    spool._presence.forget()


@pytest.fixture(autouse=True)
def fresh_security_throttle(monkeypatch):
    """Each test starts with the per-worker security-event budget unspent."""
    from replies.endpoint import security_log as security

    monkeypatch.setattr(security, "_throttle", security._Throttle(security.MAX_EVENTS_PER_MINUTE))


def require_redis() -> None:
    """Skip a test that needs Redis on 127.0.0.1:6379 when there is none; fail under CI, which
    runs Redis, so that a missing server cannot silently drop the test."""
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=0.5).close()
    except OSError:
        if os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no"):
            pytest.fail("Redis is not running on 127.0.0.1:6379 (CI runs it)")
        pytest.skip("Redis is not running on 127.0.0.1:6379")


_nonces = itertools.count(100000)
_msg_ids = itertools.count(6_900_000_000_000_000_000)


def next_msg_id() -> int:
    return next(_msg_ids)


class WeChatServer:
    """Plays WeChat's servers against our endpoint through Django's test client."""

    def __init__(self, client, credentials: Credentials):
        self.client = client
        self.credentials = credentials

    def xml(self, msg_type="text", *, openid=OPENID, create_time=None, **fields) -> bytes:
        if msg_type != "event" and "MsgId" not in fields:
            fields["MsgId"] = next_msg_id()
        return build_message_xml(
            msg_type=msg_type,
            from_user=openid,
            to_user=ACCOUNT,
            create_time=create_time or int(time.time()),
            **fields,
        )

    def signed(self, xml: bytes, *, mode="plain", timestamp=None, nonce=None):
        return sign_request(
            xml=xml,
            credentials=self.credentials,
            mode=mode,
            timestamp=str(timestamp or int(time.time())),
            nonce=str(nonce or next(_nonces)),
        )

    def post(self, xml: bytes, *, mode="plain", timestamp=None, nonce=None, query=None, body=None):
        signed_query, signed_body = self.signed(xml, mode=mode, timestamp=timestamp, nonce=nonce)
        return self.post_raw(query or signed_query, signed_body if body is None else body)

    def post_raw(self, query: dict, body: bytes, content_type="text/xml"):
        from urllib.parse import urlencode

        return self.client.post(
            f"/wechat/?{urlencode(query)}", data=body, content_type=content_type
        )

    def reply(self, response, *, mode="plain") -> bytes:
        assert response.status_code == 200, response.content
        return open_reply(
            body=response.content, credentials=self.credentials, encrypted=mode != "plain"
        )


@pytest.fixture
def wechat(client, wechat_settings):
    credentials = Credentials(token=TOKEN, app_id=APP_ID, aes_keys=(decode_aes_key(AES_KEY),))
    return WeChatServer(client, credentials)
