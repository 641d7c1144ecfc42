"""The fake WeChat API answers like WeChat: raw HTTP requests, the errcodes WeChat documents.

These requests bypass our client on purpose: they check the fake itself (what the client and the
admin tests rely on), including what a client of ours would never send.
"""

import json

import httpx
import pytest

from wechat_api.fake import FakeWeChatAPI

APP_ID = "wx2c2769f8efd9abc2"
SECRET = "0123456789abcdef0123456789abcdef"


@pytest.fixture
def fake():
    with FakeWeChatAPI(app_id=APP_ID, app_secret=SECRET) as server:
        yield server


@pytest.fixture
def http(fake):
    with httpx.Client(base_url=fake.url, timeout=5, trust_env=False) as client:
        yield client


def stable_token(http, **fields):
    body = {"grant_type": "client_credential", "appid": APP_ID, "secret": SECRET, **fields}
    return http.post("/cgi-bin/stable_token", json=body).json()


@pytest.fixture
def token(http):
    return stable_token(http)["access_token"]


def post_raw(http, path, token, content: bytes):
    return http.post(
        path,
        params={"access_token": token},
        content=content,
        headers={"Content-Type": "application/json"},
    ).json()


def post(http, path, token, body):
    return post_raw(http, path, token, json.dumps(body, ensure_ascii=False).encode())


def get(http, path, token):
    return http.get(path, params={"access_token": token}).json()


# --- stable_token ------------------------------------------------------------------------------


def test_stable_token_gives_the_same_token_until_forced(http):
    first = stable_token(http)
    assert first["expires_in"] == 7200 and first["access_token"]
    assert stable_token(http)["access_token"] == first["access_token"]

    forced = stable_token(http, force_refresh=True)

    assert forced["access_token"] != first["access_token"]
    assert get(http, "/cgi-bin/menu/get", first["access_token"])["errcode"] == 40001


@pytest.mark.parametrize(
    "fields, errcode",
    [
        ({"appid": "wx_someone_else"}, 40013),
        ({"secret": "wrong"}, 40125),
        ({"grant_type": "password"}, 40002),
        ({"appid": ""}, 41002),
        ({"secret": ""}, 41004),
    ],
)
def test_stable_token_checks_the_credentials_it_was_started_with(http, fields, errcode):
    answer = stable_token(http, **fields)
    assert answer["errcode"] == errcode and "access_token" not in answer


def test_stable_token_wants_post(http):
    assert http.get("/cgi-bin/stable_token").json()["errcode"] == 43002


def test_forced_refresh_is_limited_to_twenty_a_day(http):
    for _ in range(20):
        assert "access_token" in stable_token(http, force_refresh=True)
    assert stable_token(http, force_refresh=True)["errcode"] == 45009


@pytest.mark.parametrize("token_value, errcode", [("", 41001), ("made-up", 40001)])
def test_calls_need_a_token_the_fake_issued(http, token_value, errcode):
    assert get(http, "/cgi-bin/menu/get", token_value)["errcode"] == errcode


def test_expired_tokens_are_42001(http, fake, token):
    fake.expire_tokens()
    assert get(http, "/cgi-bin/menu/get", token)["errcode"] == 42001


# --- menu/create ----------------------------------------------------------------------------

EVERY_TYPE = {
    "button": [
        {"type": "click", "name": "今日歌曲", "key": "V1001_TODAY_MUSIC"},
        {
            "name": "菜单",
            "sub_button": [
                {"type": "view", "name": "搜索", "url": "http://www.soso.com/"},
                {
                    "type": "miniprogram",
                    "name": "小程序",
                    "url": "http://mp.weixin.qq.com",
                    "appid": "wx286b93c14bbf93aa",
                    "pagepath": "pages/lunar/index",
                },
                {"type": "scancode_waitmsg", "name": "扫码带提示", "key": "rselfmenu_0_0"},
                {"type": "pic_photo_or_album", "name": "拍照或者相册发图", "key": "rselfmenu_1_1"},
                {"type": "location_select", "name": "发送位置", "key": "rselfmenu_2_0"},
            ],
        },
        {
            "name": "更多",
            "sub_button": [
                {"type": "article_id", "name": "文章", "article_id": "ARTICLE_ID1"},
                {"type": "article_view_limited", "name": "只读文章", "article_id": "ARTICLE_ID2"},
                {"type": "scancode_push", "name": "扫码推事件", "key": "rselfmenu_0_1"},
                {"type": "pic_sysphoto", "name": "系统拍照发图", "key": "rselfmenu_1_0"},
                {"type": "pic_weixin", "name": "微信相册发图", "key": "rselfmenu_1_2"},
            ],
        },
    ]
}


