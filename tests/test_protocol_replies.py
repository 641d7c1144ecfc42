"""Tests for replies.protocol.replies: rendering every reply type and converting to dicts."""

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from replies.protocol.messages import parse_xml
from replies.protocol.replies import (
    Article,
    ImageReply,
    MusicReply,
    NewsReply,
    TextReply,
    TransferCustomerServiceReply,
    VideoReply,
    VoiceReply,
    check_reply,
    max_news_articles,
    render_encrypted_reply,
    render_reply,
    reply_from_dict,
    reply_to_dict,
    summarize_reply,
)
from replies.protocol.vocabulary import SINGLE_ARTICLE_TYPES

OPENID = "oyORnuP8q7ou2gfYjqLzSIWZf0rs"
ACCOUNT = "gh_10f6c3c3ac5a"
NOW = 1409735670
HEAD = {"ToUserName": OPENID, "FromUserName": ACCOUNT, "CreateTime": str(NOW)}


def render(reply, in_reply_to=""):
    return render_reply(
        reply, to_user=OPENID, from_user=ACCOUNT, create_time=NOW, in_reply_to=in_reply_to
    )


def articles(count):
    return tuple(
        Article(
            title=f"标题 {n}",
            description=f"描述 {n}",
            pic_url=f"https://example.com/{n}.jpg",
            url=f"https://example.com/{n}",
        )
        for n in range(1, count + 1)
    )


def test_text_reply_renders_exactly_like_wechat_documents():
    assert (
        render(TextReply(content="你好"))
        == (
            "<xml><ToUserName><![CDATA[oyORnuP8q7ou2gfYjqLzSIWZf0rs]]></ToUserName>"
            "<FromUserName><![CDATA[gh_10f6c3c3ac5a]]></FromUserName>"
            "<CreateTime>1409735670</CreateTime>"
            "<MsgType><![CDATA[text]]></MsgType>"
            "<Content><![CDATA[你好]]></Content></xml>"
        ).encode()
    )


REPLIES = {
    "text": (TextReply(content="第一行\n第二行"), {"Content": "第一行\n第二行"}),
    "image": (ImageReply(media_id="media_1"), {"Image": {"MediaId": "media_1"}}),
    "voice": (VoiceReply(media_id="media_2"), {"Voice": {"MediaId": "media_2"}}),
    "video": (
        VideoReply(media_id="media_3", title="视频", description="说明"),
        {"Video": {"MediaId": "media_3", "Title": "视频", "Description": "说明"}},
    ),
    "music": (
        MusicReply(
            title="歌",
            description="描述",
            music_url="https://example.com/a.mp3",
            hq_music_url="https://example.com/a.flac",
            thumb_media_id="thumb_1",
        ),
        {
            "Music": {
                "Title": "歌",
                "Description": "描述",
                "MusicUrl": "https://example.com/a.mp3",
                "HQMusicUrl": "https://example.com/a.flac",
                "ThumbMediaId": "thumb_1",
            }
        },
    ),
    "news": (
        NewsReply(articles=articles(2)),
        {
            "ArticleCount": "2",
            "Articles": {
                "item": [
                    {
                        "Title": "标题 1",
                        "Description": "描述 1",
                        "PicUrl": "https://example.com/1.jpg",
                        "Url": "https://example.com/1",
                    },
                    {
                        "Title": "标题 2",
                        "Description": "描述 2",
                        "PicUrl": "https://example.com/2.jpg",
                        "Url": "https://example.com/2",
                    },
                ]
            },
        },
    ),
    "transfer_customer_service": (
        TransferCustomerServiceReply(kf_account="test1@test"),
        {"TransInfo": {"KfAccount": "test1@test"}},
    ),
}


@pytest.mark.parametrize("name", sorted(REPLIES))
def test_every_reply_type_renders_and_parses_back(name):
    reply, body = REPLIES[name]
    assert reply.msg_type == name
    assert parse_xml(render(reply, in_reply_to="event")) == {**HEAD, "MsgType": name, **body}


