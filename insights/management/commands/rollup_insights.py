"""`manage.py rollup_insights`: fold new messages of the log into the insight pages' rollups.

The pages read only the rollups (insights.models); this command keeps them up to date. It reads
the message log by id, after the last id it rolled up (`RollupState.last_id`), in batches, each
its own transaction that adds the batch's counts to the hourly tables and moves the watermark:
a batch is counted once or not at all. Messages are bucketed by the UTC hour they were received
in, so a late arrival (an old CreateTime, a replayed spool file) lands in its hour whenever it
gets its id. Run every minute (deploy/systemd/wxsite-rollup.timer), it only reads new rows.

Concurrent runs are safe: every batch starts by writing the state row, which takes its row lock
on PostgreSQL (and the database's write lock on SQLite), then reads the watermark; a second run
waits, then sees the first one's watermark. An id is handed out before its INSERT commits, so a
message may become visible after a higher id has; the run reads the newest id, waits `--settle`
seconds (10 by default) for INSERTs in flight to commit, and rolls up only to that id.

Every rollup is per official account (the message's `account`). Besides the hourly tables, each
batch keeps active followers per local day (FollowerDay: a follower counts on a day the first time
a batch finds no FollowerHour row of theirs that day) and the unanswered queries of the standard
periods (insights.query_periods): the pages read tens of rows, not the period's million.

`--rebuild` empties the rollups and reads the whole log again. Purging old messages
(purge_messages) leaves the rollups alone; a rebuild after a purge loses the purged history.
"""

import math
import time
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connections, models, transaction
from django.db.models import F, Max, Min
from django.utils import timezone

from insights.models import (
    KEY_LENGTH,
    FollowerDay,
    FollowerFirstSeen,
    FollowerHour,
    HandlingHour,
    MessageHour,
    QueryPeriod,
    QueryTotal,
    RollupState,
    TextHour,
)
from insights.periods import local_day_bounds
from insights.query_periods import refresh_query_periods
from insights.reports import normalize_query
from replies.models import Message
from replies.protocol import MsgType
from replies.rules.index import normalize_text

BATCH_SIZE = 20_000
SETTLE_SECONDS = 10.0
TEXT = MsgType.TEXT.value
# Handling times: bins of a factor 10^(1/20) ≈ 1.122; below 1 µs all in one bin.
BINS_PER_DECADE = 20
SMALLEST_MS = 0.001
STATE_ID = 1
ROLLUP_MODELS = (
    MessageHour,
    HandlingHour,
    FollowerHour,
    FollowerFirstSeen,
    TextHour,
    FollowerDay,
    QueryPeriod,
    QueryTotal,
)
# OpenIDs per probe of FollowerHour: well under SQLite's limit on parameters.
PROBE_CHUNK = 400


def handling_bin(ms: float) -> int:
    """Return the histogram bin of a handling time: floor(20 × log10(ms)), e.g. 20 for 10 ms."""
    return math.floor(math.log10(max(ms, SMALLEST_MS)) * BINS_PER_DECADE)


