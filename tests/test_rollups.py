"""The insight rollups: incremental runs, late arrivals, rebuilds, time zones, and pages that
read nothing but the rollups."""

import itertools
import random
import re
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.environment import environment_account_id
from insights import reports as insights
from insights.management.commands.rollup_insights import handling_bin, roll_up, rollups_by_key
from insights.models import FollowerFirstSeen, MessageHour, RollupState, TextHour
from insights.reports import Period, percentile
from replies.models import Message
from tests.factories import make_rule

pytestmark = pytest.mark.django_db

JAN1, JAN2 = date(2025, 1, 1), date(2025, 1, 2)
_keys = itertools.count()


def utc(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)


def msg(received_at: datetime, *, created_at=None, openid="o_a", msg_type="text", rule=None, **f):
    if "account" not in f:
        f["account_id"] = environment_account_id()
    f.setdefault("rule_name", rule.name if rule else "")
    f.setdefault("reply_type", "text" if f["rule_name"] else "")
    return Message.objects.create(
        dedup_key=f"rollup-{next(_keys)}",
        to_user="gh_0123456789ab",
        openid=openid,
        msg_type=msg_type,
        created_at=created_at or received_at,
        received_at=received_at,
        raw_xml="<xml/>",
        rule=rule,
        **f,
    )


def span(first: date, last: date) -> dict:
    period = Period.between(first, last)
    return {"since": period.since, "until": period.until}


@pytest.fixture(autouse=True)
def shanghai(settings):
    settings.TIME_ZONE = "Asia/Shanghai"


# --- incremental runs ---------------------------------------------------------------------------


def test_a_run_adds_only_the_messages_since_the_last_one():
    msg(utc(JAN1, 2), content="hello")
    msg(utc(JAN1, 2, 30), content="Hello!", openid="o_b")
    assert roll_up() == 2
    assert roll_up() == 0  # nothing new: nothing read, nothing counted twice
    msg(utc(JAN1, 3), content="hello")
    assert roll_up() == 1

    report = insights.unanswered_queries(**span(JAN1, JAN1))
    assert [(g.key, g.followers, g.messages) for g in report.groups] == [("hello", 2, 3)]
    assert insights.traffic(**span(JAN1, JAN1)).per_day.totals == [3]
    assert RollupState.objects.get().last_id == Message.objects.latest("id").id


def test_small_batches_count_each_message_once():
    for n in range(25):
        msg(utc(JAN1, n % 5), content=f"q{n % 3}", openid=f"o_{n % 4}", handling_ms=n + 1)
    assert roll_up(batch_size=7) == 25
    assert sum(MessageHour.objects.values_list("messages", flat=True)) == 25
    assert sum(TextHour.objects.values_list("messages", flat=True)) == 25


def test_a_late_arrival_lands_in_the_hour_it_was_received():
    msg(utc(JAN2, 9), content="now")
    roll_up()
    # A spool file replayed later keeps the hour it was received in; it gets a new id.
    msg(utc(JAN1, 5), created_at=utc(JAN1, 4, 59), content="late", openid="o_late")
    # An old CreateTime, received now: counted when received.
    msg(utc(JAN2, 10), created_at=utc(JAN1, 0), content="slow", openid="o_slow")
    assert roll_up() == 2

    assert insights.traffic(**span(JAN1, JAN2)).per_day.totals == [1, 2]  # 05:00 UTC: Jan 1
    groups = insights.unanswered_queries(**span(JAN1, JAN1)).groups
    assert [g.key for g in groups] == ["late"]
    assert FollowerFirstSeen.objects.get(openid="o_late").first_seen_at == utc(JAN1, 5)


def test_a_late_arrival_moves_a_followers_first_day_earlier():
    msg(utc(JAN2, 9), content="second")
    roll_up()
    assert insights.followers_per_day(**span(JAN1, JAN2)).new == [0, 1]
    msg(utc(JAN1, 9), content="first, replayed late")
    roll_up()
    followers = insights.followers_per_day(**span(JAN1, JAN2))
    assert followers.new == [1, 0]
    assert followers.active == [1, 1] and followers.returning == [0, 1]


