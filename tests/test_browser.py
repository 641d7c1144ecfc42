"""In a real browser: an operator logs in, adds a rule, tries it in the tester, and WeChat gets it.

Playwright drives Debian's Chromium (see tests/browser.py) against the live server; the signed
POST goes over HTTP to the same server, as WeChat's would. Skipped locally without Chromium or
playwright, failed under CI.
"""

import pytest

from replies.protocol import parse_xml
from replies.rules import ruleset as matching
from tests.browser import logged_in_page, make_operator, require_browser, screenshot
from tests.conftest import ACCOUNT, OPENID
from tests.wechat_http import post_signed_text

pytestmark = pytest.mark.django_db(transaction=True)

RULE_NAME = "浏览器规则"
KEYWORD = "浏览器测试"
REPLY_TEXT = "浏览器里写的回复：营业时间 9:00–18:00"


def test_rule_added_in_the_browser_answers_a_signed_post(live_server, tmp_path, record_property):
    require_browser()
    matching.forget_rule_index()
    user = make_operator()
    with logged_in_page(live_server, user) as page:
        # Add the rule through the form, as an operator does (the admin speaks 简体中文).
        page.goto(f"{live_server.url}/admin/replies/replyrule/add/")
        assert page.get_attribute("html", "lang") == "zh-hans"
        page.fill("#id_name", RULE_NAME)
        page.select_option("#id_triggers-0-kind", "keyword")
        page.select_option("#id_triggers-0-match", "exact")
        page.fill("#id_triggers-0-value", KEYWORD)
        page.select_option("#id_replies-0-reply_type", "text")
        page.fill("#id_replies-0-content", REPLY_TEXT)
        page.click("input[name=_save]")
        page.wait_for_url(f"{live_server.url}/admin/replies/replyrule/")
        success = page.locator("ul.messagelist li.success")
        assert success.count() == 1 and RULE_NAME in success.inner_text()
        row = page.locator("#result_list tbody tr", has_text=RULE_NAME)
        assert row.count() == 1
        assert KEYWORD in row.inner_text() and REPLY_TEXT in row.inner_text()
        shot = screenshot(page, "rule-list", tmp_path)
        record_property("screenshot_rule_list", str(shot))

        # The rule tester answers the keyword with the reply XML the endpoint would send.
        page.goto(f"{live_server.url}/admin/replies/replyrule/tester/")
        page.select_option("#id_msg_type", "text")
        page.fill("#id_text", KEYWORD)
        page.click("#rule-tester [type=submit]")
        page.wait_for_selector("#tester-result")
        assert RULE_NAME in page.inner_text("#tester-result")
        reply_xml = page.inner_text("#reply-xml")
        assert parse_xml(reply_xml.encode())["Content"] == REPLY_TEXT
        shot = screenshot(page, "rule-tester", tmp_path)
        record_property("screenshot_rule_tester", str(shot))

    # WeChat's signed POST, over HTTP to the same server, gets the text typed in the browser:
    # in plaintext mode and in safe (AES) mode.
    endpoint = f"{live_server.url}/wechat/"
    for msg_id, mode in enumerate(("plain", "aes"), start=7_100_000_000_000_000_001):
        reply = parse_xml(post_signed_text(endpoint, KEYWORD, mode=mode, msg_id=msg_id)[0])
        assert reply["MsgType"] == "text"
        assert reply["Content"] == REPLY_TEXT
        assert reply["ToUserName"] == OPENID and reply["FromUserName"] == ACCOUNT


def seed_traffic(days: int = 14) -> None:
    """A fortnight of plausible traffic: texts (some answered), follows, menu clicks."""
    import random
    from datetime import timedelta

    from django.utils import timezone

    from replies.models import Message
    from tests.factories import make_rule

    rule = make_rule("价格", keywords=["价格"], text="99 元")
    random.seed(7)
    now = timezone.now()
    rows = []
    for n in range(days * 40):
        when = now - timedelta(days=random.randrange(days), hours=random.randrange(24))
        kind = random.choice(["text", "text", "text", "subscribe", "click", "unsubscribe"])
        answered = kind == "text" and random.random() < 0.5
        rows.append(
            Message(
                dedup_key=f"seed{n}",
                to_user=ACCOUNT,
                openid=f"o_seed_{random.randrange(60)}",
                msg_type="text" if kind == "text" else "event",
                event="" if kind == "text" else kind,
                content=("价格" if answered else random.choice(["营业时间", "退款", "发票"]))
                if kind == "text"
                else "",
                created_at=when,
                received_at=when,
                raw_xml="<xml/>",
                handling_ms=random.uniform(1, 12),
                reply_type="text" if answered else "",
                rule=rule if answered else None,
                rule_name=rule.name if answered else "",
            )
        )
    Message.objects.bulk_create(rows)
    # The pages read the insights' rollups, which the timer keeps up to date in production.
    from insights.management.commands.rollup_insights import roll_up

    roll_up()


def test_insights_page_shows_charts_in_chinese(live_server, tmp_path, record_property):
    require_browser()
    seed_traffic()
    with logged_in_page(live_server, make_operator()) as page:
        page.goto(f"{live_server.url}/admin/insights/report/traffic/?days=30")
        charts = page.locator("svg")
        assert charts.count() >= 3
        assert page.get_attribute("html", "lang") == "zh-hans"
        shot = screenshot(page, "insights-traffic", tmp_path)
        record_property("screenshot_insights_traffic", str(shot))
        page.goto(f"{live_server.url}/admin/insights/report/unanswered/?days=30")
        text = page.inner_text("#content")
        assert "营业时间" in text and "价格" not in text.split("营业时间")[0][-50:]
        shot = screenshot(page, "insights-unanswered", tmp_path)
        record_property("screenshot_insights_unanswered", str(shot))
