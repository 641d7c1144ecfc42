"""Answering a follower from the log: the reply form, the 48-hour window, once per form token,
WeChat's refusals in words, the 客服 permission, and the outgoing rows in the thread.

Messages reach the log through the endpoint (signed like WeChat's); every call to WeChat goes
over real HTTP to the fake API, which records it.
"""

import re
from datetime import timedelta

import pytest
from django.contrib import messages
from django.contrib.auth.models import Group, User
from django.contrib.messages import get_messages
from django.utils import timezone, translation
from django.utils.translation import gettext

from replies.admin import conversation
from replies.groups import CUSTOMER_SERVICE, LOG_READERS
from replies.models import Message, OutgoingMessage
from tests.conftest import OPENID
from tests.outbound_helpers import CUSTOM_SEND, fake_api

pytestmark = pytest.mark.django_db

CONVERSATION = "/admin/replies/message/conversation/"


@pytest.fixture
def fake(settings):
    with fake_api(settings) as server:
        server.set_last_message(OPENID)
        yield server


def staff(client, username, group):
    user = User.objects.create_user(username, password="pw-long-enough", is_staff=True)
    user.groups.add(Group.objects.get(name=group))
    client.force_login(user)
    return client


@pytest.fixture
def agent(client):
    return staff(client, "agent", CUSTOMER_SERVICE)


@pytest.fixture
def question(wechat):
    """A follower's question no rule answers, stored by the endpoint."""
    wechat.post(wechat.xml("text", Content="你们周末营业吗？"))
    return Message.objects.get(content="你们周末营业吗？")


def reply_url(message):
    return f"/admin/replies/message/{message.pk}/reply/"


def token_of(page) -> str:
    return re.search(rb'name="token" value="([0-9a-f]{32})"', page.content).group(1).decode()


def notices(response) -> list[tuple[int, str]]:
    """The notices the view queued for the page it redirects to, as (level, text)."""
    return [(notice.level, str(notice.message)) for notice in get_messages(response.wsgi_request)]


def custom_sends(fake):
    return fake.calls_to(CUSTOM_SEND)


def post_reply(client, message, **fields):
    page = client.get(CONVERSATION, {"openid": message.openid})
    data = {"kind": "text", "token": token_of(page), **fields}
    return client.post(reply_url(message), data)


def test_the_conversation_offers_the_form_with_the_time_left(agent, fake, question):
    page = agent.get(CONVERSATION, {"openid": OPENID})
    text = page.content.decode()
    assert page.status_code == 200
    assert 'id="reply-form"' in text
    assert "47 小时 59 分钟" in text or "48 小时 0 分钟" in text


def test_a_text_reply_is_sent_stored_and_shown_in_the_thread(agent, fake, question):
    response = post_reply(agent, question, content="周末 10:00–16:00 营业。")

    assert response.status_code == 302
    assert fake.sent == [
        {"touser": OPENID, "msgtype": "text", "text": {"content": "周末 10:00–16:00 营业。"}}
    ]
    row = OutgoingMessage.objects.get()
    assert (row.status, row.in_reply_to, row.sent_by.username) == ("sent", question, "agent")
    assert (row.attempts, row.errcode, row.account) == (1, None, question.account)
    thread = agent.get(response.url).content.decode()
    assert thread.index("你们周末营业吗？") < thread.index("周末 10:00–16:00 营业。")
    assert "已发送给粉丝" in thread and "未回复" not in thread


@pytest.mark.parametrize(
    ("fields", "payload"),
    [
        ({"kind": "image", "media_id": "MEDIA_IMG"}, {"image": {"media_id": "MEDIA_IMG"}}),
        ({"kind": "voice", "media_id": "MEDIA_VOICE"}, {"voice": {"media_id": "MEDIA_VOICE"}}),
        (
            {"kind": "video", "media_id": "MEDIA_VIDEO", "title": "门店", "description": "导览"},
            {"video": {"media_id": "MEDIA_VIDEO", "title": "门店", "description": "导览"}},
        ),
        (
            {
                "kind": "news",
                "title": "周末活动",
                "description": "八折",
                "url": "https://example.com/a",
                "pic_url": "https://example.com/a.jpg",
            },
            {
                "news": {
                    "articles": [
                        {
                            "title": "周末活动",
                            "description": "八折",
                            "url": "https://example.com/a",
                            "picurl": "https://example.com/a.jpg",
                        }
                    ]
                }
            },
        ),
    ],
)
def test_media_and_article_replies_go_out_as_wechat_expects(agent, fake, question, fields, payload):
    assert post_reply(agent, question, **fields).status_code == 302
    assert fake.sent == [{"touser": OPENID, "msgtype": fields["kind"], **payload}]


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"content": ""}, "content"),
        ({"content": "字" * 683}, "content"),  # 2049 bytes
        ({"kind": "image"}, "media_id"),
        ({"kind": "news", "title": "无链接"}, "url"),
        ({"kind": "news", "title": "坏链接", "url": "javascript:alert(1)"}, "url"),
        ({"kind": "sticker"}, "kind"),
    ],
)
def test_a_form_with_errors_is_shown_again_and_nothing_is_sent(
    agent, fake, question, fields, field
):
    response = post_reply(agent, question, **fields)

    assert response.status_code == 400
    assert f"field-{field}" in response.content.decode()
    assert 'class="errorlist"' in response.content.decode()
    assert custom_sends(fake) == [] and not OutgoingMessage.objects.exists()