def _some_messages():
    rules = [
        make_rule("价格", keywords=["价格"]),
        make_rule("默认", triggers=[("default", "", "")]),
    ]
    rng = random.Random(7)
    for _n in range(60):
        kind = rng.choice(["text", "text", "image", "event"])
        msg(
            utc(JAN1, 0) + timedelta(minutes=rng.randrange(3 * 24 * 60)),
            openid=f"o_{rng.randrange(9)}",
            msg_type=kind,
            event=rng.choice(["subscribe", "unsubscribe", "click"]) if kind == "event" else "",
            content=rng.choice(["价格", "hello", "Hello!", "？", "营业时间"])
            if kind == "text"
            else "",
            rule=rng.choice([None, *rules]),
            handling_ms=rng.uniform(0.5, 80),
        )


def test_rebuild_gives_what_incremental_runs_gave():
    _some_messages()
    roll_up(batch_size=5)
    _some_messages()
    roll_up(batch_size=11)
    incremental = rollups_by_key()
    roll_up(rebuild=True)
    assert rollups_by_key() == incremental
    call_command("rollup_insights", rebuild=True, settle=0, verbosity=0)
    assert rollups_by_key() == incremental


def test_purging_messages_leaves_the_rollups_alone():
    _some_messages()
    roll_up()
    before = rollups_by_key()
    report = insights.unanswered_queries(**span(JAN1, date(2025, 1, 4)))
    call_command("purge_messages", older_than="1d", batch_size=10, verbosity=0)
    assert not Message.objects.exists()
    roll_up()
    assert rollups_by_key() == before
    assert insights.unanswered_queries(**span(JAN1, date(2025, 1, 4))) == report


def test_the_command_rolls_up_and_reports_how_many(capsys):
    msg(utc(JAN1, 1))
    call_command("rollup_insights", settle=0)
    assert "Rolled up 1 messages" in capsys.readouterr().out
    assert RollupState.objects.get().updated_at is not None


# --- time zones ---------------------------------------------------------------------------------


def _around_midnight_utc():
    msg(utc(JAN1, 15, 30), openid="o_a")  # 23:30 in Shanghai, Jan 1
    msg(utc(JAN1, 16, 30), openid="o_b")  # 00:30 in Shanghai, Jan 2
    msg(utc(JAN1, 23, 30), openid="o_c", msg_type="event", event="subscribe")  # 07:30, Jan 2
    msg(utc(JAN2, 0, 30), openid="o_d", msg_type="event", event="subscribe")  # 08:30, Jan 2
    roll_up()


def test_days_are_shanghai_days(settings):
    _around_midnight_utc()
    traffic = insights.traffic(**span(JAN1, JAN2))
    assert traffic.per_day.totals == [1, 3]
    assert traffic.per_hour.totals[23] == 1 and traffic.per_hour.totals[0] == 1
    assert insights.followers_per_day(**span(JAN1, JAN2)).active == [1, 3]
    assert insights.follows_per_day(**span(JAN1, JAN2)).follows == [0, 2]


def test_days_are_utc_days_in_utc(settings):
    settings.TIME_ZONE = "UTC"
    _around_midnight_utc()
    traffic = insights.traffic(**span(JAN1, JAN2))
    assert traffic.per_day.totals == [3, 1]
    assert traffic.per_hour.totals[15] == 1 and traffic.per_hour.totals[0] == 1
    assert insights.followers_per_day(**span(JAN1, JAN2)).active == [3, 1]
    assert insights.follows_per_day(**span(JAN1, JAN2)).follows == [1, 1]


def test_a_half_hour_zone_counts_each_utc_hour_on_the_day_it_starts(settings):
    settings.TIME_ZONE = "Asia/Kolkata"  # +05:30: local midnight is 18:30 UTC
    msg(utc(JAN1, 18, 15))  # 23:45 local, Jan 1
    msg(utc(JAN1, 18, 45))  # 00:15 local, Jan 2: its hour began at 23:30 on Jan 1
    msg(utc(JAN1, 19, 15))  # 00:45 local, Jan 2
    roll_up()
    assert insights.traffic(**span(JAN1, JAN2)).per_day.totals == [2, 1]


