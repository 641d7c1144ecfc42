"""The WeChat API client, over real HTTP against the fake API (wechat_api.fake): never mocked.

The access token comes from stable_token, once for every thread and process sharing the cache;
an invalid token is refreshed once; WeChat's "busy" is retried with back-off; every failure is a
typed error with a Chinese explanation; no secret ever reaches a log line.
"""

import json
import logging
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from tests.conftest import require_redis
from wechat_api import MemoryCache, WeChatClient
from wechat_api.errors import (
    EXPLANATIONS,
    APIUnauthorized,
    CustomerServiceWindowClosed,
    InvalidAccessToken,
    InvalidAppID,
    InvalidAppSecret,
    InvalidOpenID,
    IPNotWhitelisted,
    MenuError,
    MenuNotFound,
    QuotaExceeded,
    SystemBusy,
    WeChatAPIBadAnswer,
    WeChatAPIError,
    WeChatAPINotConfigured,
    WeChatAPIUnavailable,
    error_for,
)
from wechat_api.fake import FakeWeChatAPI

ROOT = Path(__file__).resolve().parent.parent
APP_ID = "wx2c2769f8efd9abc2"
SECRET = "0123456789abcdef0123456789abcdef"
TOKEN_PATH = "/cgi-bin/stable_token"
MENU = {"button": [{"type": "click", "name": "今日歌曲", "key": "V1001_TODAY_MUSIC"}]}


@pytest.fixture
def fake():
    with FakeWeChatAPI(app_id=APP_ID, app_secret=SECRET) as server:
        yield server


class Sleeps:
    """Record the back-off pauses instead of waiting them out."""

    def __init__(self):
        self.pauses = []

    def __call__(self, seconds):
        self.pauses.append(seconds)


def make_client(fake, **options):
    options = {
        "app_id": APP_ID,
        "app_secret": SECRET,
        "cache": MemoryCache(),
        "base_url": fake.url,
        "timeout": 2,
        **options,
    }
    return WeChatClient(**options)


# --- the access token ------------------------------------------------------------------------


def test_token_comes_from_stable_token_never_from_cgi_bin_token(fake):
    with make_client(fake) as client:
        client.get_current_autoreply_info()

    token_calls = fake.calls_to(TOKEN_PATH)
    assert len(token_calls) == 1
    assert token_calls[0]["method"] == "POST"
    assert token_calls[0]["body"] == {
        "grant_type": "client_credential",
        "appid": APP_ID,
        "secret": "***",  # the fake records it redacted; it checked the real one
        "force_refresh": False,
    }
    assert not fake.calls_to("/cgi-bin/token")


def test_token_is_cached_for_every_client_sharing_the_cache(fake):
    cache = MemoryCache()
    with make_client(fake, cache=cache) as first, make_client(fake, cache=cache) as second:
        first.get_current_autoreply_info()
        first.get_current_autoreply_info()
        second.get_current_autoreply_info()

    assert len(fake.calls_to(TOKEN_PATH)) == 1
    assert len(fake.calls_to("/cgi-bin/get_current_autoreply_info")) == 3


class RecordingCache(MemoryCache):
    def __init__(self):
        super().__init__()
        self.timeouts = {}

    def set(self, key, value, timeout=None):
        self.timeouts[key] = timeout
        super().set(key, value, timeout)


def test_token_is_renewed_a_few_minutes_before_it_expires(fake):
    cache = RecordingCache()
    with make_client(fake, cache=cache, refresh_margin=300) as client:
        client.access_token()
    assert list(cache.timeouts.values()) == [7200 - 300]


def test_a_token_inside_the_refresh_margin_is_not_used(fake):
    fake.token_lifetime = 250  # less than the margin: never good enough to keep
    with make_client(fake, refresh_margin=300) as client:
        client.access_token()
        client.access_token()
    assert len(fake.calls_to(TOKEN_PATH)) == 2


def test_token_is_fetched_once_by_many_threads_at_once(fake):
    fake.token_delay = 0.3  # every thread arrives while the first fetch is under way
    cache = MemoryCache()
    tokens, errors = [], []

    def work():
        try:
            with make_client(fake, cache=cache) as client:
                tokens.append(client.access_token())
        except Exception as error:  # noqa: BLE001 - collected for the assertion
            errors.append(error)

    threads = [threading.Thread(target=work) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert len(set(tokens)) == 1 and len(tokens) == 16
    assert len(fake.calls_to(TOKEN_PATH)) == 1


def test_token_is_fetched_once_with_djangos_cache_too(fake, settings):
    from django.core.cache import cache

    fake.token_delay = 0.2
    cache.clear()
    tokens = []

    def work():
        with make_client(fake, cache=cache) as client:
            tokens.append(client.access_token())

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(tokens)) == 1
    assert len(fake.calls_to(TOKEN_PATH)) == 1


