"""`manage.py wxsend` against a live wxsite (and against stub servers for the failures)."""

import datetime
import http.server
import ipaddress
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from io import StringIO
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from replies.models import Message
from replies.protocol import (
    compute_signature,
    decode_aes_key,
    encrypt_message,
    parse_xml,
    render_encrypted_reply,
    render_reply,
)
from replies.protocol.client import build_message_xml
from replies.protocol.replies import TextReply
from replies.rules import ruleset as matching
from replies.simulator import DEFAULT_ACCOUNT, DEFAULT_OPENID, event_fields
from tests.conftest import AES_KEY, APP_ID, OLD_AES_KEY, TOKEN
from tests.factories import make_rule
from tests.live_server import free_port, server_env

ROOT = Path(__file__).resolve().parents[1]
# The public name of a site in these tests: the only name its ALLOWED_HOSTS holds.
PUBLIC_HOST = "wx.example.test"

live = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def fresh_rule_index():
    # Transactional tests flush the database, so a new rule can come back under an old
    # version number: start every test from an empty index.
    matching.forget_rule_index()
    yield
    matching.forget_rule_index()


@pytest.fixture
def endpoint(live_server):
    return f"{live_server.url}/wechat/"


def wxsend(*args, stdin=None, stderr=None):
    """Run wxsend and return what it printed."""
    out = StringIO()
    extra = {"stdin": stdin} if stdin is not None else {}
    call_command("wxsend", *args, stdout=out, stderr=stderr or StringIO(), **extra)
    return out.getvalue()


def wxsend_process(*args):
    """Run wxsend as the operator does, from the command line; return the CompletedProcess."""
    return subprocess.run(
        [sys.executable, "manage.py", "wxsend", *args],
        cwd=ROOT,
        env=dict(
            os.environ, WECHAT_TOKEN=TOKEN, WECHAT_APP_ID=APP_ID, WECHAT_ENCODING_AES_KEY=AES_KEY
        ),
        capture_output=True,
        text=True,
        timeout=60,
    )


def host_refused(url, host):
    return f"{url}: the server refused the Host header {host!r}: add it to DJANGO_ALLOWED_HOSTS"


# --- against the live endpoint ------------------------------------------------------------------


@live
@pytest.mark.parametrize("mode", ["plain", "compat", "aes"])
def test_text_message_gets_the_rule_reply_in_every_mode(endpoint, mode):
    make_rule("greeting", keywords=["你好"], text="您好！\n欢迎光临。")

    output = wxsend("--url", endpoint, "--mode", mode, "text", "你好")

    assert "→ text: 你好" in output
    assert "← text  [" in output and f"{mode}]" in output
    assert "  您好！\n  欢迎光临。" in output
    stored = Message.objects.get()
    assert (stored.mode, stored.content, stored.openid) == (mode, "你好", DEFAULT_OPENID)
    assert stored.to_user == DEFAULT_ACCOUNT
    assert stored.rule_name == "greeting"


@live
def test_safe_mode_really_encrypts_the_request(endpoint):
    make_rule("greeting", keywords=["秘密"], text="ok")

    wxsend("--url", endpoint, "--mode", "aes", "text", "秘密")

    stored = Message.objects.get()
    assert "秘密" not in stored.raw_xml
    assert "<Encrypt>" in stored.raw_xml
    assert "秘密" in stored.decrypted_xml


@live
def test_common_options_are_accepted_after_the_subcommand_too(endpoint):
    make_rule("greeting", keywords=["hi"], text="hello there")

    output = wxsend("text", "hi", "--url", endpoint, "--mode", "aes", "--openid", "o_other")

    assert "hello there" in output
    assert Message.objects.get().openid == "o_other"


@live
def test_raw_prints_the_decrypted_reply_xml(endpoint):
    make_rule("greeting", keywords=["hi"], text="a ]]> b")

    output = wxsend("--url", endpoint, "--mode", "aes", "--raw", "text", "hi")

    reply = parse_xml(output[output.index("<xml>") :].encode())
    assert reply["Content"] == "a ]]> b"
    assert reply["ToUserName"] == DEFAULT_OPENID


@live
def test_msg_id_and_create_time_options_are_sent(endpoint):
    wxsend(
        "--url", endpoint, "--msg-id", "1234567890123", "--create-time", "1700000000", "text", "x"
    )

    stored = Message.objects.get()
    assert stored.msg_id == "1234567890123"
    assert int(stored.created_at.timestamp()) == 1700000000


