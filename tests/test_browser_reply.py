"""In a real browser: an operator answers a follower's unanswered question from the conversation,
and sees a "reply all" rule deliver every reply (issue 15's done-when).

Playwright drives Debian's Chromium (tests/browser.py) against the live server; the follower's
messages are signed POSTs over HTTP to /wechat/ as WeChat sends them, the replies go over HTTP
to the fake WeChat API, and django-tasks-db's worker sends the follow-ups. Skipped locally
without Chromium or playwright, failed under CI.
"""

import time

import pytest

from replies.models import OutgoingMessage, ReplyRule
from replies.protocol import parse_xml
from replies.rules import ruleset
from tests.browser import logged_in_page, make_operator, require_browser, screenshot
from tests.conftest import OPENID
from tests.factories import make_rule
from tests.outbound_helpers import CUSTOM_SEND, fake_api, run_worker, sent_texts
from tests.test_reply_all import post_over_http

pytestmark = pytest.mark.django_db(transaction=True)

QUESTION = "你们周六几点开门？"
ANSWER = "周六 10:00 开门，欢迎光临。"
ALL = ["营业时间 9:00–18:00", "地址：人民路 1 号", "电话：021-12345678"]


@pytest.fixture
def fake(settings):
    with fake_api(settings) as server:
        server.set_last_message(OPENID)
        yield server


def wait_for(condition, seconds: float = 10.0) -> None:
    """Wait until `condition()` holds: a request of the browser's may still be running."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "waited in vain"
        time.sleep(0.05)


def test_an_operator_answers_from_the_conversation_and_sees_reply_all_deliver(
    live_server, fake, tmp_path, record_property
):
    require_browser()
    ruleset.forget_rule_index()
    make_rule(
        "营业信息",
        keywords=["营业"],
        reply_mode=ReplyRule.ReplyMode.ALL,
        replies=[{"reply_type": "text", "content": text} for text in ALL],
    )
    assert post_over_http(live_server.url, QUESTION) == b"success"  # no rule answers it
    user = make_operator()

    with logged_in_page(live_server, user) as page:
        # From the message log's "not answered" filter to the follower's conversation.
        page.goto(f"{live_server.url}/admin/replies/message/?answered=none")
        row = page.locator("#result_list tbody tr", has_text=QUESTION[:6])
        row.locator("a[href*=conversation]").first.click()
        page.wait_for_selector("#reply-form")
        assert "48" in page.inner_text("#reply-window")
        page.select_option("#id_kind", "text")
        page.fill("#id_content", ANSWER)
        page.dblclick("#reply-send")  # a double click sends once
        page.wait_for_selector("ul.messagelist li")
        # The page shows the first POST's "sent", or the second's "already submitted": its state
        # then is "sent", or "sending" when the first was still calling WeChat (a busy machine).
        notice = page.inner_text("ul.messagelist")
        assert "已发送" in notice or "它的状态：发送中" in notice, notice
        thread = page.inner_text("#thread")
        assert thread.index(QUESTION) < thread.index(ANSWER)
        shot = screenshot(page, "reply-form-sent", tmp_path)
        record_property("screenshot_reply_sent", str(shot))
        wait_for(lambda: OutgoingMessage.objects.filter(status="sent").exists())  # the first POST
        assert sent_texts(fake) == [ANSWER]
        assert len(fake.calls_to(CUSTOM_SEND)) == 1

        # The reply-all rule: the first reply at once, the others from the worker, in order.
        reply = parse_xml(post_over_http(live_server.url, "营业"))
        assert reply["Content"] == ALL[0]
        run_worker()
        assert sent_texts(fake) == [ANSWER, *ALL[1:]]
        page.reload()
        thread = page.inner_text("#thread")
        positions = [thread.index(text) for text in ALL]
        assert positions == sorted(positions)
        assert page.locator(".outgoing.status-sent").count() == 3
        shot = screenshot(page, "reply-all-delivered", tmp_path)
        record_property("screenshot_reply_all", str(shot))

        # The outbox lists every message sent.
        page.goto(f"{live_server.url}/admin/replies/outgoingmessage/")
        assert page.locator("#result_list tbody tr").count() == 3
    assert set(OutgoingMessage.objects.values_list("status", flat=True)) == {"sent"}
