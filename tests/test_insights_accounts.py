"""Insights per official account, through the admin's URLs: a member of account A sees only A's
numbers on every page, for kept (last 7/30/90 days) and counted (any other) periods alike; B's id
in the URL is a 404; a superuser's "all accounts" is the sum of the accounts."""

import itertools
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.utils import timezone
from lxml import html

from accounts.environment import environment_account_id
from accounts.models import Account
from insights.management.commands.rollup_insights import roll_up
from replies.models import Message, ReplyRule
from tests.factories import make_rule

pytestmark = pytest.mark.django_db

BASE = "/admin/insights/report/"
PAGES = ["", "unanswered/", "rules/", "traffic/"]
_keys = itertools.count()


@pytest.fixture(autouse=True)
def shanghai(settings):
    settings.TIME_ZONE = "Asia/Shanghai"


def msg(account, when, *, openid, content="", msg_type="text", rule=None, **fields) -> Message:
    fields.setdefault("rule_name", rule.name if rule else "")
    fields.setdefault("reply_type", "text" if rule else "")
    return Message.objects.create(
        account=account,
        dedup_key=f"acc-{next(_keys)}",
        to_user="gh_0123456789ab",
        openid=openid,
        msg_type=msg_type,
        content=content,
        created_at=when,
        received_at=when,
        raw_xml="<xml/>",
        rule=rule,
        **fields,
    )


@pytest.fixture
def world():
    """Two stored accounts, A and B, with their own traffic; a staff member of A."""
    a = Account.objects.create(name="Account A", slug="acc-a")
    b = Account.objects.create(name="Account B", slug="acc-b")
    # Yesterday noon, local time: every message below falls on one local day whatever the hour
    # the test runs at (at 02:00 "one to five hours ago" spans two days).
    now = (timezone.localtime() - timedelta(days=1)).replace(hour=12, minute=0)
    rule_a = make_rule("A price rule", keywords=["price"], account=a)
    rule_b = make_rule("B secret rule", keywords=["secret"], account=b)
    make_rule("B idle rule", keywords=["never"], account=b)
    make_rule("Shared idle rule", keywords=["nobody"])  # every account
    for n in range(3):
        msg(a, now - timedelta(hours=n + 1), openid=f"oa{n}", content="alpha question")
    msg(a, now - timedelta(hours=2), openid="oa0", content="price", rule=rule_a)
    for n in range(5):
        msg(b, now - timedelta(hours=n + 1), openid=f"ob{n}", content="bravo question")
        msg(b, now - timedelta(hours=n + 1), openid=f"ob{n}", content="secret", rule=rule_b)
    msg(b, now - timedelta(hours=3), openid="ob9", msg_type="event", event="subscribe")
    roll_up()
    member = User.objects.create_user("a-member", password="pw", is_staff=True)
    member.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_message", "add_replyrule"])
    )
    a.members.add(member)
    client = Client()
    client.force_login(member)
    return {"a": a, "b": b, "member": client, "rule_a": rule_a}


def page(client, url, **query):
    response = client.get(BASE + url, query)
    assert response.status_code == 200, (url, query, response.status_code)
    return response.content.decode()


def total_messages(content: str) -> int:
    return int(html.fromstring(content).get_element_by_id("total-messages").text_content())


PERIODS = [{"days": "7"}, {"days": "30"}, {"start": "2000-01-01"}]  # kept, kept, counted


@pytest.mark.parametrize("period", PERIODS)
def test_a_member_of_a_sees_only_a_on_the_overview(world, period):
    assert total_messages(page(world["member"], "", account=world["a"].pk, **period)) == 4


@pytest.mark.parametrize("period", PERIODS)
def test_a_member_of_a_sees_only_as_unanswered_queries(world, period):
    content = page(world["member"], "unanswered/", account=world["a"].pk, **period)
    assert "alpha question" in content
    assert "bravo" not in content and "secret" not in content
    table = html.fromstring(content).get_element_by_id("unanswered")
    followers = table.xpath(".//tbody/tr[1]/td[3]")[0].text_content()
    assert followers == "3"


@pytest.mark.parametrize("period", PERIODS)
def test_a_member_of_a_sees_only_as_rules_and_hits(world, period):
    content = page(world["member"], "rules/", account=world["a"].pk, **period)
    assert "A price rule" in content
    assert "Shared idle rule" in content  # answers on every account: A's too
    assert "B secret rule" not in content and "B idle rule" not in content


