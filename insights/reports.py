"""Answer an operator's questions about the message log: what goes unanswered, which rules work,
when followers write.

Every function takes `accounts`: the ids of the official accounts to count (None: every account;
the pages pass the accounts the user chose among those they may see).

Every aggregation here is a plain function of a period — `since` (inclusive) and `until`
(exclusive), aware datetimes — that returns plain values (dataclasses, lists, dicts), so the admin
views only lay them out. They read only the rollups (insights.models), never the message log:
`manage.py rollup_insights` keeps those up to date, by the UTC hour a message was received in.

Days and hours are local to the project's TIME_ZONE (Asia/Shanghai): a local day is the sum of
the UTC hours that start in it, which is exact wherever the offset is a whole number of hours. In
a zone with a half-hour offset (Asia/Kolkata, +05:30) each UTC hour counts wholly on the local day
and in the local hour its start falls in: up to 30 minutes of messages move to the neighbouring
hour, and at midnight to the neighbouring day. The rule classification (default rule, keyword
rule) is today's, as before.
"""

import math
import unicodedata
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from django.conf import settings
from django.db import connections
from django.db.models import (
    Count,
    DateField,
    DateTimeField,
    Exists,
    F,
    Func,
    Max,
    Min,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import TruncDate
from django.utils import timezone

from insights import query_periods
from insights.models import (
    FollowerDay,
    FollowerFirstSeen,
    FollowerHour,
    HandlingHour,
    MessageHour,
    RollupState,
    TextHour,
)
from insights.periods import Period, local_days
from replies.models import ReplyRule, Trigger
from replies.protocol import Event, MsgType

EVENT = MsgType.EVENT.value
SUBSCRIBE = Event.SUBSCRIBE.value
UNSUBSCRIBE = Event.UNSUBSCRIBE.value
HOURS = tuple(range(24))
Accounts = Sequence[int] | None


# --- the period ------------------------------------------------------------------------------


# --- reading the rollups ------------------------------------------------------------------------


def _fixed_offset_minutes(since: datetime, until: datetime) -> int | None:
    """Return the local UTC offset in minutes when it does not change within the period."""
    tz = timezone.get_default_timezone()
    offsets = {
        since.astimezone(tz).utcoffset(),
        until.astimezone(tz).utcoffset(),
    }
    moment = since
    while moment < until and len(offsets) == 1:  # a DST change shows at some midnight
        moment += timedelta(days=1)
        offsets.add(moment.astimezone(tz).utcoffset())
    if len(offsets) != 1:
        return None
    (offset,) = offsets
    return int(offset.total_seconds() // 60)


def _floor_hour(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def _of(rows: QuerySet, accounts: Accounts) -> QuerySet:
    """Keep the rollup rows of `accounts` (None: every account)."""
    return rows if accounts is None else rows.filter(account_id__in=list(accounts))


def _hours(
    model, *, since: datetime, until: datetime, field: str = "hour", accounts: Accounts = None
) -> QuerySet:
    """Return the rollup rows of `accounts` of the hours that start in the period."""
    rows = model.objects.filter(**{f"{field}__gte": since, f"{field}__lt": until}).order_by()
    return _of(rows, accounts)


def _covers_most_of_the_history(
    *, since: datetime, until: datetime, accounts: Accounts = None
) -> bool:
    """Return whether the period spans at least half of the hours TextHour holds.

    Walking the key-ordered index reads every row ever rolled up; that pays only when most of
    them are in the period (the worst case: a campaign's million texts, all inside it). For a
    month out of a year of history, the hour index reads the period's rows alone. Two index
    look-ups (the first and last hour) decide.
    """
    span = _of(TextHour.objects.all(), accounts).aggregate(first=Min("hour"), last=Max("hour"))
    first, last = span["first"], span["last"]
    if first is None or last <= first:
        return True
    covered = min(until, last) - max(since, first)
    return covered * 2 >= last - first


def _hours_by_key(*, since: datetime, until: datetime, accounts: Accounts = None) -> QuerySet:
    """Return the TextHour rows of the period, read in key order where that is the database's
    choice to make.

    SQLite (without ANALYZE statistics) takes the period's hour range from the unique
    constraint's index and then sorts every row by key for a GROUP BY key; comparing `+hour`
    instead leaves it the key-ordered covering index (insights_texthour_bykey), so the grouping
    streams. PostgreSQL chooses its own plan.
    """
    if connections[TextHour.objects.db].vendor != "sqlite" or not _covers_most_of_the_history(
        since=since, until=until, accounts=accounts
    ):
        return _hours(TextHour, since=since, until=until, accounts=accounts)
    unindexed = Func(F("hour"), template="+%(expressions)s", output_field=DateTimeField())
    rows = (
        TextHour.objects.alias(unindexed_hour=unindexed)
        .filter(unindexed_hour__gte=since, unindexed_hour__lt=until)
        .order_by()
    )
    return _of(rows, accounts)


def local_day(field: str, *, since: datetime, until: datetime):
    """Return an expression for the local date an hour bucket (`field`) starts on.

    On SQLite, Django's TruncDate calls Python for every row; when the offset is fixed over the
    period — always, in Asia/Shanghai — SQLite's own date() with "+480 minutes" is the same.
    """
    sqlite = connections[MessageHour.objects.db].vendor == "sqlite"
    offset = _fixed_offset_minutes(since, until) if sqlite else None
    if offset is None:
        return TruncDate(field, tzinfo=timezone.get_default_timezone())
    return Func(F(field), Value(f"{offset:+d} minutes"), function="date", output_field=DateField())


def _as_date(value) -> date:
    # TruncDate gives a date; SQLite's date() may come back as text on some paths.
    return value if isinstance(value, date) else date.fromisoformat(str(value))


@dataclass(frozen=True)
class RollupStatus:
    updated_at: datetime | None  # None: never rolled up
    last_id: int


def rollup_status() -> RollupStatus:
    """Return when the rollups were last brought up to date, and to which message."""
    state = RollupState.objects.filter().values_list("updated_at", "last_id").first()
    return RollupStatus(*(state or (None, 0)))


# --- unanswered queries -------------------------------------------------------------------------


def normalize_query(text: str) -> str:
    """Return the form under which unanswered texts are grouped.

    NFKC (full-width "ＨＥＬＬＯ！" becomes "HELLO!"), case folded, punctuation removed (ASCII and
    CJK: "，。！？【】…"), runs of whitespace made one space, trimmed. "ＨＥＬＬＯ！", "hello" and
    " Hello " all become "hello". Emoji and other symbols are kept: "👍" is a query.
    """
    folded = unicodedata.normalize("NFKC", text).casefold()
    kept = "".join(char for char in folded if not unicodedata.category(char).startswith("P"))
    return " ".join(kept.split())


def _unanswered(rows: QuerySet) -> QuerySet:
    """Keep the rollup rows (with a `rule_id`) that only a default rule, or nothing, answered.

    "Nothing": no rule matched, or the rule that answered has since been deleted — either way
    nothing answers that text today. A rule with a default trigger counts as a default rule even
    when it also has other triggers. Rule kinds are today's triggers.
    """
    default_rules = Trigger.objects.filter(kind=Trigger.Kind.DEFAULT).values("rule_id")
    return rows.filter(
        Q(rule_id=0)
        | Q(rule_id__in=default_rules)
        | ~Q(rule_id__in=ReplyRule.objects.order_by().values("pk"))
    )


@dataclass
class QueryGroup:
    """Unanswered texts that normalise to one `key`, e.g. "ＨＥＬＬＯ！", "hello", " Hello "."""

    key: str
    sample: str  # one text as a follower wrote it
    followers: int  # distinct OpenIDs
    messages: int
    first_seen: datetime
    last_seen: datetime


@dataclass(frozen=True)
class UnansweredReport:
    groups: list[QueryGroup]  # the top ones, most followers first
    total_groups: int
    total_messages: int
    # Read from what the rollup job keeps for the standard periods (fast), not counted here.
    kept: bool = False


def unanswered_queries(
    *, since: datetime, until: datetime, limit: int = 100, accounts: Accounts = None
) -> UnansweredReport:
    """Return what followers asked that no rule but the default answered, most followers first.

    The rollup grouped the texts under `normalize_query` (keys cut at 200 characters); a
    follower who sent "hello" and "Hello!", in any hours of the period, counts once. Texts that
    are only punctuation or whitespace are left out. A standard period (the last 7, 30 or 90
    days) is read from what the rollup job keeps for it (insights.query_periods) when that is
    up to date; any other period is counted from the hourly rollups.
    """
    kept = kept_unanswered(since=since, until=until, limit=limit, accounts=accounts)
    if kept is not None:
        return kept
    return count_unanswered(since=since, until=until, limit=limit, accounts=accounts)


def kept_unanswered(
    *, since: datetime, until: datetime, limit: int, accounts: Accounts
) -> UnansweredReport | None:
    """Return the unanswered queries the rollup job keeps for a standard period, read in a few
    rows; None for any other period (or when what is kept is not up to date)."""
    days = query_periods.kept_period(since=since, until=until)
    if days is None:
        return None
    scope = query_periods.scope_of(accounts, days=days)
    if scope is None:
        return None
    groups, messages = query_periods.kept_totals(scope=scope, days=days)
    top = query_periods.kept_top(scope=scope, days=days, limit=limit)
    return UnansweredReport(
        groups=[
            QueryGroup(
                key=row.key,
                sample=row.sample,
                followers=row.followers,
                messages=row.messages,
                first_seen=row.first_seen,
                last_seen=row.last_seen,
            )
            for row in top
        ],
        total_groups=groups,
        total_messages=messages,
        kept=True,
    )


def count_unanswered(
    *, since: datetime, until: datetime, limit: int, accounts: Accounts
) -> UnansweredReport:
    """Count the period's unanswered queries from the hourly rollups: the cost grows with the
    period's texts (insights.background_counts decides when a page may wait for it)."""
    rows = _unanswered(_hours_by_key(since=since, until=until, accounts=accounts))
    top = list(
        rows.values("key")
        .annotate(
            followers=Count("openid", distinct=True),
            messages=Sum("messages"),
            last_seen=Max("last_at"),
        )
        .order_by("-followers", "-messages", "-last_seen", "key")[:limit]
    )
    # The first time and the sample of the top groups only: the ranking pass stays on the
    # key-ordered index, which leaves the long `sample` out.
    more = {
        row["key"]: row
        for row in _unanswered(_hours(TextHour, since=since, until=until, accounts=accounts))
        .filter(key__in=[row["key"] for row in top])
        .values("key")
        .annotate(
            first_seen=Min("first_at"),
            # Min: the plain form sorts first ("hello" before "hello!" and "ｈｅｌｌｏ").
            sample=Min("sample"),
        )
    }
    # A rebuild between the two queries may leave a key out of the second: its own fallbacks.
    groups = [
        QueryGroup(
            key=row["key"],
            sample=more.get(row["key"], {}).get("sample", row["key"]),
            followers=row["followers"],
            messages=row["messages"],
            first_seen=more.get(row["key"], {}).get("first_seen", row["last_seen"]),
            last_seen=row["last_seen"],
        )
        for row in top
    ]
    # Counting the groups of a GROUP BY that streams down the index, not COUNT(DISTINCT key).
    totals = (
        rows.values("key")
        .annotate(key_messages=Sum("messages"))
        .aggregate(groups=Count("key"), messages=Sum("key_messages"))
    )
    return UnansweredReport(
        groups=groups, total_groups=totals["groups"] or 0, total_messages=totals["messages"] or 0
    )


def unanswered_texts(*, since: datetime, until: datetime, accounts: Accounts = None) -> int:
    """Return how many text messages of the period no rule but the default answered: what
    count_unanswered reads at most one rollup row each of (from the small hourly table)."""
    rows = _unanswered(_hours(MessageHour, since=since, until=until, accounts=accounts))
    total = rows.filter(msg_type=MsgType.TEXT).aggregate(total=Sum("messages"))["total"]
    return total or 0


def query_variants(
    key: str, *, since: datetime, until: datetime, limit: int = 10, accounts: Accounts = None
) -> list[str]:
    """Return how the period's unanswered texts grouped under `key` were written, as rules
    compare texts (`normalize_text`: "hello!", "hello"), most frequent first.

    A rule answering the whole group needs an exact keyword for each: rules do not ignore
    punctuation the way the grouping does.
    """
    rows = (
        _unanswered(_hours(TextHour, since=since, until=until, accounts=accounts).filter(key=key))
        .values("variant")
        .annotate(n=Sum("messages"))
        .order_by("-n", "variant")
    )
    return [
        row["variant"]
        for row in rows[:200]
        if row["variant"] and normalize_query(row["variant"]) == key
    ][:limit]


# --- rule performance ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleHitRow:
    rule_id: int
    name: str
    enabled: bool
    total: int
    per_day: list[int]


@dataclass(frozen=True)
class RuleHits:
    days: list[date]
    rules: list[RuleHitRow]  # most hits first


def visible_rules(accounts: Accounts) -> QuerySet:
    """Return the rules of `accounts` and those answering on every account (None: all rules)."""
    rules = ReplyRule.objects.all()
    if accounts is None:
        return rules
    return rules.filter(Q(account__isnull=True) | Q(account_id__in=list(accounts)))


def rule_hits(*, since: datetime, until: datetime, accounts: Accounts = None) -> RuleHits:
    """Return how often each rule that still exists answered, per local day, over the period,
    on `accounts` (rules of other accounts are left out, their names too)."""
    days = local_days(since=since, until=until)
    index = {day: n for n, day in enumerate(days)}
    rows = (
        _hours(MessageHour, since=since, until=until, accounts=accounts)
        .exclude(rule_id=0)
        .values("rule_id", day=local_day("hour", since=since, until=until))
        .annotate(hits=Sum("messages"))
    )
    per_rule: dict[int, list[int]] = {}
    for row in rows:
        counts = per_rule.setdefault(row["rule_id"], [0] * len(days))
        counts[index[_as_date(row["day"])]] += row["hits"]
    rules = {
        pk: (name, enabled)
        for pk, name, enabled in visible_rules(accounts)
        .filter(pk__in=per_rule)
        .values_list("pk", "name", "enabled")
    }
    result = [
        RuleHitRow(
            rule_id=pk, name=rules[pk][0], enabled=rules[pk][1], total=sum(counts), per_day=counts
        )
        for pk, counts in per_rule.items()
        if pk in rules  # deleted since: its hits stay in the rollups, not on this page
    ]
    result.sort(key=lambda row: (-row.total, row.name, row.rule_id))
    return RuleHits(days=days, rules=result)


@dataclass(frozen=True)
class IdleRule:
    rule_id: int
    name: str
    created_at: datetime
    last_hit: datetime | None  # None: never, as far as the rollups go


def idle_rules(*, since: datetime, until: datetime, accounts: Accounts = None) -> list[IdleRule]:
    """Return the enabled rules that answered nothing in the period (to the hour), oldest first.

    A hit in the hour `since` falls in counts as in the period. Each rule costs two probes of the
    rollup's (rule_id, hour) index.
    """
    hits = _of(
        MessageHour.objects.filter(
            rule_id=OuterRef("pk"), hour__gte=_floor_hour(since), hour__lt=until
        ),
        accounts,
    )
    last_hit = _of(MessageHour.objects.filter(rule_id=OuterRef("pk")), accounts).order_by(
        "-last_at"
    )
    rules = (
        visible_rules(accounts)
        .filter(enabled=True)
        .filter(~Exists(hits))
        .annotate(last_hit=Subquery(last_hit.values("last_at")[:1]))
        .order_by("created_at", "id")
        .values_list("pk", "name", "created_at", "last_hit")
    )
    return [IdleRule(*row) for row in rules]


@dataclass(frozen=True)
class AnswerShares:
    """How the period's messages (not events) were answered; the four parts add up to `total`."""

    keyword: int  # by a rule with a keyword trigger (and no default trigger)
    default: int  # by a rule with a default trigger
    other: int  # by another rule: a message-type rule, or one since deleted
    unanswered: int  # by nothing
    total: int


def answer_shares(*, since: datetime, until: datetime, accounts: Accounts = None) -> AnswerShares:
    """Return how many messages a keyword rule, the default rule, another rule or nothing
    answered.

    Nothing answered a message whose reply is empty ("success"). One whose rule was deleted
    since still has its reply: it counts as answered by "another rule", since what kind of rule
    it was is gone. Rule kinds are today's triggers.
    """
    default_rules = Trigger.objects.filter(kind=Trigger.Kind.DEFAULT).values("rule_id")
    keyword_rules = Trigger.objects.filter(kind=Trigger.Kind.KEYWORD).values("rule_id")
    counts = (
        _hours(MessageHour, since=since, until=until, accounts=accounts)
        .exclude(msg_type=EVENT)
        .aggregate(
            total=Sum("messages", default=0),
            default=Sum("messages", filter=Q(rule_id__in=default_rules), default=0),
            keyword=Sum(
                "messages",
                filter=Q(rule_id__in=keyword_rules) & ~Q(rule_id__in=default_rules),
                default=0,
            ),
            unanswered=Sum("messages", filter=Q(answered=False), default=0),
        )
    )
    other = counts["total"] - counts["default"] - counts["keyword"] - counts["unanswered"]
    return AnswerShares(other=other, **counts)


# --- traffic --------------------------------------------------------------------------------------


def kind_of(msg_type: str, event: str) -> str:
    """Return the series a row belongs to: its message type, or "event:<event>"."""
    return f"{EVENT}:{event}" if msg_type == EVENT else msg_type


@dataclass(frozen=True)
class Traffic:
    """Counts per series (message type, or "event:subscribe" …) per bucket (day or hour)."""

    buckets: list  # dates, or the hours 0–23
    series: dict[str, list[int]]  # most rows first

    @property
    def totals(self) -> list[int]:
        if not self.series:
            return [0] * len(self.buckets)
        return [sum(column) for column in zip(*self.series.values(), strict=True)]


@dataclass(frozen=True)
class TrafficReport:
    per_day: Traffic  # buckets: the local days of the period
    per_hour: Traffic  # buckets: the hours 0–23, summed over the period


def _ordered(series: dict[str, list[int]]) -> dict[str, list[int]]:
    return dict(sorted(series.items(), key=lambda item: (-sum(item[1]), item[0])))


def traffic(*, since: datetime, until: datetime, accounts: Accounts = None) -> TrafficReport:
    """Return messages and events per local day and per local hour of the day, by message type
    and by event ("text", "image", "event:subscribe", "event:click" …).

    The rollup has one row per hour and series (and rule); the database sums them per hour and
    series, and both views are folded from that here.
    """
    tz = timezone.get_default_timezone()
    days = local_days(since=since, until=until)
    index = {day: n for n, day in enumerate(days)}
    rows = (
        _hours(MessageHour, since=since, until=until, accounts=accounts)
        .values_list("hour", "msg_type", "event")
        .annotate(n=Sum("messages"))
    )
    local: dict[datetime, tuple[date, int]] = {}
    per_day: dict[str, list[int]] = {}
    per_hour: dict[str, list[int]] = {}
    for hour, msg_type, event, n in rows:
        kind = kind_of(msg_type, event)
        if hour not in local:
            moment = timezone.localtime(hour, tz)
            local[hour] = (moment.date(), moment.hour)
        day, local_hour = local[hour]
        per_day.setdefault(kind, [0] * len(days))[index[day]] += n
        per_hour.setdefault(kind, [0] * len(HOURS))[local_hour] += n
    return TrafficReport(
        per_day=Traffic(buckets=days, series=_ordered(per_day)),
        per_hour=Traffic(buckets=list(HOURS), series=_ordered(per_hour)),
    )


@dataclass(frozen=True)
class FollowerDays:
    days: list[date]
    active: list[int]  # distinct OpenIDs that sent anything that day
    new: list[int]  # ... whose first message ever (as far as the rollups go) came that day
    returning: list[int]  # active - new


def followers_per_day(
    *, since: datetime, until: datetime, accounts: Accounts = None
) -> FollowerDays:
    """Return active, new and returning followers per local day.

    Active: distinct OpenIDs over the day's hours, per account (OpenIDs differ per account, so
    the followers of several accounts add up): read from FollowerDay, which the rollup job keeps
    in the TIME_ZONE it ran in; counted from FollowerHour (one row per follower and hour) when
    that zone is not today's. New: the follower's first message falls on that day
    (FollowerFirstSeen, which a purge of the log does not change).
    """
    days = local_days(since=since, until=until)
    index = {day: n for n, day in enumerate(days)}
    active = _active_per_day(days, since=since, until=until, accounts=accounts)
    new = [0] * len(days)
    rows = (
        _hours(FollowerFirstSeen, since=since, until=until, field="first_hour", accounts=accounts)
        .values(day=local_day("first_hour", since=since, until=until))
        .annotate(n=Count("id"))
    )
    for row in rows:
        new[index[_as_date(row["day"])]] = row["n"]
    return FollowerDays(
        days=days,
        active=active,
        new=new,
        returning=[a - n for a, n in zip(active, new, strict=True)],
    )


def _active_per_day(
    days: list[date], *, since: datetime, until: datetime, accounts: Accounts
) -> list[int]:
    index = {day: n for n, day in enumerate(days)}
    active = [0] * len(days)
    kept_zone = RollupState.objects.values_list("time_zone", flat=True).first()
    if kept_zone == settings.TIME_ZONE:
        starts = {Period.between(day, day).since: n for n, day in enumerate(days)}
        rows = (
            _of(FollowerDay.objects.filter(since__gte=since, until__lte=until), accounts)
            .order_by()
            .values_list("since")
            .annotate(n=Sum("followers"))
        )
        for start, n in rows:
            if start in starts:
                active[starts[start]] = n
        return active
    rows = (
        _hours(FollowerHour, since=since, until=until, accounts=accounts)
        .values("account_id", day=local_day("hour", since=since, until=until))
        .annotate(n=Count("openid", distinct=True))
    )
    for row in rows:
        active[index[_as_date(row["day"])]] += row["n"]
    return active


@dataclass(frozen=True)
class FollowDays:
    days: list[date]
    follows: list[int]
    unfollows: list[int]
    net: list[int]  # follows - unfollows


def follows_per_day(*, since: datetime, until: datetime, accounts: Accounts = None) -> FollowDays:
    """Return follow and unfollow events per local day, and the net change."""
    days = local_days(since=since, until=until)
    index = {day: n for n, day in enumerate(days)}
    follows, unfollows = [0] * len(days), [0] * len(days)
    rows = (
        _hours(MessageHour, since=since, until=until, accounts=accounts)
        .filter(msg_type=EVENT, event__in=[SUBSCRIBE, UNSUBSCRIBE])
        .values("event", day=local_day("hour", since=since, until=until))
        .annotate(n=Sum("messages"))
    )
    for row in rows:
        target = follows if row["event"] == SUBSCRIBE else unfollows
        target[index[_as_date(row["day"])]] += row["n"]
    return FollowDays(
        days=days,
        follows=follows,
        unfollows=unfollows,
        net=[f - u for f, u in zip(follows, unfollows, strict=True)],
    )


# --- handling time ------------------------------------------------------------------------------


def percentile(ordered: Sequence[float], fraction: float) -> float | None:
    """Return percentile_cont(fraction) of sorted values: linear between the closest ranks."""
    if not ordered:
        return None
    position = fraction * (len(ordered) - 1)
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclass(frozen=True)
class Bin:
    """One bin of a handling-time histogram: `count` values between `low` and `high`."""

    count: int
    low: float
    high: float


def histogram_percentile(bins: Sequence[Bin], fraction: float) -> float | None:
    """Return percentile_cont(fraction) of the values in `bins` (in ascending order).

    A bin's values are taken as spread evenly between its smallest and largest, so the result
    lies within the bin the exact answer lies in (bins span a factor of 1.122: at most 12% off),
    and is exact where the ranks involved are alone in their bins or equal to their bin's ends.
    """
    total = sum(b.count for b in bins)
    if not total:
        return None

    def value_at(rank: int) -> float:
        for b in bins:
            if rank < b.count:
                if b.count == 1:
                    return b.low
                return b.low + (b.high - b.low) * rank / (b.count - 1)
            rank -= b.count
        return bins[-1].high

    position = fraction * (total - 1)
    low, high = math.floor(position), math.ceil(position)
    at_low = value_at(low)
    return at_low + (value_at(high) - at_low) * (position - low)


@dataclass(frozen=True)
class HandlingDays:
    days: list[date]
    percentiles: dict[float, list[float | None]]  # fraction -> value per day; None: no message


def handling_percentiles(
    *,
    since: datetime,
    until: datetime,
    fractions: Sequence[float] = (0.5, 0.99),
    method: str | None = None,
    accounts: Accounts = None,
) -> HandlingDays:
    """Return percentiles of the handling time (ms) per local day, p50 and p99 by default.

    From the hourly log-scale histograms (`histogram_percentile`: within 12%, often exact);
    `method` is kept for callers and may only be None or "histogram".
    """
    if method not in (None, "histogram"):
        raise ValueError(f"unknown method {method!r}")
    for fraction in fractions:
        if not 0 <= fraction <= 1:
            raise ValueError("A percentile is a fraction between 0 and 1.")
    days = local_days(since=since, until=until)
    index = {day: n for n, day in enumerate(days)}
    rows = (
        _hours(HandlingHour, since=since, until=until, accounts=accounts)
        .values("bin", day=local_day("hour", since=since, until=until))
        .annotate(n=Sum("messages"), low=Min("min_ms"), high=Max("max_ms"))
    )
    per_day: dict[date, list[tuple[int, Bin]]] = defaultdict(list)
    for row in rows:
        per_day[_as_date(row["day"])].append((row["bin"], Bin(row["n"], row["low"], row["high"])))
    values: dict[float, list[float | None]] = {f: [None] * len(days) for f in fractions}
    for day, bins in per_day.items():
        ordered = [b for _n, b in sorted(bins, key=lambda item: item[0])]
        for fraction in fractions:
            values[fraction][index[day]] = histogram_percentile(ordered, fraction)
    return HandlingDays(days=days, percentiles=values)