@live
def test_follow_by_qr_scene_reaches_the_scene_rule(endpoint):
    make_rule("scene 123", triggers=[("subscribe", "123", "")], text="scanned 123 to follow")

    output = wxsend("--url", endpoint, "event", "subscribe", "--key", "123")

    assert "scanned 123 to follow" in output
    stored = Message.objects.get()
    assert (stored.event, stored.event_key) == ("subscribe", "qrscene_123")
    assert "<Ticket>" in stored.raw_xml


@live
def test_menu_click_in_any_case_reaches_the_click_rule(endpoint):
    make_rule("menu", triggers=[("click", "MENU_1", "")], text="menu one")

    output = wxsend("--url", endpoint, "event", "click", "--key", "MENU_1")

    assert "→ event CLICK MENU_1" in output
    assert "menu one" in output
    assert "<Event><![CDATA[CLICK]]></Event>" in Message.objects.get().raw_xml


@live
def test_event_without_a_rule_shows_that_there_is_no_reply(endpoint):
    output = wxsend("--url", endpoint, "event", "LOCATION", "--latitude", "23.1")

    assert "(no reply: the endpoint answered success)" in output
    assert Message.objects.get().latitude == pytest.approx(23.1)


@live
def test_news_and_image_replies_are_described(endpoint):
    make_rule(
        "news",
        keywords=["新闻"],
        replies=[
            {
                "reply_type": "news",
                "articles": [
                    {
                        "title": "头条",
                        "description": "摘要",
                        "pic_url": "https://p.example/1.jpg",
                        "url": "https://a.example/1",
                    }
                ],
            }
        ],
    )
    make_rule("picture", keywords=["图"], replies=[{"reply_type": "image", "media_id": "MEDIA_9"}])

    news = wxsend("--url", endpoint, "text", "新闻")
    image = wxsend("--url", endpoint, "text", "图")

    assert "← news: 1 article" in news
    assert "  1. 头条" in news and "url: https://a.example/1" in news
    assert "← image: media id MEDIA_9" in image


# Every subcommand, as the endpoint stores it: (arguments, MsgType, Event, EventKey).
EVERY_KIND = [
    (["text", "hello"], "text", "", ""),
    (["image", "--media-id", "M1", "--pic-url", "http://p/1.jpg"], "image", "", ""),
    (["voice", "--media-id", "V1", "--recognition", "价格"], "voice", "", ""),
    (["video", "--media-id", "VID"], "video", "", ""),
    (["shortvideo", "--media-id", "SV"], "shortvideo", "", ""),
    (["location", "--x", "23.1", "--y", "113.3", "--label", "广州"], "location", "", ""),
    (["link", "--title", "T", "--url", "https://l.example/"], "link", "", ""),
    (["miniprogrampage", "--page-path", "pages/a"], "miniprogrampage", "", ""),
    (["event", "subscribe"], "event", "subscribe", ""),
    (["event", "unsubscribe"], "event", "unsubscribe", ""),
    (["event", "SCAN", "--key", "123"], "event", "scan", "123"),
    (["event", "VIEW", "--key", "https://v.example/"], "event", "view", "https://v.example/"),
    (["event", "scancode_push", "--key", "K", "--scan-result", "R"], "event", "scancode_push", "K"),
    (
        ["event", "pic_weixin", "--key", "P", "--pic-md5", "a", "--pic-md5", "b"],
        "event",
        "pic_weixin",
        "P",
    ),
    (["event", "location_select", "--key", "L"], "event", "location_select", "L"),
    (["event", "view_miniprogram", "--key", "pages/x"], "event", "view_miniprogram", "pages/x"),
    (
        ["event", "TEMPLATESENDJOBFINISH", "--status", "success"],
        "event",
        "templatesendjobfinish",
        "",
    ),
    (["event", "MASSSENDJOBFINISH"], "event", "masssendjobfinish", ""),
    (["event", "user_info_modified"], "event", "user_info_modified", ""),
]


@live
@pytest.mark.parametrize("args, msg_type, event, event_key", EVERY_KIND)
def test_every_message_type_and_event_is_accepted_and_stored(
    endpoint, args, msg_type, event, event_key
):
    output = wxsend("--url", endpoint, "--mode", "aes", *args)

    assert output.startswith("→ ")
    stored = Message.objects.get()
    assert (stored.msg_type, stored.event, stored.event_key) == (msg_type, event, event_key)


# --- chat ---------------------------------------------------------------------------------------


