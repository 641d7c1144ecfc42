"""The /wechat/ endpoint through HTTP: verification, every message type, modes, replies, retries."""

import time
from urllib.parse import urlencode

import pytest
from lxml import etree

from replies.endpoint import handling
from replies.models import Message
from replies.protocol import (
    Article,
    Credentials,
    ImageReply,
    MusicReply,
    NewsReply,
    TextReply,
    TransferCustomerServiceReply,
    VideoReply,
    VoiceReply,
    compute_signature,
    decode_aes_key,
    parse_xml,
)
from replies.rules.choice import ReplyChoice
from tests import accounts_helpers
from tests.conftest import ACCOUNT, AES_KEY, APP_ID, OLD_AES_KEY, OPENID, TOKEN
from tests.samples import EVENTS, MESSAGES

pytestmark = pytest.mark.django_db

# A fixture: each endpoint path in turn (/wechat/ and a stored account's /wechat/<slug>/).
endpoint = accounts_helpers.endpoint


def verify_query(**overrides):
    timestamp, nonce = str(int(time.time())), "nonce123"
    query = {
        "signature": compute_signature(TOKEN, timestamp, nonce),
        "timestamp": timestamp,
        "nonce": nonce,
        "echostr": "echo-7788",
    }
    query.update(overrides)
    return {k: v for k, v in query.items() if v is not None}


def test_url_verification_echoes_echostr_as_plain_text(client, endpoint):
    response = client.get(f"{endpoint.path}?{urlencode(verify_query())}")
    assert response.status_code == 200
    assert response.content == b"echo-7788"
    assert response["Content-Type"].startswith("text/plain")


@pytest.mark.parametrize(
    "overrides, status",
    [
        ({"signature": "0" * 40}, 403),
        ({"signature": None}, 400),
        ({"echostr": None}, 400),
        ({"nonce": None}, 400),
        ({"timestamp": "12x"}, 400),
    ],
)
def test_url_verification_refuses_bad_requests(client, endpoint, overrides, status):
    response = client.get(f"{endpoint.path}?{urlencode(verify_query(**overrides))}")
    assert response.status_code == status
    assert b"echo-7788" not in response.content


def test_url_verification_refuses_a_stale_timestamp(client, endpoint):
    stale = str(int(time.time()) - 301)
    query = verify_query(timestamp=stale, signature=compute_signature(TOKEN, stale, "nonce123"))
    assert client.get(f"{endpoint.path}?{urlencode(query)}").status_code == 403


def test_endpoint_refuses_everything_without_a_token(client, endpoint):
    endpoint.configure(token="")
    timestamp = str(int(time.time()))
    query = verify_query(
        signature=compute_signature("", timestamp, "nonce123"), timestamp=timestamp
    )
    response = client.get(f"{endpoint.path}?{urlencode(query)}")
    assert response.status_code == 503
    assert b"echo-7788" not in response.content


def test_other_methods_are_not_allowed(client, endpoint):
    assert client.put(endpoint.path).status_code == 405


@pytest.mark.parametrize("name", sorted(MESSAGES))
def test_every_message_type_is_stored_with_its_columns(wechat, name):
    msg_type, fields = MESSAGES[name]
    xml = wechat.xml(msg_type, **fields)
    response = wechat.post(xml)
    assert response.status_code == 200
    assert response.content == b"success"
    row = Message.objects.get()
    assert row.msg_type == msg_type
    assert row.openid == OPENID and row.to_user == ACCOUNT
    assert row.raw_xml == xml.decode()
    assert row.msg_id
    assert row.handling_ms > 0
    if msg_type == "text":
        assert row.content == fields["Content"]
    if msg_type == "voice":
        assert row.recognition == "腾讯微信团队" and row.media_id == "media_voice_1"
    if msg_type == "location":
        assert row.latitude == pytest.approx(23.134521) and row.label == "广州"
    if msg_type == "link":
        assert row.url == fields["Url"] and row.title == fields["Title"]


@pytest.mark.parametrize("name", sorted(EVENTS))
def test_every_event_is_stored_with_its_lowercased_name(wechat, name):
    fields = dict(EVENTS[name])
    response = wechat.post(wechat.xml("event", **fields))
    assert response.status_code == 200
    row = Message.objects.get()
    assert row.msg_type == "event"
    assert row.event == fields["Event"].lower()
    assert row.event_key == str(fields.get("EventKey", ""))


