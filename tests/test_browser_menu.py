"""In a real browser: the custom menu editor from import to re-publishing an older version.

Playwright drives Debian's Chromium (see tests/browser.py) against the live server, which calls
the fake WeChat API (wechat_api.fake) over real HTTP. The operator imports the menu followers
see, publishes it, edits a button and a sub-button, looks at the phone preview, publishes again,
reads the result and the history, and publishes the first version again from the history. Every
step is screenshotted (WXSITE_SCREENSHOTS, else the test's tmp_path) and no page may break the
Content-Security-Policy. Skipped locally without Chromium or playwright, failed under CI.
"""

import pytest
from django.core.cache import cache

from console.models import MenuPublication
from tests.browser import logged_in_page, make_operator, require_browser, screenshot
from tests.conftest import APP_ID
from wechat_api.fake import FakeWeChatAPI

pytestmark = pytest.mark.django_db(transaction=True)

SECRET = "0123456789abcdef0123456789abcdef"
EDITOR = "/admin/console/menubutton/"
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
# Reports Content-Security-Policy violations to the test (the listener runs before the page).
CSP_LISTENER = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => window.__csp.push(
  `${e.violatedDirective} blocked ${e.blockedURI || "inline"} at ${e.sourceFile}:${e.lineNumber}`));
"""


@pytest.fixture
def fake(settings):
    with FakeWeChatAPI(app_id=APP_ID, app_secret=SECRET) as server:
        settings.WECHAT_API_BASE = server.url
        settings.WECHAT_APP_SECRET = SECRET
        settings.WECHAT_API_TIMEOUT = 2
        cache.clear()
        with server.lock:
            server.menu = LIVE_MENU
        yield server
    cache.clear()


def test_the_menu_editor_from_import_to_republishing_an_older_version(
    live_server, fake, tmp_path, record_property
):
    require_browser()
    violations = []
    with logged_in_page(live_server, make_operator()) as page:
        page.add_init_script(CSP_LISTENER)

        def shoot(name):
            violations.extend(page.evaluate("window.__csp || []"))
            record_property(f"screenshot_{name}", str(screenshot(page, name, tmp_path)))

        # From the admin's home to the editor: the draft is empty, the preview says so.
        page.goto(f"{live_server.url}/admin/")
        page.click(f"a[href='{EDITOR}']")
        page.wait_for_url(f"{live_server.url}{EDITOR}")
        assert page.get_attribute("html", "lang") == "zh-hans"
        assert page.locator(".console-phone-empty").count() == 1
        shoot("menu-1-empty-draft")

        # Import the live menu: shown first, then made the draft.
        page.click(".object-tools a[href$='/import/']")
        assert "V1001_GOOD" in page.inner_text(".console-json")
        assert page.locator(".console-phone-button", has_text="今日歌曲").count() == 1
        shoot("menu-2-import")
        page.click("#content-main form input[type=submit]")
        page.wait_for_url(f"{live_server.url}{EDITOR}")
        assert page.locator(".messagelist .success").count() == 1
        assert page.input_value("#id_b0-name") == "今日歌曲"
        assert page.input_value("#id_b1s1-key") == "V1001_GOOD"

        # Publish it as it is: the first version in the history.
        page.click("input[name=_publish]")
        page.wait_for_load_state("load")
        assert page.locator(".messagelist .success").count() == 1
        assert fake.menu == LIVE_MENU

        # Edit a button and a sub-button, add a sub-button; save the draft and see the preview.
        page.fill("#id_b0-name", "新歌")
        page.fill("#id_b1s0-name", "搜一搜")
        page.fill("#id_b1s0-url", "https://www.sogou.com/")
        page.fill("#id_b1s2-name", "联系我们")
        page.select_option("#id_b1s2-type", "click")
        page.fill("#id_b1s2-key", "CONTACT_US")
        page.click("input[name=_save]")
        page.wait_for_load_state("load")
        assert page.locator(".messagelist .success").count() == 1
        assert fake.menu == LIVE_MENU  # a draft is not published
        phone = page.locator(".console-phone-menu")
        assert phone.locator(".console-phone-button", has_text="新歌").count() == 1
        sub_menu = page.locator("details.console-phone-button", has_text="菜单")
        if sub_menu.get_attribute("open") is None:
            sub_menu.locator("summary").click()
        items = sub_menu.locator(".console-phone-sub li")
        assert items.all_inner_texts() == ["搜一搜", "赞一下我们", "联系我们"]
        assert items.first.is_visible()
        # The new key has no rule yet: the editor says so.
        assert "CONTACT_US" in page.inner_text(".console-warnings")
        shoot("menu-3-edited-preview")

        # A mistake is shown on the field, and nothing is sent.
        calls = len(fake.calls)
        page.fill("#id_b0-name", "六个汉字六个")
        page.click("input[name=_publish]")
        page.wait_for_load_state("load")
        assert page.locator("td.errors #id_b0-name").count() == 1
        assert "16" in page.inner_text("td.errors .errorlist")
        assert len(fake.calls) == calls
        shoot("menu-4-error")

        # Publish the edit: the result, and the history entry.
        page.fill("#id_b0-name", "新歌")
        page.click("input[name=_publish]")
        page.wait_for_load_state("load")
        assert "已发布" in page.inner_text(".messagelist .success")
        assert fake.menu["button"][0]["name"] == "新歌"
        assert fake.menu["button"][1]["sub_button"][2] == {
            "type": "click",
            "name": "联系我们",
            "key": "CONTACT_US",
        }
        rows = page.locator(".console-history tbody tr")
        assert rows.count() == 2
        assert "新歌" in rows.first.inner_text() and "已发布" in rows.first.inner_text()
        shoot("menu-5-published")

        # Publish the first version again from the editor's history.
        first = MenuPublication.objects.order_by("id").first()
        page.click(f".console-history form[action$='/{first.pk}/republish/'] input[type=submit]")
        page.wait_for_load_state("load")
        assert page.locator(".messagelist .success").count() == 1
        assert fake.menu == LIVE_MENU
        assert page.locator(".console-history tbody tr").count() == 3
        assert "今日歌曲" in page.locator(".console-history tbody tr").first.inner_text()
        assert page.input_value("#id_b0-name") == "新歌"  # the draft is left as it was
        shoot("menu-6-republished")

        # The history: the list, and one publication with its preview and JSON.
        page.click(".object-tools a[href$='/menupublication/']")
        page.wait_for_selector("#result_list")
        assert page.locator("#result_list tbody tr").count() == 3
        shoot("menu-7-history")
        latest = MenuPublication.objects.order_by("-id").first()
        page.goto(f"{live_server.url}/admin/console/menupublication/{latest.pk}/change/")
        assert page.locator(".console-phone-button", has_text="今日歌曲").count() == 1
        shoot("menu-8-publication")

    assert latest.ok and latest.source == "republish" and latest.republished_from == first
    assert violations == []
