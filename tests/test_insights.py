"""Insights: the aggregations on known data sets, and the admin pages built on them."""

import itertools
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from lxml import html

from insights import reports as insights
from insights.management.commands.rollup_insights import roll_up
from insights.models import TextHour
from insights.reports import Period, normalize_query, percentile
from replies.models import Message, ReplyRule, Trigger
from replies.protocol import TextReply, render_reply
from tests.factories import make_rule

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
JAN1, JAN2, JAN3 = date(2025, 1, 1), date(2025, 1, 2), date(2025, 1, 3)
_keys = itertools.count()


@pytest.fixture(autouse=True)
def shanghai(settings):
    settings.TIME_ZONE = "Asia/Shanghai"


def at(day: date, hour: int = 12, minute: int = 0) -> datetime:
    """Return a moment in Shanghai local time."""
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=SHANGHAI)


def msg(when: datetime, *, openid="o_a", msg_type="text", rule=None, **fields) -> Message:
    """Store one message received at `when`, answered by `rule` (None: by nothing).

    `rule_name` without `rule` is a message answered by a rule deleted since.
    """
    fields.setdefault("rule_name", rule.name if rule else "")
    fields.setdefault("reply_type", "text" if fields["rule_name"] else "")
    return Message.objects.create(
        dedup_key=f"key-{next(_keys)}",
        to_user="gh_0123456789ab",
        openid=openid,
        msg_type=msg_type,
        created_at=when,
        received_at=when,
        raw_xml="<xml/>",
        rule=rule,
        **fields,
    )


def roll() -> None:
    """Bring the rollups up to date, as the scheduled `manage.py rollup_insights` does."""
    roll_up()


def three_days() -> dict:
    period = Period.between(JAN1, JAN3)
    return {"since": period.since, "until": period.until}


@pytest.fixture
def rules():
    return {
        "default": make_rule("默认回复", triggers=[("default", "", "")]),
        "price": make_rule("价格", keywords=["价格"]),
        "image": make_rule("图片", triggers=[("msg_type", "image", "")]),
    }


# --- the period ------------------------------------------------------------------------------


def test_period_covers_whole_local_days():
    period = Period.between(JAN1, JAN3)
    assert period.since == datetime(2024, 12, 31, 16, 0, tzinfo=ZoneInfo("UTC"))
    assert period.until == datetime(2025, 1, 3, 16, 0, tzinfo=ZoneInfo("UTC"))
    assert period.days == [JAN1, JAN2, JAN3]


def test_last_days_ends_today_in_local_time():
    now = datetime(2025, 1, 3, 17, 0, tzinfo=ZoneInfo("UTC"))  # 01:00 on Jan 4 in Shanghai
    assert Period.last_days(7, now=now).days[-1] == date(2025, 1, 4)
    assert len(Period.last_days(7, now=now).days) == 7


# --- unanswered queries ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("ＨＥＬＬＯ！", "hello"),
        ("hello", "hello"),
        (" Hello ", "hello"),
        ("你好，在吗？", "你好在吗"),
        ("【优惠】 活动  详情。", "优惠 活动 详情"),
        ("Straße", "strasse"),
        ("？？？!!", ""),
        ("👍", "👍"),
    ],
)
def test_normalize_query(text, expected):
    assert normalize_query(text) == expected