def test_location_event_fills_latitude_and_longitude(wechat):
    wechat.post(wechat.xml("event", **EVENTS["location"]))
    row = Message.objects.get()
    assert (row.latitude, row.longitude) == (pytest.approx(23.137466), pytest.approx(113.352425))


def test_unknown_message_type_is_stored_as_it_came(wechat):
    xml = wechat.xml("hologram", Shape="cube")
    response = wechat.post(xml)
    assert response.status_code == 200
    row = Message.objects.get()
    assert row.msg_type == "hologram" and row.raw_xml == xml.decode()


@pytest.mark.parametrize("mode", ["plain", "compat", "aes"])
def test_each_mode_stores_the_message_and_answers_in_kind(wechat, mode, monkeypatch):
    monkeypatch.setattr(
        handling,
        "choose_reply",
        lambda message, now, **_: ReplyChoice(TextReply("收到 " + message.content)),
    )
    xml = wechat.xml("text", Content="ping")
    response = wechat.post(xml, mode=mode)
    reply = parse_xml(wechat.reply(response, mode=mode))
    assert reply["Content"] == "收到 ping"
    assert reply["ToUserName"] == OPENID and reply["FromUserName"] == ACCOUNT
    row = Message.objects.get()
    assert row.mode == mode
    if mode == "plain":
        assert row.decrypted_xml == ""
    else:
        assert b"<Encrypt>" in row.raw_xml.encode()
        assert row.decrypted_xml == xml.decode()


def test_encrypted_request_without_reply_gets_success(wechat):
    response = wechat.post(wechat.xml("text", Content="x"), mode="aes")
    assert response.content == b"success"


def test_previous_aes_key_still_decrypts_and_the_reply_uses_it(wechat, settings, monkeypatch):
    monkeypatch.setattr(
        handling, "choose_reply", lambda message, now, **_: ReplyChoice(TextReply("ok"))
    )
    settings.WECHAT_ENCODING_AES_KEY = "N" * 43
    settings.WECHAT_ENCODING_AES_KEY_PREVIOUS = AES_KEY
    response = wechat.post(wechat.xml("text", Content="rotate"), mode="aes")
    assert parse_xml(wechat.reply(response, mode="aes"))["Content"] == "ok"
    only_new = Credentials(token=TOKEN, app_id=APP_ID, aes_keys=(decode_aes_key("N" * 43),))
    from replies.protocol import DecryptError
    from replies.protocol.client import open_reply

    with pytest.raises(DecryptError):
        open_reply(body=response.content, credentials=only_new, encrypted=True)


def test_old_key_is_refused_once_rotation_ended(wechat, settings):
    settings.WECHAT_ENCODING_AES_KEY = OLD_AES_KEY
    response = wechat.post(wechat.xml("text", Content="late"), mode="aes")
    assert response.status_code == 400
    assert Message.objects.count() == 0


REPLIES = [
    TextReply("第一行\n第二行 ]]> <&> 😀"),
    ImageReply("media_img"),
    VoiceReply("media_voice"),
    VideoReply("media_video", title="标题", description="描述"),
    MusicReply(
        title="歌",
        description="d",
        music_url="http://m/a.mp3",
        hq_music_url="http://m/hq.mp3",
        thumb_media_id="t",
    ),
    NewsReply((Article("一", "d1", "http://p/1.jpg", "http://u/1"),)),
    TransferCustomerServiceReply(),
    TransferCustomerServiceReply("kf2001@gh_account"),
]


@pytest.mark.parametrize("reply", REPLIES, ids=lambda r: type(r).__name__)
def test_every_reply_type_is_rendered_and_stored(wechat, monkeypatch, reply):
    monkeypatch.setattr(handling, "choose_reply", lambda message, now, **_: ReplyChoice(reply))
    response = wechat.post(wechat.xml("text", Content="hi"))
    assert response["Content-Type"].startswith("application/xml")
    fields = parse_xml(response.content)
    assert fields["MsgType"] == reply.msg_type
    row = Message.objects.get()
    assert row.reply_type == reply.msg_type
    assert row.reply_xml.encode() == response.content
    assert row.reply_summary
    if isinstance(reply, TextReply):
        assert fields["Content"] == reply.content
        assert b"<![CDATA[" in response.content