@live
def test_chat_sends_each_line_and_runs_slash_commands_until_quit(endpoint):
    make_rule("greeting", keywords=["你好"], text="您好")
    make_rule("menu", triggers=[("click", "MENU_1", "")], text="menu one")
    make_rule("scan", triggers=[("scan", "", "")], text="scanned")
    lines = "你好\n\n/click MENU_1\n/mode aes\n/scan 7\n//literal\n/nonsense\n/quit\nnever sent\n"

    output = wxsend("--url", endpoint, "chat", stdin=StringIO(lines))

    assert "> 你好\n→ text: 你好\n← text" in output
    assert "menu one" in output and "scanned" in output
    assert "(mode is now aes)" in output
    assert "Unknown command /nonsense" in output
    stored = list(Message.objects.order_by("id").values_list("mode", "msg_type", "content"))
    assert stored == [
        ("plain", "text", "你好"),
        ("plain", "event", ""),
        ("aes", "event", ""),
        ("aes", "text", "/literal"),
    ]


@live
def test_no_subcommand_means_chat_and_end_of_input_ends_it(endpoint):
    output = wxsend("--url", endpoint, stdin=StringIO("/subscribe\n/image MEDIA_X\n"))

    assert "wxsend chat with" in output
    assert list(Message.objects.order_by("id").values_list("msg_type", "media_id")) == [
        ("event", ""),
        ("image", "MEDIA_X"),
    ]


def test_chat_keeps_going_after_a_failure_and_exits_non_zero(dead_url):
    err = StringIO()
    with pytest.raises(CommandError, match="2 of 2 messages failed"):
        call_command(
            "wxsend", "--url", dead_url, stdin=StringIO("a\nb\n"), stdout=StringIO(), stderr=err
        )
    assert err.getvalue().count("No server at") == 2


# --- failures, each one line --------------------------------------------------------------------


@pytest.fixture
def dead_url():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # Closed again: nothing listens there now.
    return f"http://127.0.0.1:{port}/wechat/"


def test_no_server_says_so_and_how_to_start_one(dead_url):
    with pytest.raises(CommandError) as raised:
        wxsend("--url", dead_url, "text", "hi")
    assert str(raised.value) == f"No server at {dead_url} — is it running? ./serve.sh"


