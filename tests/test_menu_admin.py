"""The custom menu in the admin: edit within WeChat's limits, publish, import, re-publish.

Every call to WeChat goes over real HTTP to the fake API (wechat_api.fake); the operators are
staff users in the "Menu editors" and "Log readers" groups, through Django's test client.
"""

import logging

import pytest
from django.contrib.auth.models import Group, User
from django.core.cache import cache
from django.urls import reverse

from console.groups import MENU_EDITORS
from console.menus import draft_body, save_draft
from console.models import MenuButton, MenuPublication
from replies.groups import LOG_READERS
from tests.factories import make_rule
from wechat_api.fake import FakeWeChatAPI

pytestmark = pytest.mark.django_db

APP_ID = "wx2c2769f8efd9abc2"
SECRET = "0123456789abcdef0123456789abcdef"
EDITOR = "/admin/console/menubutton/"
IMPORT = "/admin/console/menubutton/import/"
HISTORY = "/admin/console/menupublication/"
FIELDS = ("name", "type", "key", "url", "appid", "pagepath", "article_id")

MENU = {
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


def staff_client(client, username, group):
    user = User.objects.create_user(username, password="pw", is_staff=True)
    if group:
        user.groups.add(Group.objects.get(name=group))
    client.force_login(user)
    client.user = user
    return client


@pytest.fixture
def editor(client):
    return staff_client(client, "menu-editor", MENU_EDITORS)


@pytest.fixture
def reader(client):
    return staff_client(client, "log-reader", LOG_READERS)


def form_data(body, **changes):
    """POST data of the editor's grid for a menu/create body, with `changes` by field name."""
    data = {}
    buttons = body["button"]
    for number in range(3):
        button = buttons[number] if number < len(buttons) else {}
        data |= {f"b{number}-{name}": button.get(name, "") for name in FIELDS}
        subs = button.get("sub_button") or []
        for sub_number in range(5):
            sub = subs[sub_number] if sub_number < len(subs) else {}
            data |= {f"b{number}s{sub_number}-{name}": sub.get(name, "") for name in FIELDS}
    return data | changes


def messages_of(response):
    return [str(message) for message in response.context["messages"]]


# --- editing ---------------------------------------------------------------------------------


def test_the_editor_shows_the_draft_with_a_preview(editor):
    save_draft(MENU)

    response = editor.get(EDITOR)

    assert response.status_code == 200
    page = response.content.decode()
    assert 'href="/static/console/menu.css"' in page
    assert "console-phone" in page and "今日歌曲" in page and "赞一下我们" in page
    assert 'name="_publish"' in page and 'name="_save"' in page
    assert 'value="V1001_GOOD"' in page


def test_saving_the_draft_stores_the_buttons_and_sends_nothing(editor, fake):
    response = editor.post(EDITOR, form_data(MENU, _save="1"))

    assert response.status_code == 302
    assert draft_body() == MENU
    assert MenuButton.objects.count() == 4
    assert fake.calls == []
    assert not MenuPublication.objects.exists()


def test_fields_a_type_does_not_use_are_not_sent(editor):
    editor.post(
        EDITOR,
        form_data({"button": [{"type": "click", "name": "A", "key": "K", "url": "https://x.cn"}]}),
    )
    assert draft_body() == {"button": [{"type": "click", "name": "A", "key": "K"}]}


@pytest.mark.parametrize(
    "changes, field, message",
    [
        # Six Chinese characters are 18 bytes: over the 16 of the menu bar.
        ({"b0-name": "六个汉字六个"}, "b0-name", "At most 16 bytes; this name has 18"),
        ({"b1s0-name": "字" * 21}, "b1s0-name", "At most 60 bytes; this name has 63"),
        ({"b0-key": "k" * 129}, "b0-key", "At most 128 bytes; this has 129"),
        ({"b1s0-url": "https://a.cn/" + "u" * 1012}, "b1s0-url", "At most 1024 bytes"),
        ({"b1s0-url": "www.soso.com"}, "b1s0-url", "http:// or https://"),
        ({"b0-key": ""}, "b0-key", "A “click” button needs this"),
        ({"b1s0-url": ""}, "b1s0-url", "A “view” button needs this"),
        ({"b0-type": "scancode_push", "b0-key": ""}, "b0-key", "needs this"),
        ({"b0-type": "location_select", "b0-key": ""}, "b0-key", "needs this"),
        ({"b0-type": "miniprogram", "b0-url": "https://a.cn"}, "b0-appid", "needs this"),
        (
            {"b0-type": "miniprogram", "b0-url": "https://a.cn", "b0-appid": "wx1"},
            "b0-pagepath",
            "needs this",
        ),
        ({"b0-type": "miniprogram", "b0-appid": "wx1", "b0-pagepath": "p"}, "b0-url", "needs"),
        ({"b0-type": "article_id"}, "b0-article_id", "needs this"),
        ({"b0-type": "article_view_limited"}, "b0-article_id", "needs this"),
        ({"b1-type": "click", "b1-key": "K"}, "b1-type", "leave its type empty"),
        ({"b0-type": ""}, "b0-type", "Choose what the button does"),
        ({"b1s2-key": "ORPHAN"}, "b1s2-name", "Enter a name"),
        ({"b2s0-name": "子菜单", "b2s0-type": "click", "b2s0-key": "K"}, "b2-name", "Enter a name"),
    ],
)
def test_the_form_refuses_what_wechat_would_refuse(editor, fake, changes, field, message):
    save_draft(MENU)
    with_english = {"HTTP_ACCEPT_LANGUAGE": "en"}

    response = editor.post(EDITOR, form_data(MENU, **changes), **with_english)

    assert response.status_code == 200
    slot, name = field.split("-", 1)
    form = next(
        form for column in response.context["form"].columns for form in column
        if form.prefix == slot
    )  # fmt: skip
    assert any(message in error for error in form.errors.get(name, [])), form.errors
    assert draft_body() == MENU  # nothing saved
    assert fake.calls == []


def test_names_at_the_byte_limits_are_taken(editor):
    menu = {
        "button": [
            {"type": "click", "name": "五个汉字啊", "key": "K1"},  # 15 bytes
            {"name": "a" * 16, "sub_button": [{"type": "click", "name": "字" * 20, "key": "K2"}]},
        ]
    }
    response = editor.post(EDITOR, form_data(menu))
    assert response.status_code == 302
    assert draft_body() == menu


def test_an_empty_draft_can_be_saved_but_not_published(editor, fake):
    save_draft(MENU)
    assert editor.post(EDITOR, form_data({"button": []}, _save="1")).status_code == 302
    assert draft_body() == {"button": []}

    response = editor.post(EDITOR, form_data({"button": []}, _publish="1"))

    assert response.status_code == 200
    assert response.context["form"].non_field_errors
    assert fake.calls == []


# --- publishing --------------------------------------------------------------------------------


def test_save_and_publish_sends_the_menu_and_records_who_and_when(editor, fake):
    response = editor.post(EDITOR, form_data(MENU, _publish="1"), follow=True)

    assert fake.menu == MENU
    publication = MenuPublication.objects.get()
    assert publication.ok and publication.published_by == editor.user
    assert publication.menu == MENU and publication.source == "admin"
    assert any(
        "published" in message.lower() or "发布" in message for message in messages_of(response)
    )
    assert "今日歌曲" in response.content.decode()  # the history on the editor page


def test_wechat_refusing_the_menu_keeps_the_draft_and_records_the_error(editor, fake, caplog):
    fake.add_fault("errcode", errcode=40164, errmsg="invalid ip 203.0.113.9, not in whitelist")

    response = editor.post(EDITOR, form_data(MENU, _publish="1"), follow=True)

    # The fault hit stable_token: the token request is refused, menu/create is never reached.
    text = " ".join(messages_of(response))
    assert "IP白名单" in text and "invalid ip 203.0.113.9, not in whitelist" in text
    assert draft_body() == MENU
    publication = MenuPublication.objects.get()
    assert not publication.ok and publication.errcode == 40164
    assert publication.errmsg.startswith("invalid ip 203.0.113.9")
    assert "IP白名单" in publication.explanation
    assert any("menu not published" in record.getMessage() for record in caplog.records)


def test_menu_error_from_wechat_is_shown_with_its_explanation(editor, fake):
    fake.add_fault("errcode", errcode=65316, path="/cgi-bin/menu/create")
    response = editor.post(EDITOR, form_data(MENU, _publish="1"), follow=True)
    assert "域名太多" in " ".join(messages_of(response))
    assert MenuPublication.objects.get().errcode == 65316


@pytest.mark.parametrize(
    "kind, options, words",
    [
        ("delay", {"delay": 2}, "超时"),
        ("malformed", {}, "JSON"),
        ("html", {}, "HTTP 502"),
    ],
)
def test_no_answer_or_a_bad_answer_is_a_clear_message_and_loses_nothing(
    editor, fake, kind, options, words
):
    fake.add_fault(kind, path="/cgi-bin/menu/create", **options)

    response = editor.post(EDITOR, form_data(MENU, _publish="1"), follow=True)

    assert words in " ".join(messages_of(response))
    assert draft_body() == MENU
    publication = MenuPublication.objects.get()
    assert not publication.ok and publication.errcode is None and publication.errmsg


def test_an_older_publication_is_published_again_in_one_click(editor, fake):
    editor.post(EDITOR, form_data(MENU, _publish="1"))
    newer = {"button": [{"type": "view", "name": "官网", "url": "https://example.com/"}]}
    editor.post(EDITOR, form_data(newer, _publish="1"))
    assert fake.menu == newer
    older = MenuPublication.objects.order_by("id").first()

    response = editor.post(
        reverse("admin:console_menupublication_republish", args=[older.pk]),
        {"next": EDITOR},
    )

    assert response.status_code == 302 and response["Location"] == EDITOR
    assert fake.menu == MENU
    latest = MenuPublication.objects.order_by("-id").first()
    assert latest.ok and latest.source == "republish" and latest.republished_from == older
    assert draft_body() == newer  # the draft is left as it was


def test_the_history_page_shows_a_publication_and_can_copy_it_to_the_draft(editor, fake):
    editor.post(EDITOR, form_data(MENU, _publish="1"))
    publication = MenuPublication.objects.get()
    save_draft({"button": []})

    page = editor.get(reverse("admin:console_menupublication_change", args=[publication.pk]))
    assert page.status_code == 200
    assert "console-phone" in page.content.decode()
    assert editor.get(HISTORY).status_code == 200

    editor.post(reverse("admin:console_menupublication_restore", args=[publication.pk]))
    assert draft_body() == MENU


# --- importing the live menu -------------------------------------------------------------------


def test_the_live_menu_is_imported_into_the_draft(editor, fake):
    editor.post(EDITOR, form_data(MENU, _publish="1"))
    save_draft({"button": []})

    preview = editor.get(IMPORT)
    assert preview.status_code == 200 and "赞一下我们" in preview.content.decode()
    assert draft_body() == {"button": []}  # looking changes nothing

    editor.post(IMPORT)

    assert draft_body() == MENU
    assert [call["path"] for call in fake.calls[-1:]] == ["/cgi-bin/menu/get"]


def test_a_menu_set_in_the_console_is_imported_through_selfmenu_info(editor, fake):
    fake.console_menu = {
        "is_menu_open": 1,
        "selfmenu_info": {
            "button": [
                {"type": "text", "name": "营业时间", "value": "9-18 点"},
                {
                    "name": "更多",
                    "sub_button": {
                        "list": [{"type": "view", "name": "官网", "url": "https://example.com/"}]
                    },
                },
            ]
        },
    }

    response = editor.post(IMPORT, follow=True)

    assert draft_body() == {
        "button": [
            {"type": "click", "name": "营业时间", "key": "MENU_1"},
            {
                "name": "更多",
                "sub_button": [{"type": "view", "name": "官网", "url": "https://example.com/"}],
            },
        ]
    }
    assert any("MENU_1" in message for message in messages_of(response))
    paths = [call["path"] for call in fake.calls]
    assert paths[-2:] == ["/cgi-bin/menu/get", "/cgi-bin/get_current_selfmenu_info"]


def test_import_failing_says_why_and_keeps_the_draft(editor, fake):
    save_draft(MENU)
    fake.add_fault("errcode", errcode=48001, path="/cgi-bin/menu/get")

    response = editor.post(IMPORT, follow=True)

    assert "权限" in " ".join(messages_of(response))
    assert draft_body() == MENU


# --- keys and rules ----------------------------------------------------------------------------


def test_the_editor_warns_about_keys_without_rules_and_rules_without_keys(editor):
    save_draft(MENU)
    make_rule("歌曲", triggers=[("click", "V1001_TODAY_MUSIC", "")])
    orphan = make_rule("旧菜单", triggers=[("click", "OLD_KEY", "")])

    page = editor.get(EDITOR).content.decode()

    warnings = page[page.index("console-warnings") :]
    assert "V1001_GOOD" in warnings  # a menu key no rule answers
    assert "V1001_TODAY_MUSIC</code>" not in warnings  # answered
    assert "OLD_KEY" in warnings and f"/admin/replies/replyrule/{orphan.pk}/change/" in warnings


def test_the_rule_form_suggests_the_menus_keys(admin_client):
    save_draft(MENU)

    page = admin_client.get("/admin/replies/replyrule/add/").content.decode()

    assert 'list="id_triggers-0-value-menu-keys"' in page
    assert '<datalist id="id_triggers-0-value-menu-keys">' in page
    assert '<option value="V1001_GOOD" label="赞一下我们"></option>' in page
    assert 'value="https://www.soso.com/"' not in page  # a view button sends no key


# --- who may do what ---------------------------------------------------------------------------


def test_a_log_reader_sees_the_menu_but_cannot_change_or_publish_it(reader, fake):
    save_draft(MENU)
    editor_page = reader.get(EDITOR)
    assert editor_page.status_code == 200
    page = editor_page.content.decode()
    assert "今日歌曲" in page and 'name="_publish"' not in page and 'name="_save"' not in page
    assert reader.get(HISTORY).status_code == 200

    assert reader.post(EDITOR, form_data(MENU, _save="1")).status_code == 403
    assert reader.post(EDITOR, form_data(MENU, _publish="1")).status_code == 403
    assert reader.post(IMPORT).status_code == 403
    publication = MenuPublication.objects.create(source="admin", body='{"button":[]}', ok=True)
    republish = reverse("admin:console_menupublication_republish", args=[publication.pk])
    assert reader.post(republish).status_code == 403
    restore = reverse("admin:console_menupublication_restore", args=[publication.pk])
    assert reader.post(restore).status_code == 403
    assert fake.calls == [] and draft_body() == MENU


def test_staff_without_a_group_cannot_see_the_menu(client):
    staff_client(client, "nobody", None)
    assert client.get(EDITOR).status_code == 403


def test_menu_editors_get_exactly_the_menu_permissions():
    group = Group.objects.get(name=MENU_EDITORS)
    assert set(group.permissions.values_list("codename", flat=True)) == {
        "view_menubutton",
        "change_menubutton",
        "view_menupublication",
        "publish_menu",
    }
    readers = Group.objects.get(name=LOG_READERS)
    assert {"view_menubutton", "view_menupublication"} <= set(
        readers.permissions.values_list("codename", flat=True)
    )


def test_publishing_is_logged_without_secrets(editor, fake, caplog):
    caplog.set_level(logging.DEBUG)
    editor.post(EDITOR, form_data(MENU, _publish="1"))
    assert SECRET not in caplog.text
    for token in fake._tokens:
        assert token not in caplog.text


# --- in a real browser, under the Content-Security-Policy ----------------------------------------

CSP_LISTENER = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => window.__csp.push(
  `${e.violatedDirective} blocked ${e.blockedURI || "inline"} at ${e.sourceFile}:${e.lineNumber}`));