def test_unanswered_queries_group_variants_and_count_each_follower_once(rules):
    msg(at(JAN1, 9), openid="o_a", content="ＨＥＬＬＯ！")  # nothing answered
    msg(at(JAN1, 10), openid="o_a", content="hello", rule=rules["default"])
    msg(at(JAN2, 11), openid="o_b", content=" Hello ")
    msg(at(JAN3, 20), openid="o_a", content="hello", rule=rules["default"])
    msg(at(JAN2, 12), openid="o_c", content="营业时间？", rule=rules["default"])
    msg(at(JAN2, 13), openid="o_c", content="价格", rule=rules["price"])  # a keyword answered it
    msg(at(JAN2, 14), openid="o_d", content="价格", rule_name="deleted rule")  # rule deleted
    msg(at(JAN2, 15), openid="o_c", msg_type="image", pic_url="http://p/x.jpg")  # not text
    msg(at(date(2024, 12, 31), 23), openid="o_e", content="hello")  # before the period
    msg(at(JAN2, 16), openid="o_f", content="？？？")  # only punctuation
    roll()

    report = insights.unanswered_queries(**three_days())

    assert [(g.key, g.followers, g.messages) for g in report.groups] == [
        ("hello", 2, 4),
        ("价格", 1, 1),
        ("营业时间", 1, 1),
    ]
    hello = report.groups[0]
    assert hello.first_seen == at(JAN1, 9)
    assert hello.last_seen == at(JAN3, 20)
    assert hello.sample in {"ＨＥＬＬＯ！", "hello", "Hello"}  # as a follower wrote it
    assert report.total_groups == 3
    assert report.total_messages == 6


def test_unanswered_ranking_uses_exact_follower_counts_of_merged_groups():
    # "hi" and "HI!" are one query: followers 1, 2, 3 and 1, 4 make 4 — not 3 (the larger
    # part) nor 5 (the sum of the parts).
    for openid in ("o_1", "o_2", "o_3"):
        msg(at(JAN1), openid=openid, content="hi")
    for openid in ("o_1", "o_4"):
        msg(at(JAN2), openid=openid, content="HI!")
    for openid in ("o_5", "o_6", "o_7", "o_8", "o_9"):
        msg(at(JAN1), openid=openid, content="yo")
    roll()

    full = insights.unanswered_queries(**three_days())
    assert [(g.key, g.followers, g.messages) for g in full.groups] == [
        ("yo", 5, 5),
        ("hi", 4, 5),
    ]
    top = insights.unanswered_queries(**three_days(), limit=1)
    assert [(g.key, g.followers) for g in top.groups] == [("yo", 5)]
    assert top.total_groups == 2


def test_rollup_groups_texts_under_normalize_query():
    texts = [
        "ＨＥＬＬＯ！",
        " Hello ",
        "你好，在吗？",
        "【优惠】 活动\n详情。",
        "a+b=c",
        "👍👍",
        "x…y",
    ]
    for n, text in enumerate(texts):
        msg(at(JAN1), content=text, openid=f"o_{n}")
    roll()
    keys = dict(TextHour.objects.values_list("openid", "key"))
    assert keys == {f"o_{n}": normalize_query(text) for n, text in enumerate(texts)}


def test_a_rule_with_a_default_trigger_counts_as_default(rules):
    both = make_rule("both", keywords=["x"], triggers=[("default", "", "")])
    msg(at(JAN1), content="随便问问", rule=both)
    roll()
    assert [g.key for g in insights.unanswered_queries(**three_days()).groups] == ["随便问问"]


# --- making a rule from a query ----------------------------------------------------------------

MAKE_RULE = "/admin/insights/report/unanswered/make-rule/"


def test_query_variants_are_the_texts_as_rules_compare_them(rules):
    msg(at(JAN1), content="ＨＥＬＬＯ！")
    msg(at(JAN1), content=" Hello ", rule=rules["default"])
    msg(at(JAN2), content="hello")
    msg(at(JAN2), content="hello", rule=rules["price"])  # answered by a keyword: not counted
    msg(at(JAN2), content="bye")
    roll()
    variants = insights.query_variants("hello", **three_days())
    assert variants == ["hello", "hello!"]


def test_make_rule_creates_a_disabled_draft_with_the_keywords_and_opens_it(admin_client):
    now = timezone.now()
    msg(now - timedelta(hours=2), content="ＨＥＬＬＯ！")
    msg(now - timedelta(hours=1), content="hello")
    msg(now - timedelta(hours=1), content="bye")
    roll()
    response = admin_client.post(MAKE_RULE, {"text": "ＨＥＬＬＯ！", "period": "days=7"})
    rule = ReplyRule.objects.get()
    assert response.status_code == 302
    assert response.url == reverse("admin:replies_replyrule_change", args=[rule.pk])
    assert rule.enabled is False
    assert "hello" in rule.name
    triggers = list(rule.triggers.values_list("kind", "match", "value"))
    # the key, and the way with punctuation it was written in; "bye" is another query
    assert triggers == [("keyword", "exact", "hello"), ("keyword", "exact", "hello!")]
    reply = rule.replies.get()
    assert reply.reply_type == "text" and reply.content
    page = admin_client.get(response.url)
    assert page.status_code == 200
    assert any("enable" in str(m) or "启用" in str(m) for m in page.context["messages"])