def test_no_server_from_the_command_line_is_one_line_and_exit_status_1(dead_url):
    result = subprocess.run(
        [sys.executable, "manage.py", "wxsend", "--url", dead_url, "--token", "t", "text", "hi"],
        cwd=Path(__file__).resolve().parents[1],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert (
        result.stderr.strip()
        == f"CommandError: No server at {dead_url} — is it running? ./serve.sh"
    )


@live
def test_wrong_token_is_reported_as_a_refused_signature(endpoint):
    with pytest.raises(CommandError) as raised:
        wxsend("--url", endpoint, "--token", "not-the-token", "text", "hi")
    assert "refused the signature" in str(raised.value)
    assert "is WECHAT_TOKEN the same on both sides?" in str(raised.value)
    assert not Message.objects.exists()


@live
def test_wrong_aes_key_is_reported_as_a_decryption_failure(endpoint):
    with pytest.raises(CommandError) as raised:
        wxsend("--url", endpoint, "--mode", "aes", "--aes-key", OLD_AES_KEY, "text", "hi")
    message = str(raised.value)
    # Decrypted with the wrong key, the padding (or, rarely, the AppID inside) is wrong.
    assert "could not decrypt the message" in message or "AppID" in message
    assert "the same on both sides?" in message


@live
def test_wrong_app_id_is_reported_as_such(endpoint):
    with pytest.raises(CommandError, match="refused the message's AppID .* WECHAT_APP_ID"):
        wxsend("--url", endpoint, "--mode", "aes", "--app-id", "wx0000000000000000", "text", "hi")


def test_safe_mode_without_a_key_is_refused_before_sending(settings, dead_url):
    settings.WECHAT_ENCODING_AES_KEY = ""
    with pytest.raises(CommandError, match="aes mode needs an EncodingAESKey"):
        wxsend("--url", dead_url, "--mode", "aes", "text", "hi")


def test_malformed_aes_key_is_refused(dead_url):
    with pytest.raises(CommandError, match="--aes-key: The EncodingAESKey must be 43"):
        wxsend("--url", dead_url, "--mode", "aes", "--aes-key", "short", "text", "hi")


def test_non_http_url_is_refused(tmp_path):
    with pytest.raises(CommandError, match="must be an http:// or https:// URL"):
        wxsend("--url", f"file://{tmp_path}/x", "text", "hi")


def test_click_without_key_is_refused(dead_url):
    with pytest.raises(CommandError, match="event CLICK needs --key"):
        wxsend("--url", dead_url, "event", "CLICK")


class StubWeChatEndpoint:
    """A server that answers every request with a fixed status and body, optionally late.

    With `echo`, a GET answers its echostr as text/plain, as the endpoint does. Every request is
    recorded in `requests` as (method, path with query, headers, body). With `tls` (a server
    SSLContext) it speaks https.
    """

    def __init__(self, tls=None):
        self.status, self.body, self.delay = 200, b"success", 0.0
        self.headers = {}
        self.echo = False
        self.requests = []
        stub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self.answer(body)

            def do_GET(self):
                self.answer(b"")

            def answer(self, body):
                stub.requests.append(("" + self.command, self.path, self.headers, body))
                time.sleep(stub.delay)
                status, answer, headers = stub.status, stub.body, dict(stub.headers)
                if stub.echo and self.command == "GET":
                    answer = dict(parse_qsl(urlsplit(self.path).query)).get("echostr", "").encode()
                    headers.setdefault("Content-Type", "text/plain; charset=utf-8")
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                try:
                    self.wfile.write(answer)
                except OSError:  # the client gave up (timeout test)
                    pass

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        scheme = "http"
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
            scheme = "https"
        self.url = f"{scheme}://127.0.0.1:{self.server.server_address[1]}/wechat/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def host_headers(self):
        return [headers["Host"] for _method, _path, headers, _body in self.requests]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def stub():
    server = StubWeChatEndpoint()
    yield server
    server.close()


def encrypted_reply(*, key=None, token=TOKEN, text="hi"):
    reply = render_reply(
        TextReply(text), to_user=DEFAULT_OPENID, from_user=DEFAULT_ACCOUNT, create_time=1
    )
    encrypt = encrypt_message(xml=reply, key=decode_aes_key(key or AES_KEY), app_id=APP_ID)
    return render_encrypted_reply(
        encrypt=encrypt,
        msg_signature=compute_signature(token, "1", "2", encrypt),
        timestamp="1",
        nonce="2",
    )


def test_stub_with_a_valid_encrypted_reply_is_opened(stub):
    stub.body = encrypted_reply(text="from the stub")

    assert "from the stub" in wxsend("--url", stub.url, "--mode", "aes", "text", "x")


def test_reply_with_a_bad_msg_signature_is_named_a_signature_mismatch(stub):
    stub.body = encrypted_reply(token="another-token")

    with pytest.raises(CommandError, match="does not verify: signature mismatch"):
        wxsend("--url", stub.url, "--mode", "aes", "text", "x")


def test_reply_encrypted_with_another_key_is_named_an_aes_failure(stub):
    stub.body = encrypted_reply(key=OLD_AES_KEY)

    with pytest.raises(CommandError, match=r"does not decrypt \(AES/AppID\)"):
        wxsend("--url", stub.url, "--mode", "aes", "text", "x")


def test_plaintext_reply_to_an_encrypted_request_is_refused(stub):
    stub.body = render_reply(TextReply("clear"), to_user="o", from_user="gh", create_time=1)

    with pytest.raises(CommandError, match="encrypted reply is not what WeChat expects"):
        wxsend("--url", stub.url, "--mode", "aes", "text", "x")


def test_answer_that_is_not_xml_is_refused(stub):
    stub.body = b'{"reply": "json"}'

    with pytest.raises(CommandError, match="not WeChat reply XML"):
        wxsend("--url", stub.url, "text", "x")


@pytest.mark.parametrize("status", [400, 413])
def test_400_and_413_show_the_servers_reason(stub, status):
    stub.status, stub.body = status, b"The request body is too large.\nsecond line"

    with pytest.raises(CommandError) as raised:
        wxsend("--url", stub.url, "text", "x")
    assert str(raised.value).endswith(f"with {status}: The request body is too large.")


def test_slow_answer_is_a_timeout_like_wechats(stub):
    stub.delay = 1.0

    with pytest.raises(CommandError, match="within 0.3 s: WeChat would have given up and retried"):
        wxsend("--url", stub.url, "--timeout", "0.3", "text", "x")


def test_reply_addressed_to_someone_else_is_flagged(stub):
    stub.body = render_reply(TextReply("hi"), to_user="o_else", from_user="gh_x", create_time=1)

    output = wxsend("--url", stub.url, "text", "x")

    assert "the reply is addressed to 'o_else'" in output
    assert "comes from 'gh_x'" in output


# --- message builders ---------------------------------------------------------------------------


def fields_of(built):
    msg_type, fields = built
    xml = build_message_xml(msg_type=msg_type, from_user="o", to_user="gh", create_time=1, **fields)
    return parse_xml(xml)


def test_event_names_are_sent_in_wechats_spelling():
    assert fields_of(event_fields(event="scan", key="1"))["Event"] == "SCAN"
    assert fields_of(event_fields(event="Scancode_Push"))["Event"] == "scancode_push"
    assert fields_of(event_fields(event="custom_thing", key="k"))["Event"] == "custom_thing"


def test_follow_scene_gets_the_qrscene_prefix_once():
    assert fields_of(event_fields(event="subscribe", key="5"))["EventKey"] == "qrscene_5"
    assert fields_of(event_fields(event="subscribe", key="qrscene_5"))["EventKey"] == "qrscene_5"
    assert "EventKey" not in fields_of(event_fields(event="subscribe"))


def test_picture_event_lists_every_md5():
    fields = fields_of(event_fields(event="pic_photo_or_album", key="P", pic_md5s=("a", "b")))
    info = fields["SendPicsInfo"]
    assert info["Count"] == "2"
    assert [item["PicMd5Sum"] for item in info["PicList"]["item"]] == ["a", "b"]


def test_scancode_and_location_select_events_carry_their_sections():
    scan = fields_of(event_fields(event="scancode_waitmsg", key="S", scan_result="123"))
    assert scan["ScanCodeInfo"] == {"ScanType": "qrcode", "ScanResult": "123"}
    where = fields_of(event_fields(event="location_select", key="L", label="广州", poiname="塔"))
    assert where["SendLocationInfo"]["Label"] == "广州"
    assert where["SendLocationInfo"]["Poiname"] == "塔"


def test_job_events_carry_msg_id_and_status():
    fields = fields_of(event_fields(event="templatesendjobfinish", msg_id=42, status="failed"))
    assert (fields["Event"], fields["MsgID"], fields["Status"]) == (
        "TEMPLATESENDJOBFINISH",
        "42",
        "failed",
    )


# --- --host: the Host header of every request -------------------------------------------------


@pytest.fixture
def public_host_only(settings):
    # The live server answers only its public name, as a production site does.
    settings.ALLOWED_HOSTS = [PUBLIC_HOST]
    settings.DEBUG = False


@live
@pytest.mark.parametrize("mode", ["plain", "compat", "aes"])
def test_host_sets_the_host_header_in_every_mode(endpoint, public_host_only, mode):
    make_rule("greeting", keywords=["你好"], text="您好")

    output = wxsend("--url", endpoint, "--host", PUBLIC_HOST, "--mode", mode, "text", "你好")

    assert "← text" in output and "您好" in output
    assert Message.objects.get().mode == mode


@live
def test_without_host_the_urls_host_is_refused_and_named(endpoint, public_host_only):
    with pytest.raises(CommandError) as raised:
        wxsend("--url", endpoint, "text", "hi")

    # Named without the port: ALLOWED_HOSTS holds names, never host:port.
    assert str(raised.value) == host_refused(endpoint, urlsplit(endpoint).hostname)
    assert not Message.objects.exists()


@live
def test_host_holds_for_every_message_of_a_chat(endpoint, public_host_only):
    lines = "你好\n/click MENU_1\n/mode aes\n/subscribe 7\n"

    output = wxsend("--url", endpoint, "--host", PUBLIC_HOST, "chat", stdin=StringIO(lines))

    assert f"wxsend chat with {endpoint} (Host: {PUBLIC_HOST})" in output
    assert Message.objects.count() == 3


def test_host_is_sent_in_every_mode_chat_and_verify(stub):
    stub.echo = True
    host = f"{PUBLIC_HOST}:8443"

    wxsend("--url", stub.url, "--host", host, "--mode", "aes", "text", "x")
    wxsend(
        "--url", stub.url, "--host", host, "chat", stdin=StringIO("a\n/click K\n/mode compat\nb\n")
    )
    wxsend("--url", stub.url, "--host", host, "verify")
    wxsend("--url", stub.url, "verify")

    methods = [method for method, _path, _headers, _body in stub.requests]
    assert methods == ["POST"] * 4 + ["GET"] * 2
    assert stub.host_headers == [host] * 5 + [urlsplit(stub.url).netloc]
    assert all(len(headers.get_all("Host")) == 1 for _m, _p, headers, _b in stub.requests)


def test_host_is_shown_at_verbosity_2(stub):
    output = wxsend("--url", stub.url, "--host", PUBLIC_HOST, "-v", "2", "text", "x")

    assert f"\nHost: {PUBLIC_HOST}\n" in output


@pytest.mark.parametrize("host", ["wx example.com", "wx.example.com/wechat", "a\r\nX-Evil: 1"])
def test_a_host_that_is_not_a_host_name_is_refused(stub, host):
    with pytest.raises(CommandError, match="--host must be a host name or address"):
        wxsend("--url", stub.url, "--host", host, "text", "x")
    assert stub.requests == []


# --- a real server whose DJANGO_ALLOWED_HOSTS holds only the public name ----------------------


@pytest.fixture(scope="module")
def strict_server(tmp_path_factory):
    """gunicorn (gunicorn.conf.py, DEBUG off) with DJANGO_ALLOWED_HOSTS=wx.example.test only.

    Its database is its own SQLite file, whatever the test run uses.
    """
    workdir = tmp_path_factory.mktemp("strict_server")
    port = free_port()
    env = server_env(
        f"sqlite:///{workdir / 'db.sqlite3'}",
        workdir / "spool",
        DJANGO_ALLOWED_HOSTS=PUBLIC_HOST,
        GUNICORN_BIND=f"127.0.0.1:{port}",
        GUNICORN_WORKERS="1",
    )
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=ROOT,
        env=env,
        check=True,
        timeout=120,
    )
    log_path = workdir / "gunicorn.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wxsite.wsgi"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own group: the SIGKILL below reaches only gunicorn
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, log_path.read_text(errors="replace")
            assert time.monotonic() < deadline, log_path.read_text(errors="replace")
            try:
                # /healthz answers any Host, so a load balancer can call it by IP.
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                    break
            except (OSError, urllib.error.URLError):
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/wechat/"
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)