@pytest.mark.parametrize("name", sorted(REPLIES))
def test_reply_xml_has_no_declaration_and_plain_number_create_time(name):
    xml = render(REPLIES[name][0])
    assert xml.startswith(b"<xml><ToUserName><![CDATA[")
    assert b"<CreateTime>1409735670</CreateTime>" in xml
    assert f"<MsgType><![CDATA[{name}]]></MsgType>".encode() in xml


def test_strings_are_in_cdata_and_counts_are_plain():
    xml = render(REPLIES["news"][0], in_reply_to="event")
    assert b"<ArticleCount>2</ArticleCount>" in xml
    assert "<Title><![CDATA[标题 1]]></Title>".encode() in xml
    assert b"<Url><![CDATA[https://example.com/1]]></Url>" in xml
    xml = render(REPLIES["music"][0])
    assert b"<HQMusicUrl><![CDATA[https://example.com/a.flac]]></HQMusicUrl>" in xml


def test_empty_optional_strings_render_as_empty_cdata():
    xml = render(VideoReply(media_id="m"))
    assert b"<Title><![CDATA[]]></Title><Description><![CDATA[]]></Description>" in xml


def test_transfer_without_account_has_no_trans_info():
    xml = render(TransferCustomerServiceReply())
    assert b"TransInfo" not in xml
    assert parse_xml(xml) == {**HEAD, "MsgType": "transfer_customer_service"}


@pytest.mark.parametrize("msg_type", sorted(SINGLE_ARTICLE_TYPES))
def test_news_in_reply_to_a_message_keeps_one_article(msg_type):
    fields = parse_xml(render(NewsReply(articles=articles(3)), in_reply_to=msg_type))
    assert fields["ArticleCount"] == "1"
    assert fields["Articles"]["item"]["Title"] == "标题 1"


@pytest.mark.parametrize("in_reply_to", ["event", "", "miniprogrampage", "unknown"])
def test_news_in_reply_to_an_event_keeps_up_to_eight(in_reply_to):
    fields = parse_xml(render(NewsReply(articles=articles(10)), in_reply_to=in_reply_to))
    assert fields["ArticleCount"] == "8"
    assert [item["Title"] for item in fields["Articles"]["item"]] == [
        f"标题 {n}" for n in range(1, 9)
    ]


def test_max_news_articles_ignores_case():
    assert max_news_articles("TEXT") == 1
    assert max_news_articles("ShortVideo") == 1
    assert max_news_articles("event") == 8
    assert max_news_articles("") == 8


def test_news_without_articles_cannot_render():
    with pytest.raises(ValueError, match="at least one article"):
        render(NewsReply(articles=()))


def test_news_reply_accepts_a_list_and_stays_hashable():
    reply = NewsReply(articles=list(articles(2)))
    assert reply.articles == articles(2)
    assert hash(reply) == hash(NewsReply(articles=articles(2)))


TRICKY = [
    "]]>",
    "a]]>b",
    "]]>]]>",
    "]]]>>",
    "]]",
    "x]",
    "<![CDATA[nested]]>",
    "<&>\"'",
    "&amp; &lt;",
    "😀 emoji",
    "第一行\n第二行\n",
    "  leading and trailing  ",
    "\ttab",
    "",
    "中文" * 500,
]


@pytest.mark.parametrize("content", TRICKY)
def test_text_content_survives_a_round_trip_exactly(content):
    assert parse_xml(render(TextReply(content=content)))["Content"] == content


@pytest.mark.parametrize("value", TRICKY)
def test_every_string_field_survives_a_round_trip(value):
    reply = NewsReply(articles=(Article(title=value, description=value, pic_url=value, url=value),))
    xml = render_reply(reply, to_user=value or "u", from_user=value or "g", create_time=NOW)
    fields = parse_xml(xml)
    assert fields["ToUserName"] == (value or "u")
    assert fields["Articles"]["item"] == {
        "Title": value,
        "Description": value,
        "PicUrl": value,
        "Url": value,
    }