def test_a_forged_or_missing_token_is_refused(agent, fake, question):
    response = agent.post(reply_url(question), {"kind": "text", "content": "hi", "token": "x"})
    assert response.status_code == 400
    assert custom_sends(fake) == []


def test_after_48_hours_the_form_says_so_and_a_post_is_refused_without_calling(
    agent, fake, question
):
    page = agent.get(CONVERSATION, {"openid": OPENID})  # its token, from when it was open
    Message.objects.filter(pk=question.pk).update(
        received_at=timezone.now() - timedelta(hours=48, minutes=1)
    )
    token = token_of(page)

    closed = agent.get(CONVERSATION, {"openid": OPENID}).content.decode()
    response = agent.post(reply_url(question), {"kind": "text", "content": "迟到", "token": token})

    assert 'id="reply-form"' not in closed and 'class="reply-window closed errornote"' in closed
    assert response.status_code == 302
    with translation.override("zh-hans"):  # the admin's language, as the request had it
        expected = conversation._window_closed_text()
    assert notices(response) == [(messages.ERROR, expected)]
    assert "48 小时" in expected and "48 小时回复时限已过" in closed  # WeChat's window, stated
    assert custom_sends(fake) == [] and not OutgoingMessage.objects.exists()


def test_an_unfollow_does_not_open_the_window(agent, fake, wechat, question):
    Message.objects.filter(pk=question.pk).update(received_at=timezone.now() - timedelta(days=3))
    wechat.post(wechat.xml("event", Event="unsubscribe"))
    page = agent.get(CONVERSATION, {"openid": OPENID}).content.decode()
    assert 'id="reply-form"' not in page


def test_a_double_post_sends_once_and_the_second_shows_the_first_result(agent, fake, question):
    page = agent.get(CONVERSATION, {"openid": OPENID})
    data = {"kind": "text", "content": "只发一次", "token": token_of(page)}

    first = agent.post(reply_url(question), data)
    second = agent.post(reply_url(question), data)

    assert first.status_code == second.status_code == 302
    assert len(custom_sends(fake)) == 1 and OutgoingMessage.objects.count() == 1
    with translation.override("zh-hans"):  # the admin's language, as the requests had it
        status = OutgoingMessage.objects.get().get_status_display()
        sent = gettext("Sent to the follower.")
        again = gettext(
            "This form was already submitted; nothing was sent again. It is: %(status)s."
        ) % {"status": status}
    assert notices(first) == [(messages.SUCCESS, sent)]
    # The first notice was not shown yet (no page between the posts): both are, the second last.
    assert notices(second) == [(messages.SUCCESS, sent), (messages.WARNING, again)]


def test_wechat_refusing_shows_its_reason_in_words_and_keeps_the_failed_row(agent, fake, question):
    fake.add_fault("errcode", errcode=40007, path=CUSTOM_SEND)

    response = post_reply(agent, question, kind="image", media_id="NO_SUCH_MEDIA")

    row = OutgoingMessage.objects.get()
    assert (row.status, row.errcode) == ("failed", 40007)
    assert "media_id" in row.reason and "无效" in row.reason
    page = agent.get(response.url).content.decode()
    assert row.reason in page and "40007" in page  # the notice, and the row in the thread


def test_wechat_unreachable_is_a_failure_in_words_not_a_500(agent, fake, question):
    fake.add_fault("html", path=CUSTOM_SEND)
    response = post_reply(agent, question, content="hello")
    assert response.status_code == 302
    row = OutgoingMessage.objects.get()
    assert row.status == "failed" and "JSON" in row.reason


def test_without_the_send_permission_the_thread_shows_no_form_and_a_post_is_403(
    client, fake, question
):
    reader = staff(client, "reader", LOG_READERS)
    OutgoingMessage.objects.create(
        openid=OPENID,
        account=question.account,
        kind="text",
        payload={"touser": OPENID, "msgtype": "text", "text": {"content": "之前的回复"}},
        summary="text: 之前的回复",
        status="sent",
        idempotency_key="staff:" + "a" * 32,
    )

    page = reader.get(CONVERSATION, {"openid": OPENID}).content.decode()
    response = reader.post(reply_url(question), {"kind": "text", "content": "x", "token": "b" * 32})

    assert "之前的回复" in page and 'id="reply-form"' not in page
    assert response.status_code == 403
    assert custom_sends(fake) == []


def test_the_message_detail_page_has_the_form_outside_the_read_only_form(agent, fake, question):
    page = agent.get(f"/admin/replies/message/{question.pk}/change/").content.decode()
    assert 'id="reply-form"' in page
    assert page.index("</form>") < page.index('id="reply-form"')
    assert f'value="/admin/replies/message/{question.pk}/change/"' in page


def test_a_get_or_an_unknown_message_is_refused_cleanly(agent, fake, question):
    assert agent.get(reply_url(question)).status_code == 405
    assert agent.post("/admin/replies/message/999999999/reply/", {}).status_code == 404


def test_the_outbox_lists_rows_and_filters_by_status(agent, fake, question):
    post_reply(agent, question, content="一条回复")
    listing = agent.get("/admin/replies/outgoingmessage/", {"status__exact": "sent"})
    assert listing.status_code == 200 and "一条回复" in listing.content.decode()
    assert agent.get("/admin/replies/outgoingmessage/", {"payload__contains": "x"}).status_code in (
        400,
        302,
    )