def test_verify_names_the_refused_host_in_one_line_and_exits_1(strict_server):
    result = wxsend_process("--url", strict_server, "verify")

    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.strip() == f"CommandError: {host_refused(strict_server, '127.0.0.1')}"


def test_verify_passes_with_the_allowed_host(strict_server):
    result = wxsend_process("--url", strict_server, "--host", PUBLIC_HOST, "verify")

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(
        f"OK: {strict_server} (Host: {PUBLIC_HOST}) answered the echostr as text/plain in "
    )
    assert len(result.stdout.strip().splitlines()) == 1


def test_a_message_to_a_refused_host_names_it(strict_server):
    result = wxsend_process("--url", strict_server, "text", "hi")

    assert result.returncode == 1
    assert result.stderr.strip() == f"CommandError: {host_refused(strict_server, '127.0.0.1')}"


def test_a_message_with_the_allowed_host_is_answered(strict_server):
    result = wxsend_process(
        "--url", strict_server, "--host", PUBLIC_HOST, "--mode", "aes", "event", "subscribe"
    )

    assert result.returncode == 0, result.stderr
    assert "(no reply: the endpoint answered success)" in result.stdout


# --- verify: the console's URL check ----------------------------------------------------------


@live
def test_verify_with_the_right_token_passes(endpoint):
    output = wxsend("--url", endpoint, "verify")

    assert output.startswith(f"OK: {endpoint} answered the echostr as text/plain in ")
    assert output.rstrip().endswith("the console's 提交 (submit) will pass with this token.")
    assert not Message.objects.exists()  # a GET check stores nothing