def test_a_string_holding_end_of_cdata_is_written_as_escaped_text():
    xml = render(TextReply(content="a]]><b>&"))
    assert b"<Content>a]]&gt;&lt;b&gt;&amp;</Content>" in xml
    # Only that element: the others keep their CDATA.
    assert b"<MsgType><![CDATA[text]]></MsgType>" in xml


@pytest.mark.parametrize("content", ["]", "x]", "]]", "a]]", "[", "]]]]"])
def test_cdata_ending_in_a_bracket_renders_many_times(content):
    # lxml's xmlfile writer crashes the interpreter on CDATA ending in "]"; the tree
    # serializer used here must not.
    for _ in range(2000):
        assert parse_xml(render(TextReply(content=content)))["Content"] == content


def test_characters_xml_forbids_are_dropped_not_fatal():
    content = "a\x00b\x01c\x08d\x0be\x0cf\x1fg\ufffeh\uffffi\ud800j"
    xml = render(TextReply(content=content))
    assert parse_xml(xml)["Content"] == "abcdefghij"


def test_characters_xml_allows_are_kept():
    content = "tab\there\x7f\x85\u2028\U0010fffd"
    assert parse_xml(render(TextReply(content=content)))["Content"] == content


@pytest.mark.parametrize("suffix", ["", "]]>"])
def test_carriage_returns_become_newlines_in_cdata_and_escaped_text_alike(suffix):
    content = "a\r\nb\rc" + suffix
    assert parse_xml(render(TextReply(content=content)))["Content"] == "a\nb\nc" + suffix


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
@example("\r\x00\n]]>\ud800")
def test_any_text_round_trips_up_to_forbidden_characters_and_line_ends(content):
    allowed = "".join(
        ch
        for ch in content
        if ch in "\t\n\r"
        or ("\x20" <= ch <= "\ud7ff")
        or ("\ue000" <= ch <= "\ufffd")
        or ch > "\uffff"
    )
    expected = allowed.replace("\r\n", "\n").replace("\r", "\n")
    assert parse_xml(render(TextReply(content=content)))["Content"] == expected


def test_render_refuses_something_that_is_not_a_reply():
    with pytest.raises(TypeError):
        render("hello")


def test_encrypted_reply_envelope_matches_wechat_shape():
    xml = render_encrypted_reply(
        encrypt="abc+/=", msg_signature="f" * 40, timestamp="1409735670", nonce="1320562132"
    )
    assert xml == (
        b"<xml><Encrypt><![CDATA[abc+/=]]></Encrypt>"
        b"<MsgSignature><![CDATA[" + b"f" * 40 + b"]]></MsgSignature>"
        b"<TimeStamp>1409735670</TimeStamp>"
        b"<Nonce><![CDATA[1320562132]]></Nonce></xml>"
    )


# --- dict conversion ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(REPLIES))
def test_reply_dict_round_trip(name):
    reply = REPLIES[name][0]
    data = reply_to_dict(reply)
    assert data["type"] == name
    assert reply_from_dict(data) == reply


def test_reply_to_dict_shapes():
    assert reply_to_dict(TextReply(content="hi")) == {"type": "text", "content": "hi"}
    assert reply_to_dict(NewsReply(articles=(Article(title="t"),))) == {
        "type": "news",
        "articles": [{"title": "t", "description": "", "pic_url": "", "url": ""}],
    }
    assert reply_to_dict(TransferCustomerServiceReply()) == {
        "type": "transfer_customer_service",
        "kf_account": "",
    }