def test_a_menu_with_every_button_type_is_created_and_read_back(http, fake, token):
    assert post(http, "/cgi-bin/menu/create", token, EVERY_TYPE)["errcode"] == 0

    menu = get(http, "/cgi-bin/menu/get", token)["menu"]
    # menu/get adds an empty sub_button list to every button, as WeChat does.
    assert menu["button"][0] == {**EVERY_TYPE["button"][0], "sub_button": []}
    assert [sub["name"] for sub in menu["button"][1]["sub_button"]] == [
        sub["name"] for sub in EVERY_TYPE["button"][1]["sub_button"]
    ]
    info = get(http, "/cgi-bin/get_current_selfmenu_info", token)
    assert info["is_menu_open"] == 1
    assert info["selfmenu_info"]["button"][1]["sub_button"]["list"][0]["url"] == (
        "http://www.soso.com/"
    )


def leaf(**fields):
    return {"type": "click", "name": "按钮", "key": "K", **fields}


def sub_menu(*subs, **fields):
    return {"name": "菜单", "sub_button": list(subs), **fields}


@pytest.mark.parametrize(
    "buttons, errcode",
    [
        ([], 40016),
        ([leaf()] * 4, 40016),
        ([sub_menu(*[leaf()] * 6)], 40023),
        ([leaf(name="六个汉字六个")], 40018),  # 18 bytes > 16
        ([leaf(name="")], 40018),
        ([sub_menu(leaf(name="字" * 21))], 40025),  # 63 bytes > 60
        ([leaf(key="k" * 129)], 40019),
        ([leaf(key="")], 40019),
        ([sub_menu(leaf(key="k" * 129))], 40026),
        ([{"type": "view", "name": "网页", "url": "https://a.cn/" + "u" * 1020}], 40020),
        ([sub_menu({"type": "view", "name": "网页", "url": "https://a.cn/" + "u" * 1020})], 40027),
        ([{"type": "view", "name": "网页", "url": "ftp://a.cn/"}], 40055),
        ([sub_menu({"type": "view", "name": "网页", "url": "a.cn"})], 40054),
        ([leaf(type="sticker")], 40017),
        ([sub_menu(leaf(type="sticker"))], 40024),
        ([sub_menu(leaf(), type="click", key="K")], 40017),  # sub-buttons and a type
        ([{"name": "无动作"}], 65308),
        ([sub_menu(sub_menu(leaf()))], 40022),
        (
            [{"type": "miniprogram", "name": "小程序", "url": "https://a.cn", "pagepath": "p"}],
            40166,
        ),
        (
            [{"type": "miniprogram", "name": "小程序", "url": "https://a.cn", "appid": "wx1"}],
            40165,
        ),
        ([{"type": "article_id", "name": "文章"}], 40007),
    ],
)
def test_menu_create_refuses_what_wechat_refuses(http, fake, token, buttons, errcode):
    answer = post(http, "/cgi-bin/menu/create", token, {"button": buttons})
    assert answer["errcode"] == errcode, answer
    assert fake.menu is None


def test_menu_names_at_the_byte_limits_are_taken(http, fake, token):
    menu = {"button": [sub_menu(leaf(name="字" * 20), name="五个汉字啊"), leaf(name="a" * 16)]}
    assert post(http, "/cgi-bin/menu/create", token, menu)["errcode"] == 0


def test_menu_create_refuses_unicode_escapes_and_non_json(http, token):
    escaped = json.dumps({"button": [leaf(name="菜单")]}).encode()  # ensure_ascii: \\u83dc
    assert b"\\u" in escaped
    assert post_raw(http, "/cgi-bin/menu/create", token, escaped)["errcode"] == 40033
    assert post_raw(http, "/cgi-bin/menu/create", token, b"{not json")["errcode"] == 47001


def test_menu_delete_then_get_is_46003(http, token):
    post(http, "/cgi-bin/menu/create", token, {"button": [leaf()]})
    assert get(http, "/cgi-bin/menu/delete", token)["errcode"] == 0
    assert get(http, "/cgi-bin/menu/get", token)["errcode"] == 46003
    assert get(http, "/cgi-bin/get_current_selfmenu_info", token)["is_menu_open"] == 0


def test_a_console_menu_is_seen_by_selfmenu_info_only(http, fake, token):
    console_menu = {
        "is_menu_open": 1,
        "selfmenu_info": {"button": [{"type": "text", "name": "营业时间", "value": "9-18 点"}]},
    }
    assert http.post("/_fake/console_menu", json=console_menu).json() == {"ok": True}

    assert get(http, "/cgi-bin/menu/get", token)["errcode"] == 46003
    assert get(http, "/cgi-bin/get_current_selfmenu_info", token) == console_menu