@live
def test_verify_with_a_wrong_token_says_to_check_it(endpoint):
    with pytest.raises(CommandError) as raised:
        wxsend("--url", endpoint, "--token", "not-the-console-token", "verify")

    assert str(raised.value) == (
        f"{endpoint}: the server refused the signature: check WECHAT_TOKEN matches the "
        "console's Token."
    )


@live
def test_verify_ignores_the_mode_and_needs_no_aes_key(endpoint, settings):
    settings.WECHAT_ENCODING_AES_KEY = ""

    assert wxsend("--url", endpoint, "--mode", "aes", "verify").startswith("OK: ")


def test_verify_sends_exactly_what_wechat_sends(stub):
    stub.echo = True

    output = wxsend("--url", stub.url, "-v", "2", "verify")

    [(method, path, headers, body)] = stub.requests
    query = dict(parse_qsl(urlsplit(path).query))
    assert method == "GET" and body == b""
    assert list(query) == ["signature", "echostr", "timestamp", "nonce"]
    assert query["signature"] == compute_signature(TOKEN, query["timestamp"], query["nonce"])
    assert abs(int(query["timestamp"]) - time.time()) < 60
    assert query["echostr"].isdigit() and query["nonce"].isdigit()
    assert headers["Host"] == urlsplit(stub.url).netloc
    assert f"text/plain; charset=utf-8: {query['echostr']}" in output


def test_verify_without_a_token_says_where_to_set_it(stub, settings):
    settings.WECHAT_TOKEN = ""

    with pytest.raises(CommandError, match=r"No token: set WECHAT_TOKEN or pass --token"):
        wxsend("--url", stub.url, "verify")
    assert stub.requests == []