# --- handling-time histograms -------------------------------------------------------------------


def test_handling_bins_are_monotonic_and_a_twentieth_of_a_decade():
    assert handling_bin(10.0) == 20 and handling_bin(1.0) == 0 and handling_bin(0.0) == -60
    values = sorted(random.Random(3).uniform(0, 5000) for _ in range(2000))
    bins = [handling_bin(v) for v in values]
    assert bins == sorted(bins)


def test_percentiles_from_bins_are_within_the_stated_precision():
    rng = random.Random(11)
    values = [rng.lognormvariate(2, 1.2) for _ in range(3000)]
    for n, value in enumerate(values):
        msg(utc(JAN1, 4) + timedelta(seconds=n), handling_ms=value, openid=f"o_{n}")
    roll_up()
    result = insights.handling_percentiles(**span(JAN1, JAN1), fractions=(0.5, 0.9, 0.99))
    values.sort()
    for fraction in (0.5, 0.9, 0.99):
        exact = percentile(values, fraction)
        assert result.percentiles[fraction][0] == pytest.approx(exact, rel=0.122)


# --- the pages read only rollups ----------------------------------------------------------------

PAGES = [
    "/admin/insights/report/",
    "/admin/insights/report/unanswered/",
    "/admin/insights/report/rules/",
    "/admin/insights/report/traffic/",
]
MESSAGE_TABLE = re.compile(rf"\b{Message._meta.db_table}\b")


@pytest.mark.parametrize("url", PAGES)
def test_pages_issue_no_query_on_the_message_log(admin_client, url):
    now = timezone.now()
    rule = make_rule("价格", keywords=["价格"])
    msg(now - timedelta(hours=1), content="hello")
    msg(now - timedelta(hours=2), content="价格", rule=rule)
    msg(now - timedelta(days=2), msg_type="event", event="subscribe", openid="o_new")
    roll_up()
    with CaptureQueriesContext(connection) as queries:
        response = admin_client.get(url, {"days": 7})
    assert response.status_code == 200
    assert queries.captured_queries
    assert not [q["sql"] for q in queries if MESSAGE_TABLE.search(q["sql"])]


