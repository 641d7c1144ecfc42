"""The admin accepts in a changelist's query string only the lookups its own filters offer, and
bounds every admin query's time on PostgreSQL.

A "Log readers" staff user must not be able to stall the database with `content__regex=` or a
lookup spanning a relation: every such parameter is Django's 400 ("Filtering by … not allowed"),
on the list pages and on the CSV export alike. What the page itself offers (its filter links, its
search box, sorting, paging) keeps working.
"""

from urllib.parse import parse_qsl

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group, User
from django.db import connection
from django.db.models.expressions import RawSQL

from replies.groups import LOG_READERS
from replies.models import Message, SecurityEvent
from tests.factories import make_rule

pytestmark = pytest.mark.django_db

MESSAGES = "/admin/replies/message/"
EXPORT = "/admin/replies/message/export.csv"
RULES = "/admin/replies/replyrule/"
SECURITY = "/admin/replies/securityevent/"


@pytest.fixture
def reader(client):
    user = User.objects.create_user("reader", password="pw", is_staff=True)
    user.groups.add(Group.objects.get(name=LOG_READERS))
    client.force_login(user)
    return client


@pytest.fixture
def some_rows(wechat):
    from replies.rules import ruleset

    ruleset.forget_rule_index()  # no rule ids cached from another test's rolled-back rows
    make_rule("价格", keywords=["价格"], text="99 元")
    wechat.post(wechat.xml("text", Content="价格"))
    wechat.post(wechat.xml("event", Event="CLICK", EventKey="MENU_1"))
    SecurityEvent.objects.create(code="signature", status=403, reason="bad", method="POST")


def test_every_registered_model_admin_accepts_only_offered_lookups():
    from replies.admin.safety import OfferedLookupsOnly

    unguarded = [
        model._meta.label
        for model, model_admin in admin.site._registry.items()
        if not isinstance(model_admin, OfferedLookupsOnly)
    ]
    assert unguarded == []


HOSTILE = [
    (MESSAGES, "content__regex", "(a+)+$"),
    (MESSAGES, "content__iregex", "(a|aa)+$"),
    (MESSAGES, "raw_xml__contains", "x"),
    (MESSAGES, "decrypted_xml__icontains", "x"),
    (MESSAGES, "content__search", "x"),
    (MESSAGES, "rule__name__regex", ".*"),
    (MESSAGES, "rule__triggers__value__iregex", ".*"),
    (MESSAGES, "openid", "o_other"),  # an exact lookup, but not one the page offers
    (MESSAGES, "msg_type", "text"),  # the filter's parameter is msg_type__exact
    (MESSAGES, "msg_type__regex", "t.*"),
    (MESSAGES, "received_at__year", "2025"),  # no date hierarchy on this page
    (MESSAGES, "id__gt", "0"),
    (EXPORT, "content__regex", "(a+)+$"),
    (EXPORT, "raw_xml__contains", "x"),
    (EXPORT, "rule__name__regex", ".*"),
    (RULES, "name__regex", ".*"),
    (RULES, "triggers__value__regex", "(a+)+$"),
    (RULES, "replies__content__contains", "x"),
    (RULES, "messages__raw_xml__contains", "x"),
    (SECURITY, "body_excerpt__regex", ".*"),
    (SECURITY, "reason__contains", "x"),
    ("/admin/auth/user/", "password__startswith", "pbkdf2"),
    ("/admin/auth/user/", "username__regex", ".*"),
    ("/admin/auth/group/", "name__regex", ".*"),
]


@pytest.mark.parametrize("url, lookup, value", HOSTILE)
def test_a_lookup_the_page_does_not_offer_is_a_400(admin_client, some_rows, url, lookup, value):
    response = admin_client.get(url, {lookup: value})
    assert response.status_code == 400


@pytest.mark.parametrize(
    "url, lookup, value", [row for row in HOSTILE if row[0] in (MESSAGES, EXPORT)]
)
def test_a_log_reader_cannot_add_lookups_to_the_log_or_its_export(
    reader, some_rows, url, lookup, value
):
    assert reader.get(url, {lookup: value}).status_code == 400


OFFERED = [
    (MESSAGES, {"msg_type__exact": "text"}),
    (MESSAGES, {"event__exact": "click", "msg_type__exact": "event"}),
    (MESSAGES, {"answered": "none"}),
    (MESSAGES, {"received": "24h"}),
    (MESSAGES, {"mode__exact": "plain"}),
    (MESSAGES, {"q": "价格", "o": "1", "p": "1"}),
    (MESSAGES, {"msg_type__isnull": "False"}),
    (EXPORT, {"msg_type__exact": "text", "q": "价格"}),
    (RULES, {"enabled__exact": "1", "triggers__kind__exact": "keyword"}),
    (RULES, {"triggers__match__exact": "exact", "replies__reply_type__exact": "text"}),
    (RULES, {"reply_mode__exact": "first"}),
    (SECURITY, {"code": "signature", "status": "403"}),
    ("/admin/auth/user/", {"is_staff__exact": "1", "groups__id__exact": "1"}),
    ("/admin/axes/accessattempt/", {"attempt_time__year": "2025", "path_info": "/admin/"}),
]


