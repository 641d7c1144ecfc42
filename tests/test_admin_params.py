"""Every parameter of every admin page, given hostile values, answers below 500.

A superuser requests each page with each parameter set to NUL, dates near year 1 and 9999, huge,
negative and non-numeric numbers, a 10 KB string, invalid UTF-8 and a lone surrogate (as percent
escapes). Whatever the page makes of it — a form error, a redirect, a 400 or a 404 — it must not
be a 500: on SQLite and on PostgreSQL (which refuses NUL in text and years past 294276).
"""

from urllib.parse import quote

import pytest
from django.contrib.auth.models import User

from replies.models import Message, SecurityEvent
from tests.conftest import OPENID
from tests.factories import make_rule

pytestmark = pytest.mark.django_db

HOSTILE = {
    "nul": "%00",
    "nul-inside": "a%00b",
    "year-1": "0001-01-01",
    "year-9999": "9999-12-31",
    "huge": "9" * 30,
    "int64-plus-one": str(2**63),
    "negative": "-1",
    "zero": "0",
    "non-numeric": "abc",
    "10-KB": "x" * 10240,
    "10-KB-of-words": quote("a " * 5000),
    "invalid-utf8": "%ff%fe",
    "lone-surrogate": "%ed%a0%80",
    "bidi": quote("\u202egnp.exe"),
    "regex": quote("(a+)+$"),
}

MESSAGES = "/admin/replies/message/"
RULES = "/admin/replies/replyrule/"

# (page, the parameter made hostile, the other parameters the page needs to reach it)
GET_PARAMS = [
    *[
        (url, name, "")
        for url in (MESSAGES, f"{MESSAGES}export.csv")
        for name in (
            "q",
            "msg_type__exact",
            "event__exact",
            "mode__exact",
            "answered",
            "received",
            "o",
            "p",
            "_to_field",
            "_facets",
            "e",
        )
    ],
    (f"{MESSAGES}conversation/", "openid", ""),
    *[
        (f"{MESSAGES}conversation/", name, f"openid={OPENID}")
        for name in ("before", "after", "message")
    ],
    *[
        (RULES, name, "")
        for name in (
            "q",
            "enabled__exact",
            "triggers__kind__exact",
            "triggers__match__exact",
            "replies__reply_type__exact",
            "reply_mode__exact",
            "o",
            "p",
        )
    ],
    *[
        (f"{RULES}tester/", name, "msg_type=text&text=hi")
        for name in ("msg_type", "text", "event", "event_key")
    ],
    *[
        ("/admin/replies/securityevent/", name, "")
        for name in ("q", "code", "status", "status__isnull", "o", "p")
    ],
    *[
        (f"/admin/insights/report/{page}", name, "")
        for page in ("", "unanswered/", "rules/", "traffic/")
        for name in ("days", "start", "end")
    ],
    *[
        ("/admin/insights/report/traffic/", "end", "start=2025-01-01"),
        ("/admin/insights/report/traffic/", "start", "end=2025-01-01"),
        ("/admin/insights/report/unanswered/", "limit", ""),
    ],
    *[("/admin/auth/user/", name, "") for name in ("q", "is_staff__exact", "groups__id__exact")],
    *[
        ("/admin/axes/accessattempt/", name, "")
        for name in ("q", "attempt_time__year", "attempt_time__gte", "path_info")
    ],
    ("/admin/axes/accessattempt/", "attempt_time__month", "attempt_time__year=9999"),
    (
        "/admin/axes/accessattempt/",
        "attempt_time__day",
        "attempt_time__year=1&attempt_time__month=1",
    ),
    ("/admin/", "q", ""),
]


@pytest.fixture
def content(wechat):
    from replies.rules import ruleset

    ruleset.forget_rule_index()
    make_rule("价格", keywords=["价格"], text="99 元")
    for text in ("价格", "hello", "where is the shop"):
        wechat.post(wechat.xml("text", Content=text))
    wechat.post(wechat.xml("event", Event="CLICK", EventKey="MENU_1"))
    SecurityEvent.objects.create(code="signature", status=403, reason="bad", method="POST")
    return Message.objects.order_by("pk")


def _request(client, method, url, query, data=None):
    if method == "GET":
        return client.get(f"{url}?{query}" if query else url)
    return client.post(
        f"{url}?{query}" if query else url,
        data=data,
        content_type="application/x-www-form-urlencoded",
    )


@pytest.mark.parametrize("url, name, base", GET_PARAMS)
def test_hostile_values_of_a_get_parameter_answer_below_500(admin_client, content, url, name, base):
    failures = {}
    for label, value in HOSTILE.items():
        query = "&".join(part for part in (base, f"{name}={value}") if part)
        response = _request(admin_client, "GET", url, query)
        if response.status_code >= 500:
            failures[label] = response.status_code
        if getattr(response, "streaming", False):
            b"".join(response.streaming_content)
    assert failures == {}


PATH_IDS = ["%00", "9" * 30, str(2**63), "-1", "0", "abc", "x" * 10240, "%ff", "%ed%a0%80"]


