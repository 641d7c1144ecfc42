"""The rule tester promises "what a follower would get": hold it to that, case by case.

Every message type and event goes once through the endpoint (signed, as WeChat posts it) and
once through the admin's tester, against the same real rules; both must pick the same rule and
the same reply. A voice message recognised as "帮助！" once got the help reply from the endpoint
and the default reply from the tester.
"""

import pytest

from replies.models import Message
from replies.protocol import parse_xml
from replies.rules.tester import run_rule_tester
from tests.factories import make_rule

MENU_KEY = "MENU_HELP"

# (tester's msg_type, text, event, event_key) -> the fields WeChat posts for the same action.
CASES = {
    "text exact": (("text", "帮助", "", ""), ("text", {"Content": "帮助"})),
    "text full-width": (("text", "ＨＥＬＰ", "", ""), ("text", {"Content": "ＨＥＬＰ"})),
    "text contains": (("text", "我想问问价格呢", "", ""), ("text", {"Content": "我想问问价格呢"})),
    "text unmatched": (("text", "随便说说", "", ""), ("text", {"Content": "随便说说"})),
    "voice with punctuation": (
        ("voice", "帮助！", "", ""),
        ("voice", {"MediaId": "m1", "Format": "amr", "Recognition": "帮助！"}),
    ),
    "voice with a full stop": (
        ("voice", "帮助。", "", ""),
        ("voice", {"MediaId": "m2", "Format": "amr", "Recognition": "帮助。"}),
    ),
    "voice unrecognised": (
        ("voice", "", "", ""),
        ("voice", {"MediaId": "m3", "Format": "amr"}),
    ),
    "image": (("image", "", "", ""), ("image", {"PicUrl": "https://e.com/a.jpg", "MediaId": "i"})),
    "video": (("video", "", "", ""), ("video", {"MediaId": "v", "ThumbMediaId": "t"})),
    "shortvideo": (
        ("shortvideo", "", "", ""),
        ("shortvideo", {"MediaId": "v", "ThumbMediaId": "t"}),
    ),
    "location": (
        ("location", "广州", "", ""),
        ("location", {"Location_X": "23.1", "Location_Y": "113.3", "Scale": "15", "Label": "广州"}),
    ),
    "link": (
        ("link", "帮助", "", ""),
        ("link", {"Title": "帮助", "Description": "", "Url": "https://e.com/"}),
    ),
    "miniprogrampage": (
        ("miniprogrampage", "卡片", "", ""),
        ("miniprogrampage", {"Title": "卡片", "AppId": "wx1", "PagePath": "p", "ThumbUrl": ""}),
    ),
    "follow": (("event", "", "subscribe", ""), ("event", {"Event": "subscribe"})),
    "follow by QR scene": (
        ("event", "", "subscribe", "123"),
        ("event", {"Event": "subscribe", "EventKey": "qrscene_123", "Ticket": "T"}),
    ),
    "follow by QR scene, prefixed key": (
        ("event", "", "subscribe", "qrscene_123"),
        ("event", {"Event": "subscribe", "EventKey": "qrscene_123", "Ticket": "T"}),
    ),
    "scan": (("event", "", "scan", "123"), ("event", {"Event": "SCAN", "EventKey": "123"})),
    "scan of another scene": (
        ("event", "", "scan", "999"),
        ("event", {"Event": "SCAN", "EventKey": "999"}),
    ),
    "unfollow": (("event", "", "unsubscribe", ""), ("event", {"Event": "unsubscribe"})),
    "menu click": (
        ("event", "", "click", MENU_KEY),
        ("event", {"Event": "CLICK", "EventKey": MENU_KEY}),
    ),
    "menu click, other key": (
        ("event", "", "click", "OTHER"),
        ("event", {"Event": "CLICK", "EventKey": "OTHER"}),
    ),
    "menu link": (
        ("event", "", "view", "https://e.com/"),
        ("event", {"Event": "VIEW", "EventKey": "https://e.com/"}),
    ),
    "scancode_push": (
        ("event", "", "scancode_push", MENU_KEY),
        (
            "event",
            {
                "Event": "scancode_push",
                "EventKey": MENU_KEY,
                "ScanCodeInfo": {"ScanType": "qrcode", "ScanResult": "x"},
            },
        ),
    ),
    "scancode_waitmsg": (
        ("event", "", "scancode_waitmsg", MENU_KEY),
        (
            "event",
            {
                "Event": "scancode_waitmsg",
                "EventKey": MENU_KEY,
                "ScanCodeInfo": {"ScanType": "qrcode", "ScanResult": "x"},
            },
        ),
    ),
    "pic_sysphoto": (
        ("event", "", "pic_sysphoto", MENU_KEY),
        ("event", {"Event": "pic_sysphoto", "EventKey": MENU_KEY, "SendPicsInfo": {"Count": 0}}),
    ),
    "pic_photo_or_album": (
        ("event", "", "pic_photo_or_album", MENU_KEY),
        ("event", {"Event": "pic_photo_or_album", "EventKey": MENU_KEY}),
    ),
    "pic_weixin": (
        ("event", "", "pic_weixin", MENU_KEY),
        ("event", {"Event": "pic_weixin", "EventKey": MENU_KEY}),
    ),
    "location_select": (
        ("event", "", "location_select", MENU_KEY),
        ("event", {"Event": "location_select", "EventKey": MENU_KEY}),
    ),
    "location report": (
        ("event", "", "location", ""),
        (
            "event",
            {"Event": "LOCATION", "Latitude": "23.1", "Longitude": "113.3", "Precision": "1"},
        ),
    ),
    "view_miniprogram": (
        ("event", "", "view_miniprogram", "pages/index"),
        ("event", {"Event": "view_miniprogram", "EventKey": "pages/index"}),
    ),
}