def test_verify_refuses_html_instead_of_the_echostr(stub):
    stub.headers = {"Content-Type": "text/html"}
    stub.body = b"<!DOCTYPE html>\n<html><head><title>Welcome to nginx!</title></head></html>"

    with pytest.raises(CommandError) as raised:
        wxsend("--url", stub.url, "verify")
    assert str(raised.value) == (
        f"{stub.url} answered HTML (Welcome to nginx!) instead of the echostr: the URL does not "
        "reach wxsite's /wechat/ (another site, a proxy's page?)."
    )


def test_verify_refuses_the_echostr_as_html(stub):
    stub.echo, stub.headers = True, {"Content-Type": "text/html; charset=utf-8"}

    with pytest.raises(
        CommandError, match=r"answered the echostr as 'text/html; .* not text/plain"
    ):
        wxsend("--url", stub.url, "verify")


def test_verify_refuses_another_answer(stub):
    stub.headers, stub.body = {"Content-Type": "text/plain"}, b"success"

    with pytest.raises(CommandError, match=r"answered 'success' instead of the echostr '\d+'"):
        wxsend("--url", stub.url, "verify")


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_verify_and_messages_refuse_a_redirect(stub, status):
    https_url = stub.url.replace("http://", "https://")
    stub.status, stub.headers, stub.body = status, {"Location": https_url}, b""

    with pytest.raises(CommandError) as verify:
        wxsend("--url", stub.url, "verify")
    with pytest.raises(CommandError) as message:
        wxsend("--url", stub.url, "text", "x")

    assert str(verify.value).startswith(
        f"{stub.url} redirects ({status}) to {https_url}: WeChat does not follow redirects — "
    )
    assert "WeChat does not follow redirects and the message would be lost — " in str(message.value)
    assert len(stub.requests) == 2  # neither was followed


def test_verify_slower_than_wechat_waits_fails(stub):
    stub.echo, stub.delay = True, 1.0

    with pytest.raises(CommandError) as raised:
        wxsend("--url", stub.url, "--timeout", "0.3", "verify")
    assert str(raised.value) == (
        f"No answer from {stub.url} within 0.3 s: the console's check would fail "
        "(请求URL超时, the URL timed out)."
    )


def test_verify_without_a_server_says_so(dead_url):
    with pytest.raises(CommandError, match="No server at .* is it running"):
        wxsend("--url", dead_url, "verify")


def test_django_debug_page_for_a_disallowed_host_is_named_too(stub):
    # With DEBUG on, Django answers a bad Host with its technical page, status 400.
    stub.status, stub.headers = 400, {"Content-Type": "text/html; charset=utf-8"}
    stub.body = b"<!DOCTYPE html><html><head><title>DisallowedHost at /wechat/</title>"

    for args in (["verify"], ["text", "x"]):
        with pytest.raises(CommandError) as raised:
            wxsend("--url", stub.url, "--host", "203.0.113.7:80", *args)
        assert str(raised.value) == host_refused(stub.url, "203.0.113.7")


def test_the_endpoints_own_400_is_not_taken_for_a_host(stub):
    stub.status, stub.body = 400, b"The query parameter echostr is missing."

    with pytest.raises(CommandError) as raised:
        wxsend("--url", stub.url, "verify")
    assert "Host header" not in str(raised.value)
    assert "(The query parameter echostr is missing.)" in str(raised.value)


@pytest.mark.parametrize(
    "status, body, expected",
    [
        (503, b"No WeChat token is configured.", "set WECHAT_TOKEN to the console's Token"),
        (404, b"<h1>Not Found</h1>", "(404) — the endpoint is /wechat/"),
        (403, b"The timestamp is outside the accepted time window.", "synchronised (NTP)?"),
        (502, b"<html><head><title>502 Bad Gateway</title>", "502 (502 Bad Gateway) instead"),
    ],
)
def test_verify_says_what_to_fix_for_other_answers(stub, status, body, expected):
    stub.status, stub.body = status, body

    with pytest.raises(CommandError) as raised:
        wxsend("--url", stub.url, "verify")
    assert expected in str(raised.value)
    assert "\n" not in str(raised.value)


# --- TLS: verified against the URL's host; --insecure (testing only) skips that, nothing else --


def _name(common_name):
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _certificate(subject, issuer, public_key, signing_key, *, ca, names=()):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if names:
        alternative = []
        for name in names:
            try:
                alternative.append(x509.IPAddress(ipaddress.ip_address(name)))
            except ValueError:
                alternative.append(x509.DNSName(name))
        builder = builder.add_extension(x509.SubjectAlternativeName(alternative), critical=False)
    return builder.sign(signing_key, hashes.SHA256())


