"""`manage.py wxsend` against a live wxsite (and against stub servers for the failures)."""

import http.server
import socket
import subprocess
import sys
import threading
import time
from io import StringIO
from pathlib import Path

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


def wxsend(*args, stdin=None):
    """Run wxsend and return what it printed."""
    out = StringIO()
    extra = {"stdin": stdin} if stdin is not None else {}
    call_command("wxsend", *args, stdout=out, stderr=StringIO(), **extra)
    return out.getvalue()


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
    assert stored.account == DEFAULT_ACCOUNT
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
    """A server that answers every POST with a fixed status and body, optionally late."""

    def __init__(self):
        self.status, self.body, self.delay = 200, b"success", 0.0
        stub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                time.sleep(stub.delay)
                self.send_response(stub.status)
                self.send_header("Content-Length", str(len(stub.body)))
                self.end_headers()
                try:
                    self.wfile.write(stub.body)
                except OSError:  # the client gave up (timeout test)
                    pass

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/wechat/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

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
