"""Time the insight pages on a big message log: the rollup, then each page.

    python bench/insights_bench.py                    # SQLite, 1,000,000 messages
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/insights_bench \\
        python bench/insights_bench.py --rows 10000000

Worst case for the pages: every message is a text no one else sent, none answered, all inside
the default period (the last 30 days), so the unanswered-queries page has as many groups as
messages. The log is filled with bulk SQL — INSERT … SELECT over generate_series on PostgreSQL,
executemany in 50,000-row transactions on SQLite — and reused when it already holds exactly
`--rows` messages (`--reload` to refill). Without DATABASE_URL the database is a SQLite file in
the temporary directory, migrated here.

Then: `rollup_insights --rebuild` (timed), a run with nothing new (what the every-minute timer
costs when idle), a run after 1,000 new messages, and each insight page — overview, unanswered
queries, rule performance, traffic — through Django's test client as a superuser (the whole
admin stack, no HTTP server): one warm-up, then `--repeat` timed requests; then the unanswered
and traffic pages over a custom period (29 days: not one the rollup job keeps, so counted from
the hourly rollups). Past 100,000 texts the unanswered page leaves that count to the task worker
(insights.background_counts): timed are the page that asks for it, the worker's count, and the
page showing its result. Prints a Markdown table of milliseconds per page (targets: ≤ 2 s at
1,000,000 on SQLite, ≤ 1 s at 10,000,000 on PostgreSQL). `--pages-only` times the pages of a
log an earlier run filled and rolled up (a 10,000,000 rebuild takes the better part of an hour).
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "wxsite.settings")
os.environ.setdefault(
    "DATABASE_URL", f"sqlite:///{Path(tempfile.gettempdir()) / 'wxsite-insights-bench.sqlite3'}"
)
# Pages of a big period take longer than the endpoint's statement limits, if any are set.
os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "testserver,localhost")

import django  # noqa: E402 - settings module set first

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.test import Client  # noqa: E402
from django.utils import timezone  # noqa: E402

from accounts.environment import environment_account_id  # noqa: E402
from insights.background_counts import run_count  # noqa: E402
from insights.management.commands.rollup_insights import roll_up  # noqa: E402
from insights.models import QueryCount, TextHour  # noqa: E402
from replies.models import Message  # noqa: E402

PAGES = {
    "overview": "/admin/insights/report/",
    "unanswered": "/admin/insights/report/unanswered/",
    "rules": "/admin/insights/report/rules/",
    "traffic": "/admin/insights/report/traffic/",
}
DAYS = 29  # inside the default period of 30 local days, today included
SQLITE_BATCH = 50_000
PG_CHUNK = 1_000_000
ADMIN_USER = "insights-bench"
# Every column the INSERT must give: the log's NOT NULL columns have no database defaults.
TEXT_COLUMNS = [
    "mode",
    "event",
    "event_key",
    "msg_id",
    "recognition",
    "media_id",
    "pic_url",
    "label",
    "title",
    "url",
    "decrypted_xml",
    "reply_type",
    "reply_summary",
    "reply_xml",
    "rule_name",
]


def fill(rows: int, *, followers: int, start: int = 0, end: datetime) -> None:
    """Insert messages start+1 … start+rows: distinct texts, unanswered, over DAYS days."""
    begin = end - timedelta(days=DAYS)
    step = (end - begin).total_seconds() / max(rows, 1)
    table = connection.ops.quote_name(Message._meta.db_table)
    columns = [
        "dedup_key",
        "account_id",
        "to_user",
        "openid",
        "msg_type",
        "created_at",
        "received_at",
        "content",
        "raw_xml",
        "handling_ms",
        *TEXT_COLUMNS,
    ]
    names = ", ".join(connection.ops.quote_name(c) for c in columns)
    account_id = environment_account_id()  # the log of the account /wechat/ serves
    empties = ", ".join("''" for _ in TEXT_COLUMNS)
    if connection.vendor == "postgresql":
        for low in range(start + 1, start + rows + 1, PG_CHUNK):
            high = min(low + PG_CHUNK - 1, start + rows)
            sql = (
                f"INSERT INTO {table} ({names}) "  # noqa: S608 - names only
                "SELECT 'bench-' || g, %s, 'gh_0123456789ab', 'o_' || (g %% %s), 'text', "
                "%s::timestamptz + (g - %s) * %s * interval '1 second', "
                "%s::timestamptz + (g - %s) * %s * interval '1 second', "
                "'question number ' || g || '?', '<xml/>', "
                "exp(((g * 7919) %% 1000) / 125.0) / 10, "
                f"{empties} FROM generate_series(%s::bigint, %s::bigint) g"
            )
            with connection.cursor() as cursor:
                cursor.execute(
                    sql,
                    [account_id, followers, begin, start, step, begin, start, step, low, high],
                )
            print(f"  filled {high - start:,}/{rows:,}", file=sys.stderr)
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {table}")
        return
    placeholders = ", ".join(["%s"] * (10 + len(TEXT_COLUMNS)))
    sql = f"INSERT INTO {table} ({names}) VALUES ({placeholders})"  # noqa: S608 - names only
    adapt = connection.ops.adapt_datetimefield_value
    empty = [""] * len(TEXT_COLUMNS)
    for low in range(start + 1, start + rows + 1, SQLITE_BATCH):
        high = min(low + SQLITE_BATCH - 1, start + rows)
        batch = []
        for g in range(low, high + 1):
            when = adapt(begin + timedelta(seconds=(g - start) * step))
            ms = 2.718281828 ** (((g * 7919) % 1000) / 125.0) / 10
            batch.append(
                (
                    f"bench-{g}",
                    account_id,
                    "gh_0123456789ab",
                    f"o_{g % followers}",
                    "text",
                    when,
                    when,
                    f"question number {g}?",
                    "<xml/>",
                    ms,
                    *empty,
                )
            )
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.executemany(sql, batch)
        if (high - start) % 500_000 < SQLITE_BATCH:
            print(f"  filled {high - start:,}/{rows:,}", file=sys.stderr)


def timed(function) -> float:
    started = time.perf_counter()
    function()
    return (time.perf_counter() - started) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--followers", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--reload", action="store_true", help="refill the log even if it fits")
    parser.add_argument(
        "--pages-only",
        action="store_true",
        help="keep the log and its rollups as an earlier run left them: time the pages only",
    )
    options = parser.parse_args()

    call_command("migrate", verbosity=0)
    vendor = connection.vendor
    print(f"{vendor}: {connection.settings_dict['NAME']}", file=sys.stderr)
    now = datetime.now(UTC).replace(microsecond=0)
    end = now - timedelta(minutes=5)
    existing = Message.objects.count()
    fill_ms = rebuild_ms = idle_ms = new_ms = None
    if options.pages_only:
        roll_up()  # what arrived since: the pages read up-to-date rollups
    else:
        if existing != options.rows or options.reload:
            print(f"filling {options.rows:,} messages (had {existing:,})", file=sys.stderr)
            Message.objects.all()._raw_delete(using="default")
            fill_ms = timed(lambda: fill(options.rows, followers=options.followers, end=end))
        print("rollup_insights --rebuild", file=sys.stderr)
        rebuild_ms = timed(lambda: roll_up(rebuild=True, batch_size=50_000))
        idle_ms = timed(lambda: roll_up())
        last = Message.objects.order_by("-id").values_list("id", flat=True).first() or 0
        fill(1_000, followers=options.followers, start=last, end=now)
        new_ms = timed(lambda: roll_up())
    groups = TextHour.objects.count()

    user = get_user_model().objects.filter(username=ADMIN_USER).first()
    if user is None:
        user = get_user_model().objects.create_superuser(ADMIN_USER, password=None)
    client = Client()
    client.force_login(user)
    pages = {}
    # A period other than the standard ones: counted from the hourly rollups, no target.
    today = timezone.localdate()
    custom = f"?start={today - timedelta(days=DAYS - 1)}&end={today}"
    pages_and_custom = {
        **PAGES,
        "unanswered, custom period": PAGES["unanswered"] + custom,
        "traffic, custom period": PAGES["traffic"] + custom,
    }
    QueryCount.objects.all().delete()  # no count left by an earlier run
    for name, url in pages_and_custom.items():
        response = client.get(url)  # warm-up: caches, connection, query plans
        assert response.status_code == 200, (name, response.status_code)
        times = [timed(lambda url=url: client.get(url)) for _ in range(options.repeat)]
        pages[name] = (statistics.median(times), max(times))
        print(f"  {name}: {pages[name][0]:,.0f} ms", file=sys.stderr)
    # A custom period this large is counted by the task worker (insights.background_counts):
    # the page above asked for it; the worker's count, then the page showing its result.
    counts = {}
    for count in QueryCount.objects.filter(status=QueryCount.Status.QUEUED):
        counts["background count of the custom period (task worker)"] = timed(
            lambda count=count: run_count(count.pk)
        )
    if counts:
        url = pages_and_custom["unanswered, custom period"]
        times = [timed(lambda: client.get(url)) for _ in range(options.repeat)]
        pages["unanswered, custom period, once counted"] = (statistics.median(times), max(times))

    target = 2000 if vendor == "sqlite" else 1000
    total = Message.objects.count()
    print(f"\n{vendor}, {total:,} messages (every text distinct, unanswered, last {DAYS} days), ")
    print(f"{options.followers:,} followers; rollup rows of unanswered texts: {groups:,}\n")
    print("| step | ms (median) | ms (max) | target |")
    print("|---|---:|---:|---|")
    for label, value in (
        ("fill the log (bulk SQL)", fill_ms),
        ("rollup_insights --rebuild", rebuild_ms),
        ("rollup_insights, nothing new", idle_ms),
        ("rollup_insights, 1,000 new messages", new_ms),
        *counts.items(),
    ):
        if value is not None:
            print(f"| {label} | {value:,.0f} | | |")
    for name, (median, worst) in pages.items():
        if name not in PAGES:
            print(f"| page: {name} | {median:,.0f} | {worst:,.0f} | (none) |")
            continue
        verdict = "ok" if worst <= target else "MISSED"
        print(f"| page: {name} | {median:,.0f} | {worst:,.0f} | ≤ {target:,} {verdict} |")


if __name__ == "__main__":
    main()
