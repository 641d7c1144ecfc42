"""Issue 15's first "done when", end to end, the way a new operator does it.

The fake WeChat API (wechat_api.fake, real HTTP) holds the menu followers see. The operator,
a staff user in the "Menu editors" and "Rule editors" groups, works only through the admin's
pages: every form is read from the page as served (its fields, hidden inputs, CSRF token and
options) and submitted with the button a person would press, so a field or link missing from
a template fails here just as it would stop a person. Then WeChat's servers send the follower's
tap on the new button, signed, to /wechat/, and the rule the operator wrote answers it.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import lxml.html
import pytest
from django.contrib.auth.models import Group, User
from django.core.cache import cache
from django.test import Client

from console.groups import MENU_EDITORS
from console.models import MenuPublication
from replies.groups import RULE_EDITORS
from replies.protocol import Credentials, decode_aes_key, parse_xml
from tests.conftest import AES_KEY, APP_ID, OPENID, TOKEN, WeChatServer
from wechat_api.fake import FakeWeChatAPI

pytestmark = pytest.mark.django_db

SECRET = "0123456789abcdef0123456789abcdef"
ADMIN = "/admin/"
EDITOR_FORM = '//form[contains(@class, "console-editor")]'
WARNINGS = '//div[contains(@class, "console-warnings")]'
HISTORY_TABLE = '//div[contains(@class, "console-history")]'

LIVE_MENU = {
    "button": [
        {"type": "click", "name": "今日歌曲", "key": "V1001_TODAY_MUSIC"},
        {
            "name": "菜单",
            "sub_button": [
                {"type": "view", "name": "搜索", "url": "https://www.soso.com/"},
                {"type": "click", "name": "赞一下我们", "key": "V1001_GOOD"},
            ],
        },
    ]
}
NEW_KEY = "CONTACT_US"
NEW_NAME = "联系我们"
ANSWER = "客服电话 400-000-0000，工作日 9:00–18:00"


@pytest.fixture
def fake(settings):
    with FakeWeChatAPI(app_id=APP_ID, app_secret=SECRET) as server:
        settings.WECHAT_API_BASE = server.url
        settings.WECHAT_APP_SECRET = SECRET
        settings.WECHAT_API_TIMEOUT = 2
        cache.clear()
        with server.lock:
            server.menu = LIVE_MENU  # what followers see before wxsite touches anything
        yield server
    cache.clear()


@dataclass
class Page:
    """One admin page as served: its URL, status and parsed HTML."""

    url: str
    status: int
    html: Any

    def text(self) -> str:
        return self.html.text_content()

    def link(self, text: str) -> str:
        """Return the href of the link whose text is `text` (as a person finds it)."""
        hrefs = [a.get("href") for a in self.html.iter("a") if a.text_content().strip() == text]
        assert hrefs, f"no link “{text}” on {self.url}"
        return hrefs[0]

    def form(self, xpath: str) -> lxml.html.FormElement:
        forms = self.html.xpath(xpath)
        assert forms, f"no form {xpath} on {self.url}"
        return forms[0]

    def messages(self) -> list[str]:
        return [
            li.text_content().strip() for li in self.html.xpath('//ul[@class="messagelist"]/li')
        ]


class Operator:
    """A logged-in staff user clicking through the admin in 简体中文, CSRF checks on."""

    def __init__(self, user: User):
        self.client = Client(enforce_csrf_checks=True, HTTP_ACCEPT_LANGUAGE="zh-hans")
        self.client.force_login(user)

    def open(self, url: str) -> Page:
        response = self.client.get(url, follow=True)
        return self._page(response)

    def submit(self, page: Page, form, button: str, **values: str) -> Page:
        """Submit `form` of `page` with `values` filled in and the submit button named `button`."""
        fields = dict(form.form_values())
        for name, value in values.items():
            assert form.inputs.keys() and name in form.inputs.keys(), f"no field {name}"
            fields[name] = value
        if button:
            buttons = form.xpath(f'.//input[@type="submit"][@name="{button}"]')
            assert buttons, f"no button {button}"
            fields[button] = buttons[0].get("value", "")
        action = form.get("action") or page.url
        response = self.client.post(action, fields, follow=True)
        return self._page(response)

    @staticmethod
    def _page(response) -> Page:
        assert response.status_code == 200, response.status_code
        url = (
            response.redirect_chain[-1][0]
            if response.redirect_chain
            else response.request["PATH_INFO"]
        )
        return Page(url, response.status_code, lxml.html.fromstring(response.content.decode()))


@pytest.fixture
def operator():
    user = User.objects.create_user("new-operator", password="pw-for-the-test-4Ra", is_staff=True)
    user.groups.add(*Group.objects.filter(name__in=[MENU_EDITORS, RULE_EDITORS]))
    return Operator(user)


def slot_of(editor: Page, name: str) -> str:
    """Return the prefix (``b1s2``) of the grid slot whose name field holds `name`."""
    for field in editor.html.xpath(
        f"{EDITOR_FORM}//input[substring(@name, string-length(@name) - 4) = '-name']"
    ):
        if field.get("value") == name:
            return field.get("name").rsplit("-", 1)[0]
    raise AssertionError(f"no button named {name} in the editor")


def first_empty_sub_slot(editor: Page, button: str) -> str:
    for number in range(5):
        field = editor.html.xpath(f"//input[@name='{button}s{number}-name']")[0]
        if not field.get("value"):
            return f"{button}s{number}"
    raise AssertionError(f"{button} has no free sub-button slot")


def test_import_change_publish_and_a_tap_on_the_new_key_is_answered(operator, fake, client):
    # 1. The admin's home leads to the custom menu; the draft is empty.
    home = operator.open(ADMIN)
    editor = operator.open(home.link("自定义菜单"))
    assert "自定义菜单" in editor.text()

    # 2. Import the live menu: the page shows it first, then makes it the draft on confirmation.
    preview = operator.open(editor.link("导入线上菜单"))
    assert "赞一下我们" in preview.text() and "V1001_GOOD" in preview.text()
    editor = operator.submit(
        preview, preview.form('//div[@id="content-main"]//form[@method="post"]'), ""
    )
    assert any("草稿" in message for message in editor.messages()), editor.messages()
    assert editor.url.endswith("/admin/console/menubutton/")
    assert [call["path"] for call in fake.calls][-1] == "/cgi-bin/menu/get"

    # 3. Change it: a new CLICK sub-button under 菜单, with a new key.
    parent = slot_of(editor, "菜单").removesuffix("s0")
    slot = first_empty_sub_slot(editor, parent)
    form = editor.form(EDITOR_FORM)
    type_options = [option.get("value") for option in form.inputs[f"{slot}-type"].iter("option")]
    assert "click" in type_options
    editor = operator.submit(
        editor,
        form,
        "_publish",
        **{f"{slot}-name": NEW_NAME, f"{slot}-type": "click", f"{slot}-key": NEW_KEY},
    )

    # 4. Published: the page says so, the fake received menu/create with the new key, the
    #    history records it, and the editor warns that no rule answers the new key yet.
    assert any("菜单已发布" in message for message in editor.messages()), editor.messages()
    created = fake.calls_to("/cgi-bin/menu/create")
    assert len(created) == 1 and created[0]["errcode"] == 0
    sent = created[0]["body"]["button"]
    assert sent[0] == LIVE_MENU["button"][0]
    assert sent[1]["sub_button"][-1] == {"type": "click", "name": NEW_NAME, "key": NEW_KEY}
    assert fake.menu == created[0]["body"]
    publication = MenuPublication.objects.get()
    assert publication.ok and publication.published_by.username == "new-operator"
    history = editor.html.xpath(f"{HISTORY_TABLE}//tbody/tr")
    assert len(history) == 1 and "已发布" in history[0].text_content()
    warnings = editor.html.xpath(WARNINGS)[0].text_content()
    assert NEW_KEY in warnings

    # 5. A rule for the new key, from the warning's link: the trigger form offers the menu's keys.
    rule_form_page = operator.open(
        next(
            a.get("href")
            for item in editor.html.xpath(f"{WARNINGS}//li")
            if NEW_KEY in item.text_content()
            for a in item.iter("a")
            if a.text_content() == "添加菜单点击规则"
        )
    )
    form = rule_form_page.form('//form[@id="replyrule_form"]')
    value_field = form.inputs["triggers-0-value"]
    offered = rule_form_page.html.xpath(f"//datalist[@id='{value_field.get('list')}']/option")
    assert {option.get("value"): option.get("label") for option in offered}[NEW_KEY] == NEW_NAME
    # The link started the rule for the key: a menu-click trigger, the button's name.
    started = dict(form.form_values())
    assert started["triggers-0-kind"] == "click" and started["triggers-0-value"] == NEW_KEY
    assert started["name"] == NEW_NAME
    rules = operator.submit(
        rule_form_page,
        form,
        "_save",
        **{"replies-0-reply_type": "text", "replies-0-content": ANSWER},
    )
    assert rules.url.endswith("/admin/replies/replyrule/"), rules.messages()
    editor = operator.open(home.link("自定义菜单"))
    assert NEW_KEY not in "".join(node.text_content() for node in editor.html.xpath(WARNINGS))

    # 6. A follower taps 联系我们: WeChat posts the signed CLICK event, the rule answers.
    credentials = Credentials(token=TOKEN, app_id=APP_ID, aes_keys=(decode_aes_key(AES_KEY),))
    wechat = WeChatServer(client, credentials)
    for mode in ("plain", "aes"):
        xml = wechat.xml("event", create_time=int(time.time()), Event="CLICK", EventKey=NEW_KEY)
        reply = parse_xml(wechat.reply(wechat.post(xml, mode=mode), mode=mode))
        assert reply["MsgType"] == "text" and reply["Content"] == ANSWER
        assert reply["ToUserName"] == OPENID


def closed_port_url() -> str:
    """Return the URL of a loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.mark.parametrize(
    "mistake, words",
    [
        ("no AppSecret", "WECHAT_APP_SECRET"),
        ("API unreachable", "无法连接微信服务器"),
        ("IP not whitelisted", "IP白名单"),
    ],
)
def test_a_new_operators_set_up_mistakes_are_explained_not_a_500(
    operator, fake, settings, mistake, words
):
    if mistake == "no AppSecret":
        settings.WECHAT_APP_SECRET = ""
    elif mistake == "API unreachable":
        settings.WECHAT_API_BASE = closed_port_url()
    else:
        fake.add_fault("errcode", errcode=40164, errmsg="invalid ip 203.0.113.9, not in whitelist")
    editor = operator.open("/admin/console/menubutton/")

    # Importing: the reason in words; WeChat is only quoted when it answered.
    after_import = operator.open(editor.link("导入线上菜单"))
    (message,) = after_import.messages()
    assert words in message and "无法读取线上菜单" in message
    assert ("微信返回" in message) == (mistake == "IP not whitelisted")

    # Publishing: the same, the draft kept and the attempt in the history.
    slot = {"b0-name": NEW_NAME, "b0-type": "click", "b0-key": NEW_KEY}
    if mistake == "IP not whitelisted":
        fake.add_fault("errcode", errcode=40164, errmsg="invalid ip 203.0.113.9, not in whitelist")
    after = operator.submit(after_import, after_import.form(EDITOR_FORM), "_publish", **slot)
    (message,) = after.messages()
    assert words in message
    assert ("微信返回" in message) == (mistake == "IP not whitelisted")
    assert after.html.xpath("//input[@name='b0-key']")[0].get("value") == NEW_KEY
    publication = MenuPublication.objects.get()
    assert not publication.ok and words in publication.explanation + publication.errmsg


@pytest.mark.parametrize("value", ["NOT_A_MENU_KEY", "<script>", "", "V1001_GOOD" * 20])
def test_a_rule_is_started_only_from_a_key_of_the_draft(operator, value):
    page = operator.open(f"/admin/replies/replyrule/add/?{urlencode({'menu_key': value})}")

    started = dict(page.form('//form[@id="replyrule_form"]').form_values())
    assert started["triggers-0-kind"] == "keyword" and not started.get("triggers-0-value")
    assert not started.get("name")
