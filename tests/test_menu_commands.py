"""publish_menu, export_menu and fake_wechat_api: the custom menu from the command line.

Publishing goes over real HTTP to the fake API; fake_wechat_api is started as a real process.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from io import StringIO
from pathlib import Path

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.core.management.base import CommandError

from console.menus import draft_body, save_draft
from console.models import MenuPublication
from wechat_api import MemoryCache, WeChatClient
from wechat_api.fake import FakeWeChatAPI

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parent.parent
APP_ID = "wx2c2769f8efd9abc2"
SECRET = "0123456789abcdef0123456789abcdef"
MENU = {
    "button": [
        {"type": "click", "name": "今日歌曲", "key": "V1001_TODAY_MUSIC"},
        {
            "name": "菜单",
            "sub_button": [
                {"type": "view", "name": "搜索", "url": "https://www.soso.com/"},
                {
                    "type": "miniprogram",
                    "name": "小程序",
                    "url": "https://mp.weixin.qq.com",
                    "appid": "wx286b93c14bbf93aa",
                    "pagepath": "pages/lunar/index",
                },
            ],
        },
    ]
}


@pytest.fixture
def fake(settings):
    with FakeWeChatAPI(app_id=APP_ID, app_secret=SECRET) as server:
        settings.WECHAT_API_BASE = server.url
        settings.WECHAT_APP_ID = APP_ID
        settings.WECHAT_APP_SECRET = SECRET
        settings.WECHAT_API_TIMEOUT = 1
        cache.clear()
        yield server
    cache.clear()


def run(*args):
    out, err = StringIO(), StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def write(tmp_path, body, name="menu.json"):
    path = tmp_path / name
    path.write_text(json.dumps(body, ensure_ascii=False), encoding="utf-8")
    return str(path)


# --- publish_menu --------------------------------------------------------------------------------


def test_publish_menu_sends_the_file_and_records_the_publication(fake, tmp_path):
    out, _ = run("publish_menu", write(tmp_path, MENU))

    assert fake.menu == MENU
    assert "Published: 2 buttons, 4 in all" in out
    publication = MenuPublication.objects.get()
    assert publication.ok and publication.source == "command"
    assert publication.published_by is None and publication.menu == MENU


def test_dry_run_checks_and_sends_nothing(fake, tmp_path):
    out, _ = run("publish_menu", write(tmp_path, MENU), "--dry-run")

    assert "The menu is valid" in out and "dry run" in out
    assert fake.calls == []
    assert not MenuPublication.objects.exists()


@pytest.mark.parametrize(
    "menu, reason",
    [
        (
            {"button": [{"type": "click", "name": "六个汉字六个", "key": "K"}]},
            "18 bytes, at most 16",
        ),
        ({"button": [{"type": "click", "name": "a", "key": "K"}] * 4}, "at most 3 buttons"),
        ({"button": [{"type": "view", "name": "网页"}]}, "type view needs url"),
        ({"menu": {}}, 'a menu is an object with a "button" list'),
    ],
)
def test_a_menu_over_the_limits_is_refused_with_the_reason(fake, tmp_path, menu, reason):
    with pytest.raises(CommandError) as raised:
        run("publish_menu", write(tmp_path, menu))

    assert reason in str(raised.value) and "nothing was sent" in str(raised.value)
    assert fake.calls == []
    assert not MenuPublication.objects.exists()


def test_a_refused_menu_exits_non_zero(tmp_path):
    path = write(tmp_path, {"button": [{"type": "click", "name": "六个汉字六个", "key": "K"}]})
    environment = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}"}

    result = subprocess.run(
        [sys.executable, "manage.py", "publish_menu", path, "--dry-run"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 1
    assert "button 1: the name is 18 bytes, at most 16" in result.stderr


def test_wechat_refusing_is_a_clear_error_and_still_recorded(fake, tmp_path):
    fake.add_fault("errcode", errcode=48001, errmsg="api unauthorized", path="/cgi-bin/menu/create")

    with pytest.raises(CommandError) as raised:
        run("publish_menu", write(tmp_path, MENU))

    message = str(raised.value)
    assert "errcode 48001" in message and "api unauthorized" in message and "接口权限" in message
    publication = MenuPublication.objects.get()
    assert not publication.ok and publication.errcode == 48001


def test_a_file_that_is_not_json_is_refused(tmp_path):
    path = tmp_path / "menu.json"
    path.write_text("{button", encoding="utf-8")
    with pytest.raises(CommandError, match="is not JSON"):
        run("publish_menu", str(path))


# --- export_menu ---------------------------------------------------------------------------------


def test_export_menu_writes_the_draft_as_menu_create_json(tmp_path):
    save_draft(MENU)

    out, _ = run("export_menu")

    assert json.loads(out) == MENU
    assert "今日歌曲" in out  # readable UTF-8, not \\u escapes


def test_an_exported_menu_publishes_as_is(fake, tmp_path):
    save_draft(MENU)
    path = tmp_path / "exported.json"
    run("export_menu", "-o", str(path))

    run("publish_menu", str(path))

    assert fake.menu == MENU


def test_export_live_reads_the_menu_from_wechat(fake):
    with WeChatClient(
        app_id=APP_ID, app_secret=SECRET, cache=MemoryCache(), base_url=fake.url
    ) as client:
        client.create_menu(MENU)

    out, _ = run("export_menu", "--live")

    assert json.loads(out) == MENU
    assert draft_body() == {"button": []}  # the draft is left alone


def test_export_live_says_why_it_failed(fake):
    fake.add_fault("html", path="/cgi-bin/menu/get")
    with pytest.raises(CommandError, match="Could not read the live menu"):
        run("export_menu", "--live")


# --- fake_wechat_api -----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_fake_wechat_api_command_serves_until_stopped(tmp_path):
    port = free_port()
    environment = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "PYTHONUNBUFFERED": "",  # the command flushes its lines itself
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "fake_wechat_api",
            f"127.0.0.1:{port}",
            "--app-id",
            "wx_try",
            "--app-secret",
            "try-secret",
            "--follower",
            "o_tester",
        ],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        first_line = process.stdout.readline()
        assert f"Fake WeChat API on http://127.0.0.1:{port} for AppID wx_try" in first_line
        with WeChatClient(
            app_id="wx_try",
            app_secret="try-secret",
            cache=MemoryCache(),
            base_url=f"http://127.0.0.1:{port}",
        ) as client:
            client.create_menu(MENU)
            assert client.get_menu()["menu"]["button"][0]["name"] == "今日歌曲"
            client.send_custom_message(
                {"touser": "o_tester", "msgtype": "text", "text": {"content": "你好"}}
            )
    finally:
        process.send_signal(signal.SIGINT)
        try:
            output, _ = process.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            output, _ = process.communicate()
    assert "POST /cgi-bin/menu/create -> errcode 0" in output
    assert "try-secret" not in output and "Stopped." in output


def test_fake_wechat_api_refuses_a_bad_address():
    with pytest.raises(CommandError, match="HOST:PORT"):
        run("fake_wechat_api", "localhost")


def test_the_time_the_fake_takes_is_small(fake):
    # The admin's publish waits for these calls: the fake must not add its own delays.
    with WeChatClient(
        app_id=APP_ID, app_secret=SECRET, cache=MemoryCache(), base_url=fake.url
    ) as client:
        started = time.monotonic()
        for _ in range(10):
            client.get_current_autoreply_info()
    assert time.monotonic() - started < 1


# --- system checks -------------------------------------------------------------------------------


def test_a_plain_http_api_base_is_a_deploy_warning(settings):
    from console.checks import check_api_base

    settings.WECHAT_API_BASE = "http://127.0.0.1:8100"
    assert [problem.id for problem in check_api_base()] == ["console.W001"]
    settings.WECHAT_API_BASE = "https://api.weixin.qq.com"
    assert check_api_base() == []


def test_a_timeout_of_zero_is_an_error(settings):
    from console.checks import check_api_timeout

    settings.WECHAT_API_TIMEOUT = 0
    assert [problem.id for problem in check_api_timeout()] == ["console.E001"]
    settings.WECHAT_API_TIMEOUT = 5.0
    assert check_api_timeout() == []