def test_reply_from_dict_fills_defaults():
    assert reply_from_dict({"type": "video", "media_id": "m"}) == VideoReply(media_id="m")
    assert reply_from_dict({"type": "news", "articles": [{"title": "t"}]}) == NewsReply(
        articles=(Article(title="t"),)
    )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("text", "mapping"),
        ({}, "Unknown reply type"),
        ({"type": "sticker"}, "Unknown reply type 'sticker'"),
        ({"type": ["text"]}, "Unknown reply type"),
        ({"type": "text"}, "missing the field(s): content"),
        ({"type": "image"}, "missing the field(s): media_id"),
        ({"type": "text", "content": "x", "extra": 1}, "unexpected field(s): extra"),
        ({"type": "text", "content": 5}, "content must be a string"),
        ({"type": "text", "content": None}, "content must be a string"),
        ({"type": "news", "articles": "abc"}, "needs a list of articles"),
        ({"type": "news", "articles": ["t"]}, "Article 1 must be a mapping"),
        ({"type": "news", "articles": [{"title": "t"}, {}]}, "Article 2 is missing"),
        ({"type": "news", "articles": [{"title": "t", "type": "x"}]}, "unexpected field(s): type"),
        ({"type": "news", "articles": [{"title": 1}]}, "title must be a string"),
    ],
)
def test_reply_from_dict_refuses_bad_input_with_a_clear_message(data, message):
    with pytest.raises(ValueError) as caught:
        reply_from_dict(data)
    assert message in str(caught.value)


# --- summaries ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "summary"),
    [
        (TextReply(content="你好"), "text: 你好"),
        (TextReply(content="line one\nline  two"), "text: line one line two"),
        (TextReply(content=""), "text"),
        (ImageReply(media_id="m1"), "image: m1"),
        (VoiceReply(media_id="m2"), "voice: m2"),
        (VideoReply(media_id="m3", title="片"), "video: 片"),
        (VideoReply(media_id="m3"), "video: m3"),
        (MusicReply(title="歌"), "music: 歌"),
        (NewsReply(articles=articles(3)), "news: (3) 标题 1"),
        (TransferCustomerServiceReply(), "transfer_customer_service"),
        (TransferCustomerServiceReply(kf_account="kf@x"), "transfer_customer_service: kf@x"),
    ],
)
def test_summarize_reply(reply, summary):
    assert summarize_reply(reply) == summary


def test_summarize_reply_truncates_to_60_characters():
    summary = summarize_reply(TextReply(content="你好" * 100))
    assert len(summary) == 60
    assert summary.startswith("text: 你好")
    assert summary.endswith("…")


# --- check_reply: the one validator of a reply -------------------------------------------------


def codes(reply):
    return [(problem.field, problem.code) for problem in check_reply(reply)]


def test_check_reply_accepts_a_sendable_reply_of_every_type():
    article = Article("t", url="https://e.com/")
    for reply in (
        TextReply("hi"),
        ImageReply("m"),
        VoiceReply("m"),
        VideoReply("m"),
        MusicReply(music_url="https://e.com/a.mp3", thumb_media_id="t"),
        NewsReply((article,)),
        TransferCustomerServiceReply(),
    ):
        assert check_reply(reply) == [], reply


def test_check_reply_counts_text_in_utf8_bytes():
    assert codes(TextReply("中" * 682)) == []
    assert codes(TextReply("中" * 683)) == [("content", "too_long")]
    assert codes(TextReply("  ")) == [("content", "required")]


def test_check_reply_needs_media_ids_and_a_music_url():
    assert codes(ImageReply("")) == [("media_id", "required")]
    assert codes(MusicReply()) == [("thumb_media_id", "required"), ("music_url", "required")]
    assert codes(MusicReply(music_url="ftp://x", thumb_media_id="t")) == [("music_url", "url")]


def test_check_reply_judges_the_articles_of_a_news_reply():
    good = Article("t", url="https://e.com/")
    assert codes(NewsReply(())) == [("articles", "required")]
    assert codes(NewsReply((good,) * 9)) == [("articles", "too_many")]
    assert codes(NewsReply((Article("", url="https://e.com/"),))) == [("articles", "article")]
    bad_link = Article("t", url="javascript:alert(1)", pic_url="ftp://p")
    assert codes(NewsReply((bad_link,))) == [("articles", "article_url")] * 2
    problem = check_reply(NewsReply((good, bad_link)))[0]
    assert problem.values == {"n": 2, "link": "javascript:alert(1)"}