@pytest.mark.parametrize("period", PERIODS)
def test_a_member_of_a_sees_only_as_traffic(world, period):
    content = page(world["member"], "traffic/", account=world["a"].pk, **period)
    days = html.fromstring(content).get_element_by_id("traffic-days")
    cells = [row.xpath("./td") for row in days.xpath(".//tbody/tr")]
    assert sum(int(c[1].text_content()) for c in cells) == 4  # messages and events
    assert max(int(c[2].text_content()) for c in cells) == 3  # active followers of A
    assert sum(int(c[5].text_content()) for c in cells) == 0  # B's follow is not A's


def test_an_unanswered_querys_messages_link_keeps_to_the_chosen_account(world):
    content = page(world["member"], "unanswered/", account=world["a"].pk, days="7")
    link = html.fromstring(content).xpath("//table[@id='unanswered']//a[contains(@href, 'q=')]")
    href = link[0].get("href")
    assert f"account={world['a'].pk}" in href
    listing = world["member"].get(href)
    assert listing.status_code == 200
    assert b"alpha question" in listing.content and b"bravo" not in listing.content


def test_the_member_defaults_to_an_account_they_see(world):
    content = page(world["member"], "unanswered/")
    assert "bravo" not in content and "secret" not in content
    assert 'name="account"' in content  # the environment account and A: a choice to make


@pytest.mark.parametrize("url", PAGES)
@pytest.mark.parametrize("value", ["b", "all", "999999", "x"])
def test_another_accounts_id_is_a_404_on_every_page(world, url, value):
    account = {"b": world["b"].pk}.get(value, value)
    response = world["member"].get(BASE + url, {"account": account, "days": 7})
    assert response.status_code == 404
    assert b"bravo" not in response.content


def test_making_a_rule_from_another_accounts_page_is_a_404(world):
    response = world["member"].post(
        BASE + "unanswered/make-rule/",
        {"text": "bravo question", "period": f"days=7&account={world['b'].pk}"},
    )
    assert response.status_code == 404
    assert not ReplyRule.objects.filter(name__contains="bravo").exists()


def test_a_rule_made_from_as_page_belongs_to_a(world):
    response = world["member"].post(
        BASE + "unanswered/make-rule/",
        {"text": "alpha question", "period": f"days=7&account={world['a'].pk}"},
    )
    assert response.status_code == 302
    rule = ReplyRule.objects.get(name__contains="alpha")
    assert rule.account == world["a"] and not rule.enabled


@pytest.mark.parametrize("period", PERIODS)
def test_a_superusers_all_accounts_is_the_sum(world, admin_client, period):
    a = total_messages(page(admin_client, "", account=world["a"].pk, **period))
    b = total_messages(page(admin_client, "", account=world["b"].pk, **period))
    env = total_messages(page(admin_client, "", account=environment_account_id(), **period))
    assert (a, b, env) == (4, 11, 0)
    assert total_messages(page(admin_client, "", account="all", **period)) == a + b + env
    assert total_messages(page(admin_client, "", **period)) == a + b + env  # the default
    content = page(admin_client, "unanswered/", account="all", **period)
    assert "alpha question" in content and "bravo question" in content
    rules = page(admin_client, "rules/", account="all", **period)
    assert "A price rule" in rules and "B secret rule" in rules


def test_all_accounts_sums_followers_of_the_same_query(world, admin_client):
    # The same text in both accounts: one query, its followers those of A plus those of B.
    now = timezone.now()
    msg(world["b"], now - timedelta(minutes=30), openid="ob0", content="Alpha question!")
    roll_up()
    for period in PERIODS:
        content = page(admin_client, "unanswered/", account="all", **period)
        table = html.fromstring(content).get_element_by_id("unanswered")
        rows = [[td.text_content() for td in tr.xpath("./td")] for tr in table.xpath(".//tbody/tr")]
        (alpha,) = [row for row in rows if "alpha question" in row[1].lower()]
        assert alpha[2] == "4"  # 3 followers of A, 1 of B


def test_the_account_choice_is_kept_in_links_between_pages(world):
    content = page(world["member"], "traffic/", account=world["a"].pk, days=7)
    assert f"unanswered/?days=7&amp;account={world['a'].pk}" in content
    assert f"?days=30&amp;account={world['a'].pk}" in content  # a quick period keeps it too


def test_one_account_offers_no_choice(admin_client):
    content = page(admin_client, "traffic/")
    assert 'name="account"' not in content
