"""A "reply all" rule: the first reply passively, the rest through the outbox, in order, durably.

The end-to-end test posts a signed message to /wechat/ over real HTTP (the live server), then
runs django-tasks-db's own worker (its --batch mode, in this process) against the fake WeChat
API over real HTTP. Transactional: the worker commits as it does in production.
"""

import json
import time
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from django.db import OperationalError
from django.utils import timezone

from replies.endpoint import spool, storage
from replies.groups import CUSTOMER_SERVICE
from replies.models import Message, OutgoingMessage, ReplyRule
from replies.outbound import outbox
from replies.outbound.sending import claim
from replies.protocol import parse_xml
from replies.rules import ruleset
from replies.rules.tester import run_rule_tester
from replies.rules.transfer import (
    apply_rules,
    dump_document,
    export_document,
    load_document,
)
from tests.conftest import OPENID
from tests.factories import make_rule
from tests.outbound_helpers import CUSTOM_SEND, fake_api, run_worker, sent_texts
from tests.wechat_http import post_signed_text

pytestmark = pytest.mark.django_db(transaction=True)

REPLIES = ["第一条：营业时间 9:00–18:00", "第二条：地址 人民路 1 号", "第三条：电话 123"]


@pytest.fixture
def fake(settings):
    with fake_api(settings) as server:
        server.set_last_message(OPENID)
        yield server


@pytest.fixture
def rule():
    ruleset.forget_rule_index()
    return make_rule(
        "全部回复",
        keywords=["营业"],
        reply_mode=ReplyRule.ReplyMode.ALL,
        replies=[{"reply_type": "text", "content": text} for text in REPLIES],
    )


def post_over_http(base_url: str, text: str) -> bytes:
    """POST a signed text to `base_url`/wechat/ as WeChat's servers do; return the reply XML."""
    return post_signed_text(f"{base_url}/wechat/", text)[0]


def statuses():
    return list(OutgoingMessage.objects.order_by("id").values_list("status", flat=True))


def test_reply_all_end_to_end_first_passively_then_the_rest_in_order(live_server, fake, rule):
    reply = parse_xml(post_over_http(live_server.url, "营业"))

    assert reply["Content"] == REPLIES[0]
    assert fake.sent == []  # nothing before the worker runs: the answer does not wait for it
    message = Message.objects.get(content="营业")
    rows = list(OutgoingMessage.objects.order_by("id"))
    assert [row.status for row in rows] == ["pending", "pending"]
    assert {row.in_reply_to_id for row in rows} == {message.pk}
    assert {(row.rule_id, row.rule_name, row.sent_by_id) for row in rows} == {
        (rule.pk, "全部回复", None)
    }

    run_worker()

    assert sent_texts(fake) == REPLIES[1:]
    assert statuses() == ["sent", "sent"]
    run_worker()  # nothing twice
    assert sent_texts(fake) == REPLIES[1:]


def test_a_busy_answer_is_retried_with_back_off_and_order_holds(wechat, fake, rule, monkeypatch):
    monkeypatch.setattr(outbox, "BACKOFF_BASE", 0.2)
    fake.add_fault("errcode", errcode=-1, path=CUSTOM_SEND)
    wechat.post(wechat.xml("text", Content="营业"))

    run_worker()  # -1 on the first follow-up: it waits, and the second waits behind it
    first = OutgoingMessage.objects.order_by("id").first()
    assert statuses() == ["pending", "pending"] and fake.sent == []
    assert (first.attempts, first.errcode) == (1, -1)
    assert first.next_attempt_at > first.claimed_at
    assert "繁忙" in first.reason

    deadline = time.monotonic() + 10
    while statuses() != ["sent", "sent"] and time.monotonic() < deadline:
        time.sleep(0.1)
        run_worker()
    assert sent_texts(fake) == REPLIES[1:]
    assert OutgoingMessage.objects.order_by("id").first().attempts == 2


def test_transient_failures_give_up_after_the_last_attempt(wechat, fake, rule, monkeypatch):
    monkeypatch.setattr(outbox, "BACKOFF_BASE", 0.0)
    monkeypatch.setattr(outbox, "MAX_ATTEMPTS", 2)
    fake.add_fault("malformed", path=CUSTOM_SEND, times=2)
    wechat.post(wechat.xml("text", Content="营业"))

    run_worker()
    run_worker()

    first = OutgoingMessage.objects.order_by("id").first()
    assert (first.status, first.attempts) == ("failed", 2)
    assert sent_texts(fake) == REPLIES[2:]


def test_a_permanent_error_fails_the_row_at_once_and_later_ones_still_go(wechat, fake, rule):
    fake.add_fault("errcode", errcode=40007, path=CUSTOM_SEND)
    wechat.post(wechat.xml("text", Content="营业"))

    run_worker()

    first = OutgoingMessage.objects.order_by("id").first()
    assert (first.status, first.attempts, first.errcode) == ("failed", 1, 40007)
    assert "media_id" in first.reason
    assert sent_texts(fake) == REPLIES[2:]