"""


@pytest.mark.django_db(transaction=True)
def test_the_editor_works_in_chromium_without_csp_violations(live_server, fake, tmp_path):
    from tests.browser import logged_in_page, make_operator, screenshot

    save_draft(MENU)
    make_rule("歌曲", triggers=[("click", "V1001_TODAY_MUSIC", "")])
    user = make_operator()
    with logged_in_page(live_server, user) as page:
        page.add_init_script(CSP_LISTENER)
        page.goto(f"{live_server.url}{EDITOR}")
        # The stylesheet is applied: the phone frame has its fixed width.
        width = page.eval_on_selector(
            ".console-phone-screen", "element => getComputedStyle(element).width"
        )
        assert width == "280px"
        # A sub-menu opens on a tap: a <details>, no script of ours.
        page.click("details.console-phone-button summary")
        assert page.locator("details.console-phone-button[open] li", has_text="赞一下我们").count()
        screenshot(page, "menu-editor", tmp_path)
        page.fill("#id_b2-name", "联系我们")
        page.select_option("#id_b2-type", "view")
        page.fill("#id_b2-url", "https://example.com/contact")
        page.click("input[name=_publish]")
        page.wait_for_load_state("load")
        assert page.locator(".messagelist .success").count() == 1
        screenshot(page, "menu-published", tmp_path)
        violations = page.evaluate("window.__csp || []")
    assert violations == []
    assert fake.menu["button"][2] == {
        "type": "view",
        "name": "联系我们",
        "url": "https://example.com/contact",
    }


def test_importing_when_followers_see_no_menu_keeps_the_draft(editor, fake):
    save_draft(MENU)

    response = editor.post(IMPORT, follow=True)

    assert draft_body() == MENU
    assert any("no menu" in message or "菜单" in message for message in messages_of(response))