@pytest.fixture
def rules(db):
    make_rule("help", keywords=["帮助", "help"], text="帮助文档")
    make_rule("price", keywords=["价格"], match="contains", text="价格表")
    make_rule("images", triggers=[("msg_type", "image", "")], text="收到图片")
    make_rule("locations", triggers=[("msg_type", "location", "")], text="收到位置")
    make_rule("follow", triggers=[("subscribe", "", "")], text="欢迎关注")
    make_rule("follow 123", triggers=[("subscribe", "123", "")], text="扫码关注 123")
    make_rule("scan 123", triggers=[("scan", "123", "")], text="又扫了 123")
    make_rule("menu", triggers=[("click", MENU_KEY, "")], text="菜单帮助")
    make_rule("default", triggers=[("default", "", "")], text="默认回复")


def content_of(reply_xml: str) -> str:
    return parse_xml(reply_xml.encode())["Content"] if reply_xml else ""


@pytest.mark.parametrize("name", sorted(CASES))
def test_tester_and_endpoint_choose_the_same_rule_and_reply(name, rules, wechat):
    (msg_type, text, event, event_key), (wire_type, fields) = CASES[name]
    response = wechat.post(wechat.xml(wire_type, **fields))
    assert response.status_code == 200
    stored = Message.objects.get()

    tested = run_rule_tester(msg_type=msg_type, text=text, event=event, event_key=event_key)

    assert (tested.winner.rule.id if tested.winner else None) == stored.rule_id, name
    assert content_of(tested.reply_xml) == content_of(stored.reply_xml), name
    assert tested.query.msg_type == stored.msg_type and tested.query.event == stored.event


def test_voice_with_punctuation_gets_the_help_reply_in_the_tester(rules):
    tested = run_rule_tester(msg_type="voice", text="帮助！", event="", event_key="")
    assert tested.winner.rule.name == "help"
    assert content_of(tested.reply_xml) == "帮助文档"


def test_the_tester_form_offers_every_stored_type_and_event():
    from replies.models import EventType, MessageType
    from replies.rules.forms import RuleTesterForm

    form = RuleTesterForm()
    assert {value for value, _label in form.fields["msg_type"].choices} == set(MessageType.values)
    assert {value for value, _label in form.fields["event"].choices} >= set(EventType.values)