def test_a_closed_window_at_wechat_fails_the_follow_ups(wechat, fake, rule):
    fake.set_last_message(OPENID, time.time() - 49 * 3600)
    wechat.post(wechat.xml("text", Content="营业"))
    run_worker()
    assert statuses() == ["failed", "failed"]
    assert {row.errcode for row in OutgoingMessage.objects.all()} == {45015}


def test_a_crash_between_claim_and_send_leaves_uncertain_and_is_not_resent(
    wechat, fake, rule, settings, client
):
    settings.WECHAT_OUTBOX_CLAIM_TIMEOUT = 60
    wechat.post(wechat.xml("text", Content="营业"))
    first = OutgoingMessage.objects.order_by("id").first()
    # A worker claims the row (committed) and dies before WeChat answers.
    assert claim(first, now=timezone.now() - timedelta(seconds=61))

    run_worker()

    first.refresh_from_db()
    assert first.status == "uncertain"
    assert sent_texts(fake) == REPLIES[2:]  # the uncertain one was not sent again
    call_command("recover_outbox")
    run_worker()
    assert sent_texts(fake) == REPLIES[2:]

    # A person decides to send it again: the outbox's resend action, with the send permission.
    user = User.objects.create_user("agent", password="pw-long-enough", is_staff=True)
    user.groups.add(Group.objects.get(name=CUSTOMER_SERVICE))
    client.force_login(user)
    listing = client.get("/admin/replies/outgoingmessage/", {"status__exact": "uncertain"})
    assert listing.status_code == 200 and REPLIES[1][:10] in listing.content.decode()
    response = client.post(
        "/admin/replies/outgoingmessage/",
        {"action": "resend_selected", "_selected_action": [first.pk]},
    )
    assert response.status_code == 302
    run_worker()
    assert sent_texts(fake) == [REPLIES[2], REPLIES[1]]
    assert statuses() == ["sent", "sent"]


def test_a_fresh_claim_by_another_worker_is_left_alone(wechat, fake, rule):
    wechat.post(wechat.xml("text", Content="营业"))
    first = OutgoingMessage.objects.order_by("id").first()
    assert claim(first, now=timezone.now())

    run_worker()

    assert statuses() == ["sending", "pending"] and fake.sent == []  # the order waits


def test_follow_ups_survive_an_outage_through_the_spool(wechat, fake, rule, monkeypatch):
    wechat.post(wechat.xml("text", Content="warm the index"))  # built while the database is up
    real_insert = storage._execute_insert

    def refused(*args, **kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr(storage, "_execute_insert", refused)
    response = wechat.post(wechat.xml("text", Content="营业"))
    assert parse_xml(response.content)["Content"] == REPLIES[0]
    (path,) = spool.spooled_files()
    saved = json.loads(path.read_text(encoding="utf-8"))
    assert [item["payload"]["text"]["content"] for item in saved["followups"]] == REPLIES[1:]
    assert not OutgoingMessage.objects.exists()

    # Meanwhile the rule is edited: the follow-ups already chosen are what goes out.
    rule.replies.filter(position=2).update(content="改过的第三条")
    monkeypatch.setattr(storage, "_execute_insert", real_insert)
    assert spool.replay_spool().stored == 1
    spool.replay_spool()  # a second replay adds nothing
    message = Message.objects.get(content="营业")
    assert OutgoingMessage.objects.filter(in_reply_to=message).count() == 2

    run_worker()
    assert sent_texts(fake) == REPLIES[1:]


def test_a_retry_of_the_message_stores_no_second_set_of_follow_ups(wechat, fake, rule):
    query, body = wechat.signed(wechat.xml("text", Content="营业"))
    first = wechat.post_raw(query, body)
    retry = wechat.post_raw(query, body)
    assert first.content == retry.content
    assert OutgoingMessage.objects.count() == 2


def test_other_modes_store_no_outbox_rows(wechat, fake, rule):
    ReplyRule.objects.filter(pk=rule.pk).update(reply_mode=ReplyRule.ReplyMode.FIRST)
    ruleset.forget_rule_index()
    response = wechat.post(wechat.xml("text", Content="营业"))
    assert parse_xml(response.content)["Content"] == REPLIES[0]
    assert not OutgoingMessage.objects.exists()


def test_the_tester_shows_the_follow_ups_in_order(rule):
    result = run_rule_tester(msg_type="text", text="营业", event="", event_key="")
    assert [item["summary"] for item in result.followups] == [
        f"text: {text}" for text in REPLIES[1:]
    ]
    assert json.loads(result.followups[0]["body"])["text"] == {"content": REPLIES[1]}


def test_rules_json_round_trips_reply_all(rule):
    text = dump_document(export_document())
    assert '"reply_mode": "all"' in text
    ReplyRule.objects.all().delete()
    apply_rules(load_document(text))
    assert ReplyRule.objects.get().reply_mode == "all"


def test_the_tester_page_lists_the_follow_ups_in_chinese(rule, admin_client):
    response = admin_client.get(
        "/admin/replies/replyrule/tester/", {"msg_type": "text", "text": "营业"}
    )
    page = response.content.decode()
    assert response.status_code == 200 and 'id="followups"' in page
    assert "随后按以下顺序以客服消息发送" in page
    assert page.index(REPLIES[1]) < page.index(REPLIES[2])