@pytest.mark.parametrize(
    "msg_type, fields, expected",
    [
        ("text", {"Content": "news"}, 1),
        ("event", {"Event": "CLICK", "EventKey": "NEWS"}, 3),
    ],
)
def test_news_reply_keeps_one_article_for_messages_and_up_to_eight_for_events(
    wechat, monkeypatch, msg_type, fields, expected
):
    articles = tuple(Article(f"t{i}", url=f"http://u/{i}") for i in range(3))
    monkeypatch.setattr(
        handling, "choose_reply", lambda message, now, **_: ReplyChoice(NewsReply(articles))
    )
    fields = parse_xml(wechat.post(wechat.xml(msg_type, **fields)).content)
    assert fields["ArticleCount"] == str(expected)
    items = fields["Articles"]["item"]
    assert len(items if isinstance(items, list) else [items]) == expected


def test_retry_gets_the_first_reply_and_makes_no_second_row(wechat, monkeypatch):
    answers = iter(["first", "second"])
    monkeypatch.setattr(
        handling, "choose_reply", lambda message, now, **_: ReplyChoice(TextReply(next(answers)))
    )
    xml = wechat.xml("text", Content="again")
    query, body = wechat.signed(xml)
    first = wechat.post_raw(query, body)
    retry = wechat.post_raw(query, body)
    assert first.status_code == retry.status_code == 200
    assert retry.content == first.content
    assert parse_xml(retry.content)["Content"] == "first"
    assert Message.objects.count() == 1


def test_retry_with_a_new_nonce_is_still_one_message(wechat):
    xml = wechat.xml("text", Content="again")
    assert wechat.post(xml, nonce="111").status_code == 200
    assert wechat.post(xml, nonce="222").status_code == 200
    assert Message.objects.count() == 1


def test_retry_of_an_encrypted_message_decrypts_to_the_same_reply(wechat, monkeypatch):
    answers = iter(["first", "second"])
    monkeypatch.setattr(
        handling, "choose_reply", lambda message, now, **_: ReplyChoice(TextReply(next(answers)))
    )
    xml = wechat.xml("text", Content="again")
    query, body = wechat.signed(xml, mode="aes")
    first = wechat.reply(wechat.post_raw(query, body), mode="aes")
    retry = wechat.reply(wechat.post_raw(query, body), mode="aes")
    assert retry == first
    assert Message.objects.count() == 1


def test_signed_query_reused_with_another_body_is_refused(wechat):
    query, body = wechat.signed(wechat.xml("text", Content="original"))
    assert wechat.post_raw(query, body).status_code == 200
    forged = wechat.xml("text", Content="forged")
    response = wechat.post_raw(query, forged)
    assert response.status_code == 403
    assert list(Message.objects.values_list("content", flat=True)) == ["original"]


def test_events_in_one_second_differ_by_event_and_key(wechat):
    now = int(time.time())
    wechat.post(wechat.xml("event", create_time=now, Event="CLICK", EventKey="A"))
    wechat.post(wechat.xml("event", create_time=now, Event="CLICK", EventKey="B"))
    wechat.post(wechat.xml("event", create_time=now, Event="VIEW", EventKey="A"))
    wechat.post(wechat.xml("event", create_time=now, Event="CLICK", EventKey="A"), nonce="999")
    assert Message.objects.count() == 3


def test_same_msgid_from_two_followers_is_two_messages(wechat):
    now = int(time.time())
    wechat.post(wechat.xml("text", create_time=now, MsgId=42, Content="a"))
    wechat.post(wechat.xml("text", openid="other-openid", create_time=now, MsgId=42, Content="b"))
    assert Message.objects.count() == 2


def test_endpoint_without_trailing_slash_answers_too(wechat):
    query, body = wechat.signed(wechat.xml("text", Content="x"))
    response = wechat.client.post(f"/wechat?{urlencode(query)}", data=body, content_type="text/xml")
    assert response.status_code == 200


def test_reply_xml_is_well_formed_with_cdata(wechat, monkeypatch):
    monkeypatch.setattr(
        handling, "choose_reply", lambda message, now, **_: ReplyChoice(TextReply("]]>"))
    )
    response = wechat.post(wechat.xml("text", Content="x"))
    root = etree.fromstring(response.content)
    assert root.tag == "xml" and root.findtext("Content") == "]]>"


def test_healthz_reports_the_database(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json()["database"] == "ok"
