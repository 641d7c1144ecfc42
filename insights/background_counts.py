"""The unanswered queries of a period the rollup job keeps nothing for, within any request's time.

The standard periods (the last 7, 30, 90 days) are kept by the job and read in a few rows. Any
other period, and every account together, is counted from the hourly rollups, which costs time
in proportion to the period's unanswered texts: 3.5 s at 1,000,000 distinct texts on
PostgreSQL, some ten times that at 10,000,000. So the page counts a period at once only up to
LIVE_COUNT_MAX_TEXTS texts; above that the task worker (`manage.py db_worker`) counts it into a
QueryCount row, and the page shows how far it got, reloads itself, then shows the result. A count
is reused for REUSE_SECONDS by whoever asks for the same period of the same accounts, whatever
number of rows they show (it keeps the most a page shows, MAX_ROWS).
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from insights import reports
from insights.account_choice import ALL
from insights.models import QueryCount
from insights.reports import QueryGroup, UnansweredReport

logger = logging.getLogger(__name__)

# About 0.4 s of counting on PostgreSQL, less on SQLite (bench/RESULTS-insights.md).
LIVE_COUNT_MAX_TEXTS = 100_000
# A finished count answers the same question for this long; the page says when it was counted.
REUSE_SECONDS = 600
# A count a worker started this long ago and did not finish is taken for lost (the worker was
# stopped mid-count): the next request for it starts another. A count still waiting for a
# worker is never lost: its task waits in the queue until one runs.
LOST_SECONDS = 300
# The most rows the page shows ("show up to 500"): a count keeps that many, for every page size.
MAX_ROWS = 500
# A failed count is shown this long; asked for again after that, the period is counted again.
RETRY_SECONDS = 60
# How often the page reloads itself while a count runs.
REFRESH_SECONDS = 5
# Counts older than this are deleted when a new one is asked for.
KEEP_SECONDS = 86_400


@dataclass(frozen=True)
class PageReport:
    """What the unanswered page shows: a report, or the count that will make it, or both."""

    report: UnansweredReport | None  # None while the count runs
    count: QueryCount | None = None  # the background count the report comes from, if any


def unanswered_for_page(
    *, since: datetime, until: datetime, limit: int, accounts: list[int] | None
) -> PageReport:
    """Return the period's unanswered queries for the page, never counting more than
    LIVE_COUNT_MAX_TEXTS texts in the request (`accounts`: None for every account)."""
    span = {"since": since, "until": until, "accounts": accounts}
    kept = reports.kept_unanswered(**span, limit=limit)
    if kept is not None:
        return PageReport(kept)
    if reports.unanswered_texts(**span) <= LIVE_COUNT_MAX_TEXTS:
        return PageReport(reports.count_unanswered(**span, limit=limit))
    count = _requested_count(since=since, until=until, scope=_scope(accounts))
    if count.status == QueryCount.Status.DONE:
        return PageReport(report_of(count, limit=limit), count)
    return PageReport(None, count)


def _scope(accounts: list[int] | None) -> str:
    if accounts is None:
        return ALL
    if len(accounts) != 1:
        raise ValueError("a background count is of one account or of every account")
    return str(accounts[0])


def _accounts(scope: str) -> list[int] | None:
    return None if scope == ALL else [int(scope)]


def _requested_count(*, since: datetime, until: datetime, scope: str) -> QueryCount:
    """Return the latest usable count of this question, or a new one queued for the worker."""
    now = timezone.now()
    latest = (
        QueryCount.objects.filter(scope=scope, since=since, until=until, limit=MAX_ROWS)
        .order_by("-requested_at")
        .first()
    )
    if latest is not None:
        if _usable(latest, now=now):
            return latest
        if latest.status == QueryCount.Status.COUNTING:  # lost: a late finish is ignored
            _fail(latest.pk, "lost: its worker stopped before it finished")
    QueryCount.objects.filter(requested_at__lt=now - timedelta(seconds=KEEP_SECONDS)).delete()
    count = QueryCount.objects.create(
        scope=scope, since=since, until=until, limit=MAX_ROWS, requested_at=now
    )
    transaction.on_commit(lambda: _enqueue(count.pk))
    return count


def _usable(count: QueryCount, *, now: datetime) -> bool:
    if count.status == QueryCount.Status.DONE:
        return now - count.finished_at < timedelta(seconds=REUSE_SECONDS)
    if count.status == QueryCount.Status.FAILED:  # shown for a while; asking again then retries
        return now - count.finished_at < timedelta(seconds=RETRY_SECONDS)
    if count.status == QueryCount.Status.COUNTING:
        return now - count.started_at < timedelta(seconds=LOST_SECONDS)
    return True  # waiting for a worker: its task is queued until one runs


def _enqueue(count_id: int) -> None:
    from insights.tasks import count_unanswered_queries  # the task imports this module

    try:
        count_unanswered_queries.enqueue(count_id=count_id)
    except Exception:  # the page must not fail; it shows the count as failed instead
        logger.exception("could not queue the count of unanswered queries %s", count_id)
        _fail(count_id, "could not be queued")


def _fail(count_id: int, error: str) -> None:
    QueryCount.objects.filter(pk=count_id).exclude(status=QueryCount.Status.DONE).update(
        status=QueryCount.Status.FAILED, finished_at=timezone.now(), error=error[:300]
    )


def run_count(count_id: int) -> str:
    """Count what QueryCount `count_id` asks for and store the result (the task's body).

    Claims the row first, so a count enqueued twice runs once. Returns its final status.
    """
    claimed = QueryCount.objects.filter(pk=count_id, status=QueryCount.Status.QUEUED).update(
        status=QueryCount.Status.COUNTING, started_at=timezone.now()
    )
    if not claimed:
        return "skipped"
    count = QueryCount.objects.get(pk=count_id)
    try:
        report = reports.count_unanswered(
            since=count.since, until=count.until, limit=count.limit, accounts=_accounts(count.scope)
        )
    except Exception as error:
        logger.exception("counting unanswered queries %s failed", count_id)
        _fail(count_id, f"{type(error).__name__}: {error}")
        return QueryCount.Status.FAILED
    # Only the run that still holds the count stores it: not one taken for lost meanwhile.
    stored = QueryCount.objects.filter(pk=count_id, status=QueryCount.Status.COUNTING).update(
        status=QueryCount.Status.DONE,
        finished_at=timezone.now(),
        total_groups=report.total_groups,
        total_messages=report.total_messages,
        groups=[_stored_group(group) for group in report.groups],
    )
    return QueryCount.Status.DONE if stored else "lost"


def _stored_group(group: QueryGroup) -> dict:
    return {
        "key": group.key,
        "sample": group.sample,
        "followers": group.followers,
        "messages": group.messages,
        "first_seen": group.first_seen.isoformat(),
        "last_seen": group.last_seen.isoformat(),
    }


def report_of(count: QueryCount, *, limit: int) -> UnansweredReport:
    """Return the report a finished count stored, its top `limit` queries."""
    return UnansweredReport(
        groups=[
            QueryGroup(
                key=group["key"],
                sample=group["sample"],
                followers=group["followers"],
                messages=group["messages"],
                first_seen=datetime.fromisoformat(group["first_seen"]),
                last_seen=datetime.fromisoformat(group["last_seen"]),
            )
            for group in count.groups[:limit]
        ],
        total_groups=count.total_groups,
        total_messages=count.total_messages,
    )