def test_pages_say_when_the_rollups_were_updated(admin_client):
    page = admin_client.get(PAGES[0]).content.decode()
    assert 'id="rollups-updated"' in page and "rollup_insights" in page  # never run yet
    msg(timezone.now())
    roll_up()
    response = admin_client.get(PAGES[0])
    updated = RollupState.objects.get().updated_at
    stamp = timezone.localtime(updated, ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%d %H:%M")
    assert stamp in response.content.decode()


@pytest.mark.django_db
def test_the_unanswered_page_reads_in_key_order_only_when_the_period_holds_most_of_history():
    from datetime import timedelta

    from django.utils import timezone

    from insights import reports
    from insights.models import TextHour

    now = timezone.now().replace(minute=0, second=0, microsecond=0)
    for days_ago in (1, 200, 365):
        TextHour.objects.create(
            account_id=environment_account_id(),
            hour=now - timedelta(days=days_ago),
            key=f"k{days_ago}",
            variant=f"k{days_ago}",
            rule_id=0,
            openid=f"o{days_ago}",
            messages=1,
            sample=f"k{days_ago}",
            first_at=now - timedelta(days=days_ago),
            last_at=now - timedelta(days=days_ago),
        )
    month = {"since": now - timedelta(days=30), "until": now}
    year = {"since": now - timedelta(days=366), "until": now}
    assert not reports._covers_most_of_the_history(**month)
    assert reports._covers_most_of_the_history(**year)


# --- what the job keeps for the standard periods ------------------------------------------------


def _random_texts(accounts, *, now, rules, n=120, seed=5):
    rng = random.Random(seed)
    for _ in range(n):
        msg(
            now - timedelta(minutes=rng.randrange(100 * 24 * 60)),
            account=rng.choice(accounts),
            openid=f"o_{rng.randrange(12)}",
            content=rng.choice(["价格", "hello", "Hello!", "营业时间", "where", "Where?", "地址"]),
            rule=rng.choice([None, *rules]),
        )


def _kept_and_counted(accounts):
    from insights.reports import count_unanswered

    for days in (7, 30, 90):
        period = Period.last_days(days)
        kept = insights.unanswered_queries(
            since=period.since, until=period.until, limit=500, accounts=accounts
        )
        counted = count_unanswered(
            since=period.since, until=period.until, limit=500, accounts=accounts
        )
        yield days, kept, counted


def _assert_kept_equals_counted(accounts_list, *, kept=True):
    for accounts in accounts_list:
        for days, k, c in _kept_and_counted(accounts):
            assert k.kept is kept, (accounts, days)
            assert (k.groups, k.total_groups, k.total_messages) == (
                c.groups,
                c.total_groups,
                c.total_messages,
            ), (accounts, days)


@pytest.fixture
def two_accounts():
    from accounts.models import Account

    return [
        Account.objects.get(pk=environment_account_id()),
        Account.objects.create(name="B", slug="b-account"),
    ]


def test_kept_unanswered_queries_are_what_the_hourly_rollups_count(two_accounts):
    now = timezone.now()
    rules = [
        make_rule("价格", keywords=["价格"]),
        make_rule("默认", triggers=[("default", "", "")]),
    ]
    _random_texts(two_accounts, now=now, rules=rules)
    roll_up(batch_size=7)
    _random_texts(two_accounts, now=now, rules=rules, seed=6)
    roll_up(batch_size=50)
    ids = [[a.pk] for a in two_accounts]
    _assert_kept_equals_counted(ids)
    # Every account together: kept only while one account alone has unanswered queries.
    _assert_kept_equals_counted([None], kept=False)


def test_a_rule_that_changes_kind_sends_the_page_to_the_hourly_rollups_until_the_job_ran(
    two_accounts,
):
    now = timezone.now()
    price = make_rule("价格", keywords=["价格"])
    _random_texts(two_accounts[:1], now=now, rules=[price])
    roll_up()
    _assert_kept_equals_counted([[two_accounts[0].pk], None])
    price.triggers.update(kind="default", value="")  # its answers are unanswered now
    _assert_kept_equals_counted([[two_accounts[0].pk]], kept=False)
    roll_up()
    _assert_kept_equals_counted([[two_accounts[0].pk], None])
    price.delete()
    _assert_kept_equals_counted([[two_accounts[0].pk]], kept=True)  # was unanswered already


def test_a_new_day_moves_the_kept_periods(two_accounts, monkeypatch):
    now = timezone.now()
    _random_texts(two_accounts, now=now, rules=[])
    roll_up()
    ids = [[a.pk] for a in two_accounts]
    _assert_kept_equals_counted(ids)
    for later in (now + timedelta(days=1), now + timedelta(days=8)):
        monkeypatch.setattr(timezone, "now", lambda later=later: later)
        _assert_kept_equals_counted(ids, kept=False)  # yesterday's periods: counted
        msg(later, account=two_accounts[1], content="new day", openid="o_new")
        roll_up()
        _assert_kept_equals_counted(ids)


def test_active_followers_per_day_kept_by_the_job_are_the_distinct_followers(two_accounts):
    now = timezone.now()
    _random_texts(two_accounts, now=now, rules=[], n=200)
    roll_up(batch_size=9)
    period = Period.last_days(100)
    for accounts in ([a.pk] for a in two_accounts):
        kept = insights.followers_per_day(since=period.since, until=period.until, accounts=accounts)
        RollupState.objects.update(time_zone="UTC")  # another zone: counted from FollowerHour
        counted = insights.followers_per_day(
            since=period.since, until=period.until, accounts=accounts
        )
        RollupState.objects.update(time_zone="Asia/Shanghai")
        assert kept == counted and sum(kept.active) > 0


def test_a_changed_time_zone_recounts_the_days(settings, two_accounts):
    _around_midnight_utc()
    settings.TIME_ZONE = "UTC"
    roll_up()
    assert RollupState.objects.get().time_zone == "UTC"
    assert insights.followers_per_day(**span(JAN1, JAN2)).active == [3, 1]
