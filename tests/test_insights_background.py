"""The unanswered page never counts more in a request than it may: a period too large for it is
counted by the task worker, the page showing how far it got, then the same result."""

from datetime import date, timedelta

import pytest
from django.test import TestCase
from django.utils import timezone
from lxml import html

from accounts.environment import environment_account_id
from insights import background_counts
from insights import reports as insights
from insights.models import QueryCount
from insights.reports import Period
from tests import accounts_helpers
from tests.outbound_helpers import run_worker
from tests.test_insights import at, msg, roll

# Committed transactions: django-tasks-db's worker closes a connection left inside one.
pytestmark = pytest.mark.django_db(transaction=True)

secrets_key = accounts_helpers.secrets_key  # fixtures
two_accounts = accounts_helpers.two_accounts

UNANSWERED = "/admin/insights/report/unanswered/"
FIRST, LAST = date(2025, 3, 1), date(2025, 3, 5)  # a custom period: nothing is kept for it
CUSTOM = {"start": FIRST.isoformat(), "end": LAST.isoformat()}


@pytest.fixture(autouse=True)
def shanghai(settings):
    settings.TIME_ZONE = "Asia/Shanghai"


@pytest.fixture
def questions():
    """Unanswered texts in the custom period: "营业时间" from three followers, one other."""
    for openid in ("o_a", "o_b", "o_c"):
        msg(at(FIRST, 9), openid=openid, content="营业时间")
    msg(at(LAST, 20), openid="o_a", content="退货地址？")
    roll()


@pytest.fixture
def large(monkeypatch):
    """Any period is too large to count in a request."""
    monkeypatch.setattr(background_counts, "LIVE_COUNT_MAX_TEXTS", 0)


def ask(client):
    """GET the page for the custom period, running what it leaves for after the commit (the
    task it enqueues), as a request outside a test's transaction would."""
    with TestCase.captureOnCommitCallbacks(execute=True):
        return client.get(UNANSWERED, CUSTOM)


def page_of(response):
    return html.fromstring(response.content.decode())


def table_of(response) -> list[list[str]]:
    rows = page_of(response).xpath('//table[@id="unanswered"]/tbody/tr')
    return [[cell.text_content().split("\n")[0].strip() for cell in row[1:4]] for row in rows]


def test_a_small_custom_period_is_counted_in_the_request(admin_client, questions):
    response = ask(admin_client)
    assert response.status_code == 200
    assert table_of(response) == [["营业时间", "3", "3"], ["退货地址？", "1", "1"]]
    assert not QueryCount.objects.exists()


def test_a_large_period_is_counted_by_the_worker_then_shown(admin_client, questions, large):
    waiting = ask(admin_client)
    page = page_of(waiting)
    assert waiting.status_code == 200
    assert page.xpath('//div[@id="counting"]') and not page.xpath('//table[@id="unanswered"]')
    assert page.xpath('//meta[@http-equiv="refresh"]')
    count = QueryCount.objects.get()
    assert (count.status, count.scope) == (QueryCount.Status.QUEUED, str(environment_account_id()))

    run_worker()  # django-tasks-db's worker, as `manage.py db_worker` runs it

    done = ask(admin_client)
    page = page_of(done)
    assert table_of(done) == [["营业时间", "3", "3"], ["退货地址？", "1", "1"]]
    assert page.xpath('//p[@id="counted-background"]')
    assert not page.xpath('//meta[@http-equiv="refresh"]')
    assert QueryCount.objects.get().status == QueryCount.Status.DONE  # reused, not asked again

    # What the worker stored is what the request would have counted.
    period = Period.between(FIRST, LAST)
    live = insights.count_unanswered(
        since=period.since, until=period.until, limit=100, accounts=[int(count.scope)]
    )
    stored = background_counts.report_of(QueryCount.objects.get(), limit=100)
    assert stored == live


def test_a_count_waiting_for_no_worker_says_how_to_start_one(admin_client, questions, large):
    page = page_of(ask(admin_client))
    assert page.xpath('//p[@id="worker-hint"]')


def test_a_finished_count_is_counted_again_once_it_is_old(admin_client, questions, large):
    ask(admin_client)
    run_worker()
    old = timezone.now() - timedelta(seconds=background_counts.REUSE_SECONDS + 1)
    QueryCount.objects.update(finished_at=old)
    ask(admin_client)
    assert list(QueryCount.objects.order_by("pk").values_list("status", flat=True)) == [
        QueryCount.Status.DONE,
        QueryCount.Status.QUEUED,
    ]