PROCESS_SCRIPT = """
import sys, threading
from django.core.cache.backends.redis import RedisCache
from wechat_api import WeChatClient

url, prefix, app_id, secret, base = sys.argv[1:6]
cache = RedisCache(url, {"KEY_PREFIX": prefix})
tokens = []
def work():
    with WeChatClient(app_id=app_id, app_secret=secret, cache=cache, base_url=base) as client:
        tokens.append(client.access_token())
threads = [threading.Thread(target=work) for _ in range(4)]
[thread.start() for thread in threads]
[thread.join() for thread in threads]
print(" ".join(tokens))
"""



def test_token_is_fetched_once_by_several_processes_sharing_redis(fake):
    require_redis()
    fake.token_delay = 0.5
    prefix = f"test-token-{uuid.uuid4().hex}"
    command = [
        sys.executable,
        "-c",
        PROCESS_SCRIPT,
        "redis://127.0.0.1:6379/0",
        prefix,
        APP_ID,
        SECRET,
        fake.url,
    ]
    environment = {**os.environ, "PYTHONPATH": str(ROOT)}
    processes = [
        subprocess.Popen(command, cwd=ROOT, env=environment, stdout=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    outputs = [process.communicate(timeout=30)[0].split() for process in processes]

    assert all(process.returncode == 0 for process in processes)
    tokens = {token for output in outputs for token in output}
    assert sum(len(output) for output in outputs) == 16
    assert len(tokens) == 1
    assert len(fake.calls_to(TOKEN_PATH)) == 1


# --- refresh once, back off on busy ----------------------------------------------------------


def test_invalid_token_is_refreshed_once_and_the_call_retried(fake):
    with make_client(fake) as client:
        client.access_token()
        fake.invalidate_tokens()  # e.g. the AppSecret was reset: WeChat answers 40001

        client.create_menu(MENU)

    paths = [(call["path"], call["errcode"]) for call in fake.calls]
    assert paths == [
        (TOKEN_PATH, 0),
        ("/cgi-bin/menu/create", 40001),
        (TOKEN_PATH, 0),
        ("/cgi-bin/menu/create", 0),
    ]
    assert fake.calls[2]["body"]["force_refresh"] is True
    assert fake.menu == MENU


def test_expired_token_is_refreshed_too(fake):
    with make_client(fake) as client:
        client.access_token()
        fake.expire_tokens()
        client.get_current_autoreply_info()
    assert [call["errcode"] for call in fake.calls] == [0, 42001, 0, 0]


def test_a_token_refused_twice_is_an_error_after_one_refresh_only(fake):
    fake.add_fault("errcode", errcode=40001, times=2, path="/cgi-bin/menu/get")
    with make_client(fake) as client, pytest.raises(InvalidAccessToken) as raised:
        client.get_menu()

    assert raised.value.errcode == 40001
    forced = [call for call in fake.calls_to(TOKEN_PATH) if call["body"]["force_refresh"]]
    assert len(forced) == 1
    assert len(fake.calls_to("/cgi-bin/menu/get")) == 2


def test_a_token_another_worker_already_replaced_is_not_refreshed_again(fake):
    cache = MemoryCache()
    with make_client(fake, cache=cache) as first, make_client(fake, cache=cache) as second:
        stale = first.access_token()
        fresh = first.access_token(force_refresh=True, rejected=stale)
        # The second worker also saw `stale` refused: it takes the first one's fresh token.
        assert second.access_token(force_refresh=True, rejected=stale) == fresh
    assert len(fake.calls_to(TOKEN_PATH)) == 2


def test_busy_wechat_is_retried_with_exponential_back_off(fake):
    fake.add_fault("errcode", errcode=-1, times=2, path="/cgi-bin/menu/create")
    sleeps = Sleeps()
    with make_client(fake, sleep=sleeps, busy_backoff=0.5) as client:
        client.create_menu(MENU)

    assert [call["errcode"] for call in fake.calls_to("/cgi-bin/menu/create")] == [-1, -1, 0]
    assert sleeps.pauses == [0.5, 1.0]


def test_busy_wechat_gives_up_after_a_bounded_number_of_tries(fake):
    fake.add_fault("errcode", errcode=-1, times=10, path="/cgi-bin/menu/get")
    sleeps = Sleeps()
    with make_client(fake, sleep=sleeps) as client, pytest.raises(SystemBusy) as raised:
        client.get_menu()

    assert len(fake.calls_to("/cgi-bin/menu/get")) == 3
    assert sum(sleeps.pauses) <= 2
    assert "繁忙" in raised.value.explanation


def test_a_given_access_token_is_used_as_is_and_never_refreshed(fake):
    with make_client(fake, app_secret="", access_token="SHARED_TOKEN") as client:
        with pytest.raises(InvalidAccessToken):
            client.get_menu()
    assert fake.calls_to(TOKEN_PATH) == []
    assert [call["query"] for call in fake.calls] == [{"access_token": "***"}]


def test_without_a_secret_the_client_refuses_before_calling(fake):
    with make_client(fake, app_secret="") as client, pytest.raises(WeChatAPINotConfigured):
        client.get_menu()
    assert fake.calls == []


# --- typed errors ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "errcode, error_class, words",
    [
        (40164, IPNotWhitelisted, "IP白名单"),
        (61004, IPNotWhitelisted, "IP白名单"),
        (40125, InvalidAppSecret, "AppSecret"),
        (40013, InvalidAppID, "AppID"),
        (45009, QuotaExceeded, "上限"),
        (48001, APIUnauthorized, "权限"),
        (40003, InvalidOpenID, "OpenID"),
        (45015, CustomerServiceWindowClosed, "48 小时"),
        (45047, CustomerServiceWindowClosed, "条数"),
        (46003, MenuNotFound, "菜单"),
        (65303, MenuError, "默认菜单"),
        (40018, MenuError, "16 字节"),
        (-1, SystemBusy, "繁忙"),
    ],
)
def test_each_errcode_is_a_typed_error_with_an_explanation_in_chinese(
    fake, errcode, error_class, words
):
    errmsg = f"as wechat says it {errcode} hint: [xyz]"
    fake.add_fault("errcode", errcode=errcode, errmsg=errmsg, times=5, path="/cgi-bin/menu/get")
    with make_client(fake, busy_backoff=0) as client, pytest.raises(error_class) as raised:
        client.get_menu()

    error = raised.value
    assert isinstance(error, WeChatAPIError)
    assert error.errcode == errcode
    assert error.errmsg.startswith(errmsg)  # kept as WeChat sent it
    assert words in error.explanation
    assert f"errcode {errcode}" in str(error) and errmsg in str(error)


def test_ip_whitelist_explanation_says_where_to_add_the_address():
    assert EXPLANATIONS[40164] == (
        "调用接口的IP地址不在白名单中：在公众平台「设置与开发 → 基本配置 → IP白名单」"
        "加入服务器的出口 IP"
    )


def test_an_unknown_errcode_is_still_an_error_with_its_errmsg():
    error = error_for(99999, "something new")
    assert type(error) is WeChatAPIError
    assert error.errmsg == "something new" and "99999" in error.explanation


def test_wrong_secret_and_wrong_appid_are_typed(fake):
    with make_client(fake, app_secret="wrong") as client, pytest.raises(InvalidAppSecret):
        client.get_menu()
    with make_client(fake, app_id="wx_other") as client, pytest.raises(InvalidAppID):
        client.get_menu()


def test_timeout_is_unavailable_within_the_timeout(fake):
    with make_client(fake, timeout=0.5) as client:
        client.access_token()
        fake.add_fault("delay", delay=2, path="/cgi-bin/menu/get")
        started = time.monotonic()
        with pytest.raises(WeChatAPIUnavailable) as raised:
            client.get_menu()
    assert time.monotonic() - started < 1.5
    assert "within 0.5 s" in raised.value.errmsg
    assert "超时" in raised.value.explanation


def test_a_timed_out_call_is_not_sent_twice(fake):
    fake.set_last_message("o_follower")
    message = {"touser": "o_follower", "msgtype": "text", "text": {"content": "你好"}}
    with make_client(fake, timeout=0.3) as client:
        client.access_token()
        fake.add_fault("delay", delay=1, path="/cgi-bin/message/custom/send")
        with pytest.raises(WeChatAPIUnavailable):
            client.send_custom_message(message)
    assert len(fake.calls_to("/cgi-bin/message/custom/send")) == 1


@pytest.mark.parametrize(
    "kind, error_class, words",
    [
        ("malformed", WeChatAPIBadAnswer, "not JSON"),
        ("html", WeChatAPIBadAnswer, "HTTP 502 (text/html)"),
        ("disconnect", WeChatAPIUnavailable, "cannot reach"),
    ],
)
def test_answers_that_are_not_wechats_json_are_typed(fake, kind, error_class, words):
    fake.add_fault(kind, path="/cgi-bin/menu/get")
    with make_client(fake) as client, pytest.raises(error_class) as raised:
        client.get_menu()
    assert words in raised.value.errmsg
    assert raised.value.errcode is None and raised.value.explanation


def test_nobody_listening_is_unavailable():
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    client = WeChatClient(
        app_id=APP_ID, app_secret=SECRET, cache=MemoryCache(), base_url=f"http://127.0.0.1:{port}"
    )
    with client, pytest.raises(WeChatAPIUnavailable, match="cannot reach"):
        client.get_menu()


# --- what is sent, and what is logged --------------------------------------------------------


def test_chinese_is_sent_as_utf8_not_escaped(fake):
    with make_client(fake) as client:
        client.create_menu(MENU)
    # The fake answers 40033 to \\uXXXX escapes, as WeChat does: 0 means raw UTF-8 went out.
    assert fake.calls_to("/cgi-bin/menu/create")[0]["errcode"] == 0
    assert fake.menu["button"][0]["name"] == "今日歌曲"


def test_no_secret_or_token_reaches_the_logs(fake, caplog):
    caplog.set_level(logging.DEBUG)
    with make_client(fake, busy_backoff=0, timeout=0.5) as client:
        client.create_menu(MENU)
        fake.invalidate_tokens()
        client.get_menu()  # 40001, a forced refresh, again
        for kind, options in [
            ("errcode", {"errcode": 40164, "errmsg": "invalid ip 203.0.113.9"}),
            ("errcode", {"errcode": -1}),
            ("delay", {"delay": 1.5}),
            ("html", {}),
            ("malformed", {}),
        ]:
            fake.add_fault(kind, path="/cgi-bin/menu/get", **options)
            try:
                client.get_menu()
            except WeChatAPIError as error:
                logging.getLogger("test").warning("failed: %s", error)
    with make_client(fake, app_secret="wrong-" + SECRET) as client:
        with pytest.raises(InvalidAppSecret) as raised:
            client.access_token()
    assert SECRET not in str(raised.value)

    issued = {call["path"] for call in fake.calls}
    assert "/cgi-bin/menu/get" in issued
    tokens = set(fake._tokens) | fake._expired  # every token the fake ever issued
    assert tokens
    assert "access_token=***" in caplog.text  # httpx's own request lines, redacted
    for record in caplog.records:
        line = record.getMessage()
        assert SECRET not in line, line
        for token in tokens:
            assert token not in line, line


def test_the_fake_and_the_client_agree_on_the_json_of_every_call(fake):
    fake.set_last_message("o_follower")
    fake.autoreply_info = {"is_autoreply_open": 1, "keyword_autoreply_info": {"list": []}}
    with make_client(fake) as client:
        client.create_menu(MENU)
        assert client.get_menu()["menu"]["button"][0]["key"] == "V1001_TODAY_MUSIC"
        assert client.get_current_selfmenu_info()["is_menu_open"] == 1
        assert client.get_current_autoreply_info()["is_autoreply_open"] == 1
        client.send_custom_message(
            {"touser": "o_follower", "msgtype": "text", "text": {"content": "你好"}}
        )
        client.delete_menu()
        with pytest.raises(MenuNotFound):
            client.get_menu()
    assert fake.sent == [{"touser": "o_follower", "msgtype": "text", "text": {"content": "你好"}}]
    assert json.dumps(fake.calls, ensure_ascii=False)  # recorded calls are plain JSON


def test_a_forced_refresh_without_a_rejected_token_replaces_the_cached_one(fake):
    with make_client(fake) as client:
        first = client.access_token()
        second = client.access_token(force_refresh=True)
    assert first != second
    assert [call["body"]["force_refresh"] for call in fake.calls_to(TOKEN_PATH)] == [False, True]