@pytest.mark.parametrize("url, params", OFFERED)
def test_the_parameters_the_page_offers_still_work(admin_client, some_rows, url, params):
    response = admin_client.get(url, params)
    assert response.status_code == 200
    if response.streaming:
        b"".join(response.streaming_content)


@pytest.mark.parametrize("url", [MESSAGES, RULES, SECURITY, "/admin/auth/user/"])
def test_every_filter_link_a_page_shows_is_accepted(admin_client, some_rows, url):
    """Follow every choice of every filter the page renders: none may be refused."""
    changelist = admin_client.get(url).context["cl"]
    queries = {
        choice["query_string"]
        for spec in changelist.filter_specs
        for choice in spec.choices(changelist)
    }
    assert queries
    for query in sorted(queries):
        response = admin_client.get(url + query)
        assert response.status_code == 200, (query, response.status_code)
        params = dict(parse_qsl(query.lstrip("?")))
        assert response.context["cl"].params == params or not params


def test_the_message_log_never_counts_facets(admin_client, some_rows):
    """Facet counts are one COUNT per filter choice over the whole log: the page offers none."""
    response = admin_client.get(MESSAGES, {"_facets": "1"})
    assert response.status_code == 200
    assert not response.context["cl"].add_facets


def test_the_unanswered_page_links_the_log_with_offered_parameters(admin_client, wechat):
    from insights.management.commands.rollup_insights import roll_up

    wechat.post(wechat.xml("text", Content="where is the shop"))
    roll_up()  # the insight pages read the rollups, as `manage.py rollup_insights` keeps them
    page = admin_client.get("/admin/insights/report/unanswered/?days=7")
    (row,) = page.context["rows"]
    response = admin_client.get(row["messages_url"])
    assert response.status_code == 200
    assert [m.content for m in response.context["cl"].result_list] == ["where is the shop"]


# --- the statement timeout of admin requests (PostgreSQL) -------------------------------------

postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="statement_timeout is PostgreSQL's"
)


def _statement_timeout() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW statement_timeout")
        return cursor.fetchone()[0]


@pytest.fixture
def slow_log(monkeypatch):
    """Make the message list's query sleep for a second in the database."""
    from replies.admin.messages import MessageAdmin

    original = MessageAdmin.get_queryset

    def get_queryset(self, request):
        return original(self, request).annotate(nap=RawSQL("pg_sleep(1) IS NULL", ()))

    monkeypatch.setattr(MessageAdmin, "get_queryset", get_queryset)


def test_the_timeout_is_a_setting_of_15_seconds_by_default():
    from django.conf import settings

    assert settings.DJANGO_ADMIN_STATEMENT_TIMEOUT_MS == 15000


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_an_admin_query_over_the_timeout_is_cancelled_with_a_clear_503(
    admin_client, settings, wechat, slow_log
):
    settings.DJANGO_ADMIN_STATEMENT_TIMEOUT_MS = 200
    wechat.post(wechat.xml("text", Content="hello"))
    response = admin_client.get(MESSAGES, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 503
    assert "This page took too long" in response.content.decode()
    assert _statement_timeout() == "0"  # reset: the connection goes back to the pool clean


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_an_admin_query_within_the_timeout_answers(admin_client, settings, slow_log, wechat):
    settings.DJANGO_ADMIN_STATEMENT_TIMEOUT_MS = 5000
    wechat.post(wechat.xml("text", Content="hello"))
    assert admin_client.get(MESSAGES).status_code == 200
    assert _statement_timeout() == "0"


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_the_export_query_runs_under_the_timeout(admin_client, settings, wechat, monkeypatch):
    seen = []
    original = Message.objects.none().__class__.iterator

    def iterator(self, *args, **kwargs):
        seen.append(_statement_timeout())
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Message.objects.none().__class__, "iterator", iterator)
    settings.DJANGO_ADMIN_STATEMENT_TIMEOUT_MS = 4321
    wechat.post(wechat.xml("text", Content="hello"))
    response = admin_client.get(EXPORT)
    body = b"".join(response.streaming_content)
    response.close()
    assert b"hello" in body
    assert seen == ["4321ms"]
    assert _statement_timeout() == "0"


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_the_endpoint_never_pays_for_the_admin_timeout(wechat, settings, monkeypatch):
    from replies.admin import timeouts

    calls = []
    monkeypatch.setattr(timeouts, "_set_timeout", lambda *args: calls.append(args))
    settings.DJANGO_ADMIN_STATEMENT_TIMEOUT_MS = 200
    response = wechat.post(wechat.xml("text", Content="hello"))
    assert response.status_code == 200
    assert calls == []
    assert _statement_timeout() == "0"


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_the_timeout_is_set_on_admin_requests(admin_client, settings, monkeypatch):
    from replies.admin import timeouts

    calls = []
    original = timeouts._set_timeout
    monkeypatch.setattr(
        timeouts, "_set_timeout", lambda *args: calls.append(args) or original(*args)
    )
    settings.DJANGO_ADMIN_STATEMENT_TIMEOUT_MS = 1234
    assert admin_client.get(MESSAGES).status_code == 200
    assert calls and all(ms == 1234 for _raw, ms in calls)
    assert _statement_timeout() == "0"