def _hour(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def roll_up(
    *,
    batch_size: int = BATCH_SIZE,
    settle: float = 0.0,
    rebuild: bool = False,
    using: str = "default",
) -> int:
    """Roll up the messages not rolled up yet; return how many were.

    `settle`: seconds to wait, after reading the newest id, for INSERTs in flight to commit.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    RollupState.objects.using(using).get_or_create(pk=STATE_ID)
    if rebuild:
        with transaction.atomic(using=using):
            _lock_state(using)
            for model in ROLLUP_MODELS:
                model.objects.using(using).all()._raw_delete(using)
            RollupState.objects.using(using).filter(pk=STATE_ID).update(
                last_id=0, time_zone=settings.TIME_ZONE, queries_basis={}
            )
    with transaction.atomic(using=using):
        state = _lock_state(using)
        if state.time_zone != settings.TIME_ZONE:
            _recount_follower_days(using)
            RollupState.objects.using(using).filter(pk=STATE_ID).update(
                time_zone=settings.TIME_ZONE
            )
    newest = Message.objects.using(using).aggregate(newest=Max("id"))["newest"] or 0
    if settle > 0:
        time.sleep(settle)
    done = 0
    while True:
        with transaction.atomic(using=using):
            state = _lock_state(using)
            rows = list(
                Message.objects.using(using)
                .filter(id__gt=state.last_id, id__lte=newest)
                .order_by("id")
                .values_list(
                    "id",
                    "account_id",
                    "received_at",
                    "msg_type",
                    "event",
                    "rule_id",
                    "rule_name",
                    "reply_type",
                    "handling_ms",
                    "openid",
                    "content",
                )[:batch_size]
            )
            if rows:
                keys = _add(rows, using=using)
                state.last_id = rows[-1][0]
                refresh_query_periods(keys=keys, using=using)
            state.updated_at = timezone.now()
            state.save(update_fields=["last_id", "updated_at"])
        done += len(rows)
        if len(rows) < batch_size:
            break
    # A new day, a rule that changed kind, a rebuild: the kept unanswered queries catch up.
    with transaction.atomic(using=using):
        _lock_state(using)
        refresh_query_periods(keys=set(), using=using, final=True)
    if rebuild:
        _analyze(using)
    return done


def _analyze(using: str) -> None:
    """Give PostgreSQL's planner statistics of the rebuilt tables at once.

    Without them (autovacuum analyzes a while later) it reads a whole account's rows for the
    next runs' few keys and followers: seconds per run instead of milliseconds.
    """
    connection = connections[using]
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        for model in ROLLUP_MODELS:
            cursor.execute(f"ANALYZE {connection.ops.quote_name(model._meta.db_table)}")


def _lock_state(using: str) -> RollupState:
    # Write first: the UPDATE holds the row lock (PostgreSQL) or the write lock (SQLite) until
    # the transaction ends, so the watermark read next is the one this batch moves.
    RollupState.objects.using(using).filter(pk=STATE_ID).update(last_id=F("last_id"))
    return RollupState.objects.using(using).get(pk=STATE_ID)


def _recount_follower_days(using: str) -> None:
    """Count FollowerDay again from FollowerHour, in today's TIME_ZONE (it changed)."""
    FollowerDay.objects.using(using).all()._raw_delete(using)
    span = FollowerHour.objects.using(using).aggregate(first=Min("hour"), last=Max("hour"))
    if span["first"] is None:
        return
    tz = timezone.get_default_timezone()
    day = timezone.localtime(span["first"], tz).date()
    last = timezone.localtime(span["last"], tz).date()
    while day <= last:
        since, until = local_day_bounds(day)
        counts = (
            FollowerHour.objects.using(using)
            .filter(hour__gte=since, hour__lt=until)
            .order_by()
            .values_list("account_id")
            .annotate(n=models.Count("openid", distinct=True))
        )
        FollowerDay.objects.using(using).bulk_create(
            FollowerDay(account_id=a, since=since, until=until, followers=n) for a, n in counts
        )
        day += timedelta(days=1)


def _add(rows: list[tuple], *, using: str) -> set[tuple[int, str]]:
    """Add one batch of messages to every rollup; return the (account, key) of its texts."""
    counts: dict[tuple, list] = {}  # (account, hour, type, event, rule, rule name, answered)
    handling: dict[tuple, list] = {}  # (account, hour, bin) -> [n, min, max]
    present: set[tuple] = set()  # (account, hour, openid)
    first_seen: dict[tuple, datetime] = {}  # (account, openid) -> first
    texts: dict[tuple, list] = {}  # (account, hour, key, variant, rule, openid) -> [n, sample, …]
    for (
        _id,
        account_id,
        received_at,
        msg_type,
        event,
        rule_id,
        rule_name,
        reply_type,
        handling_ms,
        openid,
        content,
    ) in rows:
        hour = _hour(received_at)
        rule_id = rule_id or 0
        key = (account_id, hour, msg_type, event, rule_id, rule_name, reply_type != "")
        count = counts.get(key)
        if count is None:
            counts[key] = [1, received_at]
        else:
            count[0] += 1
            count[1] = max(count[1], received_at)
        ms = float(handling_ms or 0)
        key = (account_id, hour, handling_bin(ms))
        bin_ = handling.get(key)
        if bin_ is None:
            handling[key] = [1, ms, ms]
        else:
            bin_[0] += 1
            bin_[1] = min(bin_[1], ms)
            bin_[2] = max(bin_[2], ms)
        present.add((account_id, hour, openid))
        follower = (account_id, openid)
        if follower not in first_seen or received_at < first_seen[follower]:
            first_seen[follower] = received_at
        if msg_type == TEXT:
            query = normalize_query(content)[:KEY_LENGTH]
            if not query:
                continue  # only punctuation or whitespace: not a query
            key = (account_id, hour, query, normalize_text(content)[:KEY_LENGTH], rule_id, openid)
            text = texts.get(key)
            if text is None:
                texts[key] = [1, content.strip()[:KEY_LENGTH], received_at, received_at]
            else:
                text[0] += 1
                text[2] = min(text[2], received_at)
                text[3] = max(text[3], received_at)

    connection = connections[using]
    when = connection.ops.adapt_datetimefield_value
    least, greatest = ("MIN", "MAX") if connection.vendor == "sqlite" else ("LEAST", "GREATEST")
    new_per_day = _new_per_day(present, using=using)
    with connection.cursor() as cursor:
        _upsert(
            cursor,
            MessageHour,
            ["account_id", "hour", "msg_type", "event", "rule_id", "rule_name", "answered"],
            ["messages", "last_at"],
            [(k[0], when(k[1]), *k[2:], n, when(last)) for k, (n, last) in counts.items()],
            {
                "messages": "{t}.messages + excluded.messages",
                "last_at": greatest + "({t}.last_at, excluded.last_at)",
            },
        )
        _upsert(
            cursor,
            HandlingHour,
            ["account_id", "hour", "bin"],
            ["messages", "min_ms", "max_ms"],
            [(k[0], when(k[1]), k[2], *v) for k, v in handling.items()],
            {
                "messages": "{t}.messages + excluded.messages",
                "min_ms": least + "({t}.min_ms, excluded.min_ms)",
                "max_ms": greatest + "({t}.max_ms, excluded.max_ms)",
            },
        )
        _upsert(
            cursor,
            FollowerHour,
            ["account_id", "openid", "hour"],
            [],
            [(a, o, when(h)) for a, h, o in present],
            {},
        )
        _upsert(
            cursor,
            FollowerDay,
            ["account_id", "since", "until"],
            ["followers"],
            [(a, when(since), when(until), n) for (a, since, until), n in new_per_day.items()],
            {"followers": "{t}.followers + excluded.followers"},
        )
        _upsert(
            cursor,
            FollowerFirstSeen,
            ["account_id", "openid"],
            ["first_seen_at", "first_hour"],
            [(a, o, when(at), when(_hour(at))) for (a, o), at in first_seen.items()],
            {
                # Both read the row as it was: the earlier moment wins, and its hour with it.
                "first_seen_at": least + "({t}.first_seen_at, excluded.first_seen_at)",
                "first_hour": (
                    "CASE WHEN excluded.first_seen_at < {t}.first_seen_at "
                    "THEN excluded.first_hour ELSE {t}.first_hour END"
                ),
            },
        )
        _upsert(
            cursor,
            TextHour,
            ["account_id", "hour", "key", "variant", "rule_id", "openid"],
            ["messages", "sample", "first_at", "last_at"],
            [
                (k[0], when(k[1]), *k[2:], n, sample, when(first), when(last))
                for k, (n, sample, first, last) in texts.items()
            ],
            {
                "messages": "{t}.messages + excluded.messages",
                "first_at": least + "({t}.first_at, excluded.first_at)",
                "last_at": greatest + "({t}.last_at, excluded.last_at)",
            },
        )
    return {(k[0], k[2]) for k in texts}


def _new_per_day(present: set[tuple], *, using: str) -> dict[tuple, int]:
    """Return, per (account, local day start, end), how many of the batch's followers had no
    FollowerHour row that day before it: what the batch adds to FollowerDay. Call before the
    batch's FollowerHour rows are written."""
    tz = timezone.get_default_timezone()
    bounds: dict[datetime, tuple[datetime, datetime]] = {}
    per_day: dict[tuple, set[str]] = {}
    for account_id, hour, openid in present:
        if hour not in bounds:
            bounds[hour] = local_day_bounds(timezone.localtime(hour, tz).date())
        per_day.setdefault((account_id, *bounds[hour]), set()).add(openid)
    new = {}
    for (account_id, since, until), openids in per_day.items():
        ordered = sorted(openids)
        seen: set[str] = set()
        for low in range(0, len(ordered), PROBE_CHUNK):
            seen.update(
                FollowerHour.objects.using(using)
                .filter(
                    account_id=account_id,
                    openid__in=ordered[low : low + PROBE_CHUNK],
                    hour__gte=since,
                    hour__lt=until,
                )
                .order_by()
                .values_list("openid", flat=True)
                .distinct()
            )
        if len(openids) > len(seen):
            new[(account_id, since, until)] = len(openids) - len(seen)
    return new


def _upsert(cursor, model, key: list[str], values: list[str], rows: list[tuple], update: dict):
    """INSERT the rows; where the key exists, apply `update` (SQL per column, {t}: the table).

    ON CONFLICT … DO UPDATE is the same on PostgreSQL and SQLite (3.24+).
    """
    if not rows:
        return
    quote = cursor.db.ops.quote_name
    table = quote(model._meta.db_table)
    columns = key + values
    placeholders = ", ".join(["%s"] * len(columns))
    if update:
        sets = ", ".join(
            f"{quote(column)} = {sql.format(t=table)}" for column, sql in update.items()
        )
        action = f"DO UPDATE SET {sets}"
    else:
        action = "DO NOTHING"
    sql = (
        f"INSERT INTO {table} ({', '.join(map(quote, columns))}) VALUES ({placeholders}) "  # noqa: S608 - names only
        f"ON CONFLICT ({', '.join(map(quote, key))}) {action}"
    )
    cursor.executemany(sql, rows)


def rollups_by_key(using: str = "default") -> dict[str, set]:
    """Return every rollup row's values without ids, per table: to compare two rollups."""
    return {
        model._meta.label: {
            tuple(v for f, v in row.items() if f != "id")
            for row in model.objects.using(using).values()
        }
        for model in ROLLUP_MODELS
    }


class Command(BaseCommand):
    help = (
        "Fold the messages received since the last run into the insight pages' rollups "
        "(schedule it every minute); --rebuild recomputes them from the whole message log."
    )
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument(
            "--rebuild",
            action="store_true",
            help="empty the rollups and read the whole message log again (history purged from "
            "the log is lost from the rollups)",
        )
        parser.add_argument(
            "--batch-size",
            type=int,
            default=BATCH_SIZE,
            help=f"messages per transaction (default {BATCH_SIZE})",
        )
        parser.add_argument(
            "--settle",
            type=float,
            default=SETTLE_SECONDS,
            help="seconds to wait for INSERTs in flight before reading (default "
            f"{SETTLE_SECONDS:g}; 0 in tests or when nothing writes)",
        )
        parser.add_argument("--database", default="default")

    def handle(self, *args, rebuild, batch_size, settle, database, verbosity, **options):
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        if settle < 0:
            raise CommandError("--settle cannot be negative.")
        started = time.monotonic()
        done = roll_up(batch_size=batch_size, settle=settle, rebuild=rebuild, using=database)
        if verbosity >= 1:
            self.stdout.write(f"Rolled up {done:,} messages in {time.monotonic() - started:.1f} s.")