@pytest.mark.parametrize(
    "pattern",
    [
        "/admin/replies/message/{}/change/",
        "/admin/replies/replyrule/{}/change/",
        "/admin/replies/replyrule/{}/delete/",
        "/admin/replies/replyrule/{}/history/",
        "/admin/replies/securityevent/{}/change/",
        "/admin/auth/user/{}/change/",
    ],
)
def test_hostile_object_ids_in_the_path_answer_below_500(admin_client, content, pattern):
    failures = {
        object_id: status
        for object_id in PATH_IDS
        if (status := admin_client.get(pattern.format(object_id)).status_code) >= 500
    }
    assert failures == {}


@pytest.mark.parametrize("name", ["text", "period"])
def test_hostile_values_posted_to_make_a_rule_answer_below_500(admin_client, content, name):
    base = {"text": "hello", "period": "days=7"}
    failures = {}
    for label, value in HOSTILE.items():
        body = "&".join(f"{key}={quote(val)}" for key, val in base.items() if key != name)
        body += f"&{name}={value}"
        response = _request(
            admin_client, "POST", "/admin/insights/report/unanswered/make-rule/", "", body
        )
        if response.status_code >= 500:
            failures[label] = response.status_code
    assert failures == {}


@pytest.mark.parametrize("name", ["_selected_action", "action", "index", "select_across"])
def test_hostile_values_posted_to_a_changelist_action_answer_below_500(admin_client, content, name):
    rule = make_rule("other", keywords=["other"])
    base = {"action": "enable_rules", "_selected_action": str(rule.pk), "index": "0"}
    failures = {}
    for label, value in HOSTILE.items():
        body = "&".join(f"{key}={quote(val)}" for key, val in base.items() if key != name)
        body += f"&{name}={value}"
        response = _request(admin_client, "POST", RULES, "", body)
        if response.status_code >= 500:
            failures[label] = response.status_code
    assert failures == {}


@pytest.mark.parametrize("name", ["name", "priority", "starts_at", "triggers-0-value"])
def test_hostile_values_posted_to_the_rule_form_answer_below_500(admin_client, content, name):
    base = {
        "name": "new",
        "enabled": "on",
        "priority": "0",
        "reply_mode": "first",
        "triggers-TOTAL_FORMS": "1",
        "triggers-INITIAL_FORMS": "0",
        "triggers-0-kind": "keyword",
        "triggers-0-match": "exact",
        "triggers-0-value": "new",
        "replies-TOTAL_FORMS": "1",
        "replies-INITIAL_FORMS": "0",
        "replies-0-reply_type": "text",
        "replies-0-position": "0",
        "replies-0-content": "hi",
    }
    failures = {}
    for label, value in HOSTILE.items():
        body = "&".join(f"{key}={quote(val)}" for key, val in base.items() if key != name)
        body += f"&{name}={value}"
        response = _request(admin_client, "POST", f"{RULES}add/", "", body)
        if response.status_code >= 500:
            failures[label] = response.status_code
    assert failures == {}


def test_a_nul_in_the_log_search_is_a_400_not_a_database_error(admin_client, content):
    assert admin_client.get(f"{MESSAGES}?q=a%00b").status_code == 400
    assert admin_client.get(f"{MESSAGES}export.csv?q=a%00b").status_code == 400


def test_a_nul_in_a_filter_value_is_a_400(admin_client, content):
    assert admin_client.get(f"{MESSAGES}?msg_type__exact=te%00xt").status_code == 400


def test_a_hostile_openid_in_the_conversation_is_a_form_error(admin_client, content):
    response = admin_client.get(f"{MESSAGES}conversation/?openid=a%00b")
    assert response.status_code == 400
    assert response.context["form"].errors


def test_a_cursor_past_the_largest_id_is_a_400(admin_client, content):
    response = admin_client.get(f"{MESSAGES}conversation/?openid={OPENID}&before={2**63}")
    assert response.status_code == 400


@pytest.mark.parametrize(
    "query",
    [
        "start=0001-01-01&end=0001-01-02",
        "start=9999-12-31",
        "start=9999-12-30&end=9999-12-31",
        "end=0001-01-01",
    ],
)
@pytest.mark.parametrize("page", ["", "unanswered/", "rules/", "traffic/"])
def test_insights_refuse_dates_out_of_range_with_a_form_error(admin_client, page, query):
    response = admin_client.get(f"/admin/insights/report/{page}?{query}")
    assert response.status_code == 200
    assert response.context["period_form"].errors
    assert len(response.context["period"].days) == 30


def test_a_search_of_thousands_of_words_is_a_400(admin_client, content):
    assert admin_client.get(RULES, {"q": "a " * 5000}).status_code == 400


def test_a_log_reader_gets_the_same_answers(client, content):
    from django.contrib.auth.models import Group

    from replies.groups import LOG_READERS

    user = User.objects.create_user("reader", password="pw", is_staff=True)
    user.groups.add(Group.objects.get(name=LOG_READERS))
    client.force_login(user)
    for url in (MESSAGES, f"{MESSAGES}export.csv", f"{MESSAGES}conversation/"):
        assert client.get(f"{url}?q=%00&openid=%00").status_code == 400