# --- message/custom/send ---------------------------------------------------------------------


def text_to(openid, content="你好"):
    return {"touser": openid, "msgtype": "text", "text": {"content": content}}


def test_custom_message_within_48_hours_is_sent(http, fake, token):
    http.post("/_fake/last_message", json={"openid": "o_1"})
    assert post(http, "/cgi-bin/message/custom/send", token, text_to("o_1"))["errcode"] == 0
    assert fake.sent == [text_to("o_1")]


def test_custom_message_to_an_unknown_openid_is_40003(http, token):
    assert post(http, "/cgi-bin/message/custom/send", token, text_to("o_nobody"))["errcode"] == (
        40003
    )


def test_custom_message_after_48_hours_is_45015(http, fake, token):
    fake.set_last_message("o_old", at=fake.clock() - 48 * 3600 - 1)
    answer = post(http, "/cgi-bin/message/custom/send", token, text_to("o_old"))
    assert answer["errcode"] == 45015
    assert answer["errmsg"].startswith("response out of time limit")
    assert fake.sent == []


def test_custom_messages_beyond_five_per_follower_message_are_45047(http, fake, token):
    fake.set_last_message("o_1")
    codes = [
        post(http, "/cgi-bin/message/custom/send", token, text_to("o_1"))["errcode"]
        for _ in range(6)
    ]
    assert codes == [0, 0, 0, 0, 0, 45047]
    fake.set_last_message("o_1")  # the follower writes again: five more
    assert post(http, "/cgi-bin/message/custom/send", token, text_to("o_1"))["errcode"] == 0


def test_custom_message_of_an_unknown_type_is_40008(http, fake, token):
    fake.set_last_message("o_1")
    message = {"touser": "o_1", "msgtype": "sticker"}
    assert post(http, "/cgi-bin/message/custom/send", token, message)["errcode"] == 40008


# --- the console's auto-reply ----------------------------------------------------------------


def test_autoreply_info_is_what_the_control_endpoint_set(http, token):
    info = {"is_autoreply_open": 1, "keyword_autoreply_info": {"list": [{"rule_name": "价格"}]}}
    http.post("/_fake/autoreply", json=info)
    assert get(http, "/cgi-bin/get_current_autoreply_info", token) == info


# --- records and faults ----------------------------------------------------------------------


def test_every_call_is_recorded_with_secrets_redacted(http, token):
    post(http, "/cgi-bin/menu/create", token, {"button": [leaf()]})

    calls = http.get("/_fake/calls").json()["calls"]

    assert [(call["method"], call["path"], call["errcode"]) for call in calls] == [
        ("POST", "/cgi-bin/stable_token", 0),
        ("POST", "/cgi-bin/menu/create", 0),
    ]
    assert calls[0]["body"]["secret"] == "***"
    assert calls[1]["query"] == {"access_token": "***"}
    assert calls[1]["body"] == {"button": [leaf()]}
    text = json.dumps(calls)
    assert SECRET not in text and token not in text


def test_faults_set_over_http_apply_to_the_next_calls_then_stop(http, token):
    fault = {"kind": "errcode", "errcode": 45009, "times": 2, "path": "/cgi-bin/menu/get"}
    assert http.post("/_fake/fault", json=fault).json() == {"ok": True}

    codes = [get(http, "/cgi-bin/menu/get", token)["errcode"] for _ in range(3)]
    assert codes == [45009, 45009, 46003]


def test_html_malformed_and_delay_faults(http, fake, token):
    fake.add_fault("html")
    answer = http.get("/cgi-bin/menu/get", params={"access_token": token})
    assert answer.status_code == 502 and answer.headers["content-type"] == "text/html"

    fake.add_fault("malformed")
    answer = http.get("/cgi-bin/menu/get", params={"access_token": token})
    with pytest.raises(ValueError):
        answer.json()

    fake.add_fault("delay", delay=1)
    with pytest.raises(httpx.ReadTimeout):
        http.get("/cgi-bin/menu/get", params={"access_token": token}, timeout=0.2)


def test_unknown_fault_and_unknown_control_are_refused(http):
    assert http.post("/_fake/fault", json={"kind": "explode"}).status_code == 400
    assert http.post("/_fake/nothing", json={}).status_code == 404


def test_reset_forgets_everything(http, fake, token):
    post(http, "/cgi-bin/menu/create", token, {"button": [leaf()]})
    http.post("/_fake/reset")
    assert fake.calls == [] and fake.menu is None
    assert get(http, "/cgi-bin/menu/get", token)["errcode"] == 40001