def test_every_page_size_reads_one_count(admin_client, questions, large):
    ask(admin_client)
    with TestCase.captureOnCommitCallbacks(execute=True):
        admin_client.get(UNANSWERED, {**CUSTOM, "limit": background_counts.MAX_ROWS})
    assert QueryCount.objects.count() == 1
    run_worker()
    with TestCase.captureOnCommitCallbacks(execute=True):
        one = admin_client.get(UNANSWERED, {**CUSTOM, "limit": 10})
    assert table_of(one)[0] == ["营业时间", "3", "3"]
    assert QueryCount.objects.count() == 1


def test_a_count_whose_worker_stopped_is_started_again(admin_client, questions, large):
    ask(admin_client)
    lost = timezone.now() - timedelta(seconds=background_counts.LOST_SECONDS + 1)
    QueryCount.objects.update(status=QueryCount.Status.COUNTING, started_at=lost)
    page = page_of(ask(admin_client))
    assert page.xpath('//div[@id="counting"]')
    first, second = QueryCount.objects.order_by("pk")
    assert (first.status, second.status) == (QueryCount.Status.FAILED, QueryCount.Status.QUEUED)
    # The stopped worker finishing late stores nothing over the count taken for lost.
    assert background_counts.run_count(first.pk) == "skipped"


def test_a_count_waiting_for_a_worker_is_not_asked_again(admin_client, questions, large):
    ask(admin_client)
    QueryCount.objects.update(requested_at=timezone.now() - timedelta(hours=2))
    ask(admin_client)
    assert QueryCount.objects.count() == 1  # its task is still queued: no second one


def test_a_failed_count_says_why_stops_reloading_and_is_retried_later(
    admin_client, questions, large, monkeypatch
):
    ask(admin_client)

    def broken(**kwargs):
        raise RuntimeError("the rollups are gone")

    monkeypatch.setattr(insights, "count_unanswered", broken)
    run_worker()
    count = QueryCount.objects.get()
    assert count.status == QueryCount.Status.FAILED
    assert count.error == "RuntimeError: the rollups are gone"

    page = page_of(ask(admin_client))
    notice = page.xpath('//div[@id="counting"]//p[contains(@class, "errornote")]')[0]
    assert "the rollups are gone" not in notice.text_content()  # the log has it, not the page
    assert not page.xpath('//meta[@http-equiv="refresh"]')
    assert QueryCount.objects.count() == 1

    old = timezone.now() - timedelta(seconds=background_counts.RETRY_SECONDS + 1)
    QueryCount.objects.update(finished_at=old)
    ask(admin_client)
    assert QueryCount.objects.filter(status=QueryCount.Status.QUEUED).count() == 1


def test_a_count_runs_once_however_often_it_is_enqueued(questions):
    period = Period.between(FIRST, LAST)
    count = QueryCount.objects.create(
        scope="all",
        since=period.since,
        until=period.until,
        limit=100,
        requested_at=timezone.now(),
    )
    assert background_counts.run_count(count.pk) == QueryCount.Status.DONE
    assert background_counts.run_count(count.pk) == "skipped"


def test_counts_are_per_account_choice_and_all_is_every_account(
    admin_client, two_accounts, questions, large
):
    """A superuser with several accounts sees every account by default; each choice is its own
    count, never another's."""
    account_a, _account_b = two_accounts
    msg(at(FIRST, 10), openid="o_x", content="发票", account=account_a)
    roll()
    ask(admin_client)  # the default: all accounts
    with TestCase.captureOnCommitCallbacks(execute=True):
        admin_client.get(UNANSWERED, {**CUSTOM, "account": account_a.pk})
    assert sorted(QueryCount.objects.values_list("scope", flat=True)) == sorted(
        ["all", str(account_a.pk)]
    )
    run_worker()
    counts = {count.scope: count for count in QueryCount.objects.all()}
    assert counts["all"].total_messages == 5
    assert counts[str(account_a.pk)].total_messages == 1
    with TestCase.captureOnCommitCallbacks(execute=True):
        page = admin_client.get(UNANSWERED, {**CUSTOM, "account": account_a.pk})
    assert table_of(page) == [["发票", "1", "1"]]
    assert table_of(ask(admin_client)) == [
        ["营业时间", "3", "3"],
        ["退货地址？", "1", "1"],  # as many followers and messages: the later one first
        ["发票", "1", "1"],
    ]