def test_make_rule_refuses_get(admin_client):
    assert admin_client.get(MAKE_RULE, {"text": "hello"}).status_code == 405
    assert not ReplyRule.objects.exists()


def test_make_rule_needs_the_add_permission_on_rules(client):
    user = User.objects.create_user("viewer", password="pw", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_message"))
    client.force_login(user)
    assert client.post(MAKE_RULE, {"text": "hello"}).status_code == 403
    assert not ReplyRule.objects.exists()


def test_make_rule_needs_the_csrf_token():
    user = User.objects.create_superuser("root", password="pw")
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    assert client.post(MAKE_RULE, {"text": "hello"}).status_code == 403
    assert not ReplyRule.objects.exists()


def test_make_rule_opens_the_existing_rule_instead_of_a_duplicate(admin_client):
    existing = make_rule("hello rule", keywords=["hello"], enabled=False)
    response = admin_client.post(MAKE_RULE, {"text": "Hello"})
    assert response.url == reverse("admin:replies_replyrule_change", args=[existing.pk])
    assert ReplyRule.objects.count() == 1


def test_make_rule_refuses_a_text_too_long_for_a_keyword(admin_client):
    response = admin_client.post(MAKE_RULE, {"text": "长" * 31, "period": "days=90"})
    assert response.status_code == 302
    assert response.url == "/admin/insights/report/unanswered/?days=90"
    assert not ReplyRule.objects.exists()


# --- rule performance ---------------------------------------------------------------------------


def test_rule_hits_per_local_day(rules):
    msg(at(JAN1, 23, 30), rule=rules["price"])  # 15:30 UTC on Jan 1: Jan 1
    msg(at(JAN2, 0, 30), rule=rules["price"])  # 16:30 UTC on Jan 1: Jan 2 in Shanghai
    msg(at(JAN2, 9), rule=rules["price"])
    msg(at(JAN3, 9), rule=rules["default"])
    msg(at(JAN3, 10))  # unanswered: no rule
    msg(at(date(2025, 1, 4), 0, 1), rule=rules["price"])  # after the period
    roll()

    hits = insights.rule_hits(**three_days())

    assert hits.days == [JAN1, JAN2, JAN3]
    assert [(r.name, r.total, r.per_day, r.enabled) for r in hits.rules] == [
        ("价格", 3, [1, 2, 0], True),
        ("默认回复", 1, [0, 0, 1], True),
    ]


def test_idle_rules_are_enabled_rules_without_hits_in_the_period(rules):
    now = timezone.now()
    msg(now - timedelta(days=1), rule=rules["price"])
    msg(now - timedelta(days=40), rule=rules["image"])
    make_rule("off", keywords=["off"], enabled=False)
    roll()

    idle = insights.idle_rules(since=now - timedelta(days=30), until=now)

    assert [(r.name, r.last_hit is not None) for r in idle] == [
        ("默认回复", False),
        ("图片", True),
    ]
    assert idle[1].last_hit == now - timedelta(days=40)


def test_answer_shares_split_messages_by_who_answered(rules):
    msg(at(JAN1), content="价格", rule=rules["price"])
    msg(at(JAN1), content="价格?", rule=rules["price"])
    msg(at(JAN1), content="hm", rule=rules["default"])
    msg(at(JAN1), msg_type="image", rule=rules["image"])
    msg(at(JAN1), content="x", rule_name="a deleted rule")
    msg(at(JAN1), content="y")
    msg(at(JAN1), content="z")
    msg(at(JAN1), msg_type="event", event="subscribe")  # events are not counted
    roll()

    shares = insights.answer_shares(**three_days())

    assert shares == insights.AnswerShares(keyword=2, default=1, other=2, unanswered=2, total=7)


# --- traffic ------------------------------------------------------------------------------------


@pytest.fixture
def traffic():
    msg(at(JAN1, 8), openid="o_a", content="hi")
    msg(at(JAN1, 8, 30), openid="o_a", msg_type="event", event="subscribe")
    msg(at(JAN1, 23, 59), openid="o_b", msg_type="event", event="click", event_key="M1")
    msg(at(JAN2, 0, 0), openid="o_b", msg_type="event", event="unsubscribe")
    msg(at(JAN2, 8, 15), openid="o_c", msg_type="image")
    msg(at(JAN2, 9), openid="o_a", content="again")
    msg(at(JAN3, 8), openid="o_c", msg_type="event", event="unsubscribe")
    msg(at(date(2024, 12, 20)), openid="o_b", content="long ago")  # o_b is not new
    roll()


def test_traffic_per_day_by_type_and_event(traffic):
    per_day = insights.traffic(**three_days()).per_day
    assert per_day.buckets == [JAN1, JAN2, JAN3]
    assert per_day.series == {
        "text": [1, 1, 0],
        "event:unsubscribe": [0, 1, 1],
        "event:click": [1, 0, 0],
        "event:subscribe": [1, 0, 0],
        "image": [0, 1, 0],
    }
    assert per_day.totals == [3, 3, 1]


def test_traffic_per_hour_uses_local_hours(traffic):
    per_hour = insights.traffic(**three_days()).per_hour
    assert per_hour.buckets == list(range(24))
    assert per_hour.totals[8] == 4  # 08:00, 08:30, 08:15 and 08:00 Shanghai time
    assert per_hour.totals[0] == 1 and per_hour.totals[23] == 1 and per_hour.totals[9] == 1
    assert sum(per_hour.totals) == 7
    assert per_hour.series["event:click"][23] == 1


def test_followers_new_and_returning_per_day(traffic):
    followers = insights.followers_per_day(**three_days())
    assert followers.active == [2, 3, 1]  # Jan 1: a, b; Jan 2: b, c, a; Jan 3: c
    assert followers.new == [1, 1, 0]  # a on Jan 1 (twice, counted once), c on Jan 2
    assert followers.returning == [1, 2, 1]


def test_follows_unfollows_and_net_change_per_day(traffic):
    follows = insights.follows_per_day(**three_days())
    assert follows.follows == [1, 0, 0]
    assert follows.unfollows == [0, 1, 1]
    assert follows.net == [1, -1, -1]


def test_an_empty_period_gives_zeros():
    assert insights.traffic(**three_days()).per_day.totals == [0, 0, 0]
    assert insights.traffic(**three_days()).per_hour.totals == [0] * 24
    assert insights.followers_per_day(**three_days()).new == [0, 0, 0]
    assert insights.unanswered_queries(**three_days()).groups == []


# --- handling time percentiles -------------------------------------------------------------------


def test_percentile_interpolates_between_ranks_like_percentile_cont():
    values = [1.0, 2.0, 3.0, 4.0, 100.0]
    assert percentile(values, 0.5) == 3.0
    assert percentile(values, 0.99) == pytest.approx(4 + 96 * 0.96)
    assert percentile(values, 0) == 1.0 and percentile(values, 1) == 100.0
    assert percentile([7.0], 0.99) == 7.0
    assert percentile([], 0.5) is None


def test_handling_percentiles_per_day():
    for n, handling_ms in enumerate([4.0, 1.0, 100.0, 3.0, 2.0]):
        msg(at(JAN1, 10, n), handling_ms=handling_ms)
    msg(at(JAN2, 23, 59), handling_ms=10.0)
    msg(at(JAN3, 0, 1), handling_ms=20.0)  # local Jan 3, still Jan 2 in UTC
    msg(at(JAN3, 0, 2), handling_ms=30.0)
    roll()

    result = insights.handling_percentiles(**three_days())

    assert result.days == [JAN1, JAN2, JAN3]
    assert result.percentiles[0.5] == pytest.approx([3.0, 10.0, 25.0])
    assert result.percentiles[0.99] == pytest.approx([4 + 96 * 0.96, 10.0, 29.9])


def test_handling_percentiles_leave_days_without_messages_empty():
    msg(at(JAN2), handling_ms=5.0)
    roll()
    result = insights.handling_percentiles(**three_days())
    assert result.percentiles[0.5] == [None, 5.0, None]


def test_percentiles_of_a_single_value_are_that_value():
    msg(at(JAN1), handling_ms=5.0)
    roll()
    assert insights.handling_percentiles(**three_days()).percentiles[0.99][0] == 5.0


# --- a follower's conversation --------------------------------------------------------------------

CONVERSATION = "/admin/replies/message/conversation/"


def _reply_xml(text: str) -> str:
    return render_reply(
        TextReply(text), to_user="o_a", from_user="gh", create_time=1, in_reply_to="text"
    ).decode()


def test_conversation_shows_one_followers_thread_in_time_order(admin_client, rules):
    long_reply = "营业时间：" + "每天九点到晚上九点。" * 30  # longer than the 200-character summary
    third = msg(
        at(JAN2, 9), content="几点开门", rule=rules["default"], reply_xml=_reply_xml(long_reply)
    )
    first = msg(at(JAN1, 9), msg_type="event", event="subscribe", event_key="qrscene_42")
    second = msg(at(JAN1, 10), content="<script>alert(1)</script>")
    msg(at(JAN1, 11), openid="o_other", content="someone else")

    response = admin_client.get(CONVERSATION, {"openid": "o_a"})

    assert response.status_code == 200
    items = response.context["items"]
    assert [item["message"].pk for item in items] == [first.pk, second.pk, third.pk]
    assert items[0]["is_event"] and "42" in items[0]["text"]
    assert items[1]["text"] == "<script>alert(1)</script>" and items[1]["reply"] == ""
    assert items[2]["reply"] == long_reply
    page = response.content.decode()
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "someone else" not in page
    assert reverse("admin:replies_replyrule_change", args=[rules["default"].pk]) in page


def test_conversation_pages_back_from_the_newest_messages(admin_client):
    rows = [msg(at(JAN1, 0) + timedelta(minutes=n), content=f"m{n}") for n in range(205)]

    newest = admin_client.get(CONVERSATION, {"openid": "o_a"})
    texts = [item["text"] for item in newest.context["items"]]
    assert texts == [f"m{n}" for n in range(5, 205)]
    assert newest.context["older"] == rows[5].pk and newest.context["newer"] is None

    older = admin_client.get(CONVERSATION, {"openid": "o_a", "before": rows[5].pk})
    assert [item["text"] for item in older.context["items"]] == ["m0", "m1", "m2", "m3", "m4"]
    assert older.context["older"] is None and older.context["newer"] == rows[4].pk

    focused = admin_client.get(CONVERSATION, {"openid": "o_a", "message": rows[150].pk})
    focused_texts = [item["text"] for item in focused.context["items"]]
    assert focused_texts[0] == "m51" and focused_texts[-1] == "m204"
    assert f'id="m{rows[150].pk}"' in focused.content.decode()


def test_conversation_link_opens_the_thread_at_the_message(admin_client):
    from replies.admin.conversation import conversation_link

    message = msg(at(JAN1), openid="o_a&b", content="hi")
    link = html.fromstring(conversation_link(message, "o_a&b"))
    assert link.text == "o_a&b"
    response = admin_client.get(link.get("href"))
    assert response.status_code == 200
    assert response.context["focus"] == message.pk
    assert link.get("href").endswith(f"#m{message.pk}")


def test_conversation_of_an_unknown_follower_is_404(admin_client):
    assert admin_client.get(CONVERSATION, {"openid": "o_nobody"}).status_code == 404


def test_conversation_refuses_a_cursor_of_another_follower(admin_client):
    other = msg(at(JAN1), openid="o_other")
    msg(at(JAN1), openid="o_a")
    assert admin_client.get(CONVERSATION, {"openid": "o_a", "before": other.pk}).status_code == 404


# --- the pages ----------------------------------------------------------------------------------

PAGES = [
    "/admin/insights/report/",
    "/admin/insights/report/unanswered/",
    "/admin/insights/report/rules/",
    "/admin/insights/report/traffic/",
    "/admin/replies/message/conversation/",
]


@pytest.fixture
def some_traffic(rules):
    now = timezone.now()
    msg(now - timedelta(hours=1), content="<b>hello</b>", rule=rules["default"])
    msg(now - timedelta(hours=2), content="价格", rule=rules["price"])
    msg(now - timedelta(days=3), msg_type="event", event="subscribe", openid="o_new")
    msg(now - timedelta(days=3), msg_type="event", event="unsubscribe", openid="o_gone")
    roll()


@pytest.mark.parametrize("url", PAGES)
@pytest.mark.parametrize("query", ["", "?days=7", "?start=2025-01-01&end=2025-01-03", "?days=x"])
def test_pages_answer_staff(admin_client, some_traffic, url, query):
    response = admin_client.get(url + query)
    assert response.status_code == 200
    assert b"<b>hello</b>" not in response.content


@pytest.mark.parametrize("url", [*PAGES, MAKE_RULE])
def test_pages_send_anonymous_users_to_the_login(client, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response.url.startswith("/admin/login/")


@pytest.mark.parametrize("url", PAGES)
def test_pages_need_the_view_permission_on_messages(client, url):
    client.force_login(User.objects.create_user("staff", password="pw", is_staff=True))
    assert client.get(url).status_code == 403


def test_unanswered_page_lists_queries_with_a_make_rule_button(admin_client, some_traffic):
    response = admin_client.get("/admin/insights/report/unanswered/?days=7")
    tree = html.fromstring(response.content)
    cells = [
        cell.text_content() for cell in tree.xpath('//*[@id="unanswered"]//td[@class="text"]/a')
    ]
    assert cells == ["<b>hello</b>"]
    (form,) = tree.xpath('//*[@id="unanswered"]//form')
    assert form.get("method") == "post" and form.get("action") == MAKE_RULE
    assert form.xpath('.//input[@name="csrfmiddlewaretoken"]')
    assert form.xpath('.//input[@name="text"]/@value') == [normalize_query("<b>hello</b>")]


def test_traffic_page_draws_its_charts(admin_client, some_traffic):
    response = admin_client.get("/admin/insights/report/traffic/?days=7")
    tree = html.fromstring(response.content)
    assert len(tree.xpath("//figure/*[local-name()='svg']")) == 5
    assert len(tree.xpath('//*[@id="traffic-days"]/tbody/tr')) == 7


def test_invalid_period_falls_back_to_the_default_and_says_why(admin_client):
    response = admin_client.get(
        "/admin/insights/report/traffic/", {"start": "2025-01-05", "end": "2025-01-01"}
    )
    assert response.status_code == 200
    assert response.context["period_form"].errors
    assert len(response.context["period"].days) == 30


def test_insights_appear_in_the_admin_app_list(admin_client):
    page = admin_client.get("/admin/").content.decode()
    assert 'href="/admin/insights/report/"' in page


def test_insights_stay_out_of_the_app_list_without_permission(client):
    user = User.objects.create_user("staff", password="pw", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_replyrule"))
    client.force_login(user)
    assert "/admin/insights/report/" not in client.get("/admin/").content.decode()


def test_default_trigger_lookup_uses_current_triggers(rules):
    # Turning a rule into a default rule moves its past answers into "unanswered".
    msg(at(JAN1), content="价格", rule=rules["price"])
    roll()
    assert insights.unanswered_queries(**three_days()).groups == []
    Trigger.objects.create(rule=rules["price"], kind="default")
    assert [g.key for g in insights.unanswered_queries(**three_days()).groups] == ["价格"]