@pytest.fixture(scope="module")
def test_ca(tmp_path_factory):
    """A throwaway CA: returns (its PEM file, a function issuing a server SSLContext for names)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    directory = tmp_path_factory.mktemp("tls")
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("wxsend test CA")
    ca_cert = _certificate(ca_name, ca_name, ca_key.public_key(), ca_key, ca=True)
    ca_file = directory / "ca.pem"
    ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))

    def server_context(*names):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _certificate(
            _name(names[0]), ca_name, key.public_key(), ca_key, ca=False, names=names
        )
        chain = directory / f"{'_'.join(names)}.pem"
        chain.write_bytes(
            cert.public_bytes(serialization.Encoding.PEM)
            + key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(chain)
        return context

    return ca_file, server_context


@pytest.fixture
def tls_stub(test_ca):
    """Start https stubs with a certificate from the test CA for the given names."""
    started = []

    def start(*names):
        server = StubWeChatEndpoint(tls=test_ca[1](*names))
        server.echo = True
        started.append(server)
        return server

    yield start
    for server in started:
        server.close()


@pytest.fixture
def trust_test_ca(test_ca, monkeypatch):
    # OpenSSL reads SSL_CERT_FILE each time a default context loads its CAs.
    monkeypatch.setenv("SSL_CERT_FILE", str(test_ca[0]))


def test_an_untrusted_certificate_is_refused_and_insecure_is_offered(tls_stub):
    server = tls_stub("127.0.0.1")

    for args in (["verify"], ["text", "x"]):
        with pytest.raises(CommandError) as raised:
            wxsend("--url", server.url, *args)
        message = str(raised.value)
        assert message.startswith(f"The TLS certificate of {server.url} does not verify (")
        assert message.endswith(
            "): fix the certificate; only to test with a self-signed one, pass --insecure."
        )
    assert server.requests == []


def test_insecure_skips_only_the_certificate_check(tls_stub):
    server = tls_stub("127.0.0.1")
    err = StringIO()

    output = wxsend("--url", server.url, "--insecure", "--host", PUBLIC_HOST, "verify", stderr=err)

    assert output.startswith("OK: ")
    assert "--insecure: the TLS certificate is not verified (testing only)" in err.getvalue()
    assert server.host_headers == [PUBLIC_HOST]
    # Everything but the certificate is still checked: the echostr, the reply's signature.
    server.echo, server.headers, server.body = False, {"Content-Type": "text/plain"}, b"nope"
    with pytest.raises(CommandError, match="answered 'nope' instead of the echostr"):
        wxsend("--url", server.url, "--insecure", "verify")
    server.body = encrypted_reply(token="another-token")
    with pytest.raises(CommandError, match="does not verify: signature mismatch"):
        wxsend("--url", server.url, "--insecure", "--mode", "aes", "text", "x")


def test_insecure_changes_nothing_over_http(stub):
    stub.echo = True
    err = StringIO()

    wxsend("--url", stub.url, "--insecure", "--host", PUBLIC_HOST, "verify", stderr=err)
    wxsend("--url", stub.url, "--host", PUBLIC_HOST, "verify")

    first, second = stub.requests
    assert stub.host_headers == [PUBLIC_HOST, PUBLIC_HOST]
    assert sorted(first[2].keys()) == sorted(second[2].keys())
    assert err.getvalue() == ""


def test_the_certificate_is_checked_against_the_urls_host_not_the_host_header(
    tls_stub, trust_test_ca
):
    by_ip = tls_stub("127.0.0.1")
    by_name = tls_stub(PUBLIC_HOST)

    # A trusted certificate for the URL's host: verified, whatever Host header is sent.
    assert wxsend("--url", by_ip.url, "--host", PUBLIC_HOST, "verify").startswith("OK: ")
    assert "← " in wxsend("--url", by_ip.url, "--host", PUBLIC_HOST, "text", "x")
    assert by_ip.host_headers == [PUBLIC_HOST, PUBLIC_HOST]
    # A trusted certificate for the Host header's name only: refused, the URL is 127.0.0.1 ...
    with pytest.raises(CommandError, match=r"does not verify \(.*(mismatch|match)"):
        wxsend("--url", by_name.url, "--host", PUBLIC_HOST, "verify")
    assert by_name.requests == []
    # ... unless --insecure, for testing.
    assert wxsend("--url", by_name.url, "--host", PUBLIC_HOST, "--insecure", "verify").startswith(
        "OK: "
    )
