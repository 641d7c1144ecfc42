"""Answer an operator's questions about the message log: what goes unanswered, which rules work,
when followers write.

Every aggregation here is a plain function of a period — `since` (inclusive) and `until`
(exclusive), aware datetimes — that lets the database do the GROUP BY and returns plain values
(dataclasses, lists, dicts), so the admin views only lay them out. Days and hours are local to the
project's TIME_ZONE (Asia/Shanghai): a message received at 23:30 UTC counts on the next day.

Two things cannot be done portably in SQL and are finished in Python over the (small) grouped
result: the Unicode normalisation of unanswered queries (`normalize_query`: NFKC, case folding,
punctuation), and on SQLite the handling-time percentiles (PostgreSQL computes them with
`percentile_cont`).
"""

import math
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.db import connections
from django.db.models import (
    Aggregate,
    CharField,
    Count,
    DateField,
    Exists,
    F,
    FloatField,
    Func,
    Max,
    Min,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    TextField,
    Value,
)
from django.db.models.functions import Lower, Trim, TruncDate, TruncHour
from django.utils import timezone

from replies.models import Message, ReplyRule, Trigger
from replies.protocol import Event, MsgType
from replies.rules.index import normalize_text

EVENT = MsgType.EVENT.value
SUBSCRIBE = Event.SUBSCRIBE.value
UNSUBSCRIBE = Event.UNSUBSCRIBE.value
HOURS = tuple(range(24))
# Unanswered queries: how many grouped texts one IN (...) may carry; SQLite's
# default limit on host parameters is 999 in old builds.
_IN_BATCH = 500


# --- the period ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """Whole local days: from `since` (local midnight, inclusive) to `until` (exclusive)."""

    since: datetime
    until: datetime

    @classmethod
    def between(cls, first: date, last: date) -> "Period":
        """Return the period from the start of local day `first` to the end of day `last`."""
        tz = timezone.get_default_timezone()
        since = datetime.combine(first, time.min, tzinfo=tz)
        until = datetime.combine(last + timedelta(days=1), time.min, tzinfo=tz)
        return cls(since=since, until=until)

    @classmethod
    def last_days(cls, days: int, *, now: datetime | None = None) -> "Period":
        """Return the last `days` local days, today included."""
        today = timezone.localdate(now or timezone.now(), timezone.get_default_timezone())
        return cls.between(today - timedelta(days=days - 1), today)

    @property
    def days(self) -> list[date]:
        return local_days(since=self.since, until=self.until)


def local_days(*, since: datetime, until: datetime) -> list[date]:
    """Return every local date from the one `since` falls on to the one just before `until`."""
    tz = timezone.get_default_timezone()
    first = timezone.localtime(since, tz).date()
    last = timezone.localtime(until - timedelta(microseconds=1), tz).date()
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


# --- local day and hour, in SQL ---------------------------------------------------------------


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


def _is_sqlite() -> bool:
    return connections[Message.objects.db].vendor == "sqlite"


def local_date_expression(*, since: datetime, until: datetime):
    """Return an expression for the local date of `received_at`.

    Django's TruncDate on SQLite calls a Python function for every row (seconds at a million
    rows); when the offset is fixed over the period — always, in Asia/Shanghai — SQLite's own
    date() with a "+480 minutes" modifier gives the same answer natively.
    """
    offset = _fixed_offset_minutes(since, until) if _is_sqlite() else None
    if offset is None:
        return TruncDate("received_at", tzinfo=timezone.get_default_timezone())
    return Func(
        F("received_at"), Value(f"{offset:+d} minutes"), function="date", output_field=DateField()
    )


def local_hour_bucket(*, since: datetime, until: datetime):
    """Return an expression for the local hour `received_at` falls in, and a function turning
    its value into (local date, hour)."""
    tz = timezone.get_default_timezone()
    offset = _fixed_offset_minutes(since, until) if _is_sqlite() else None
    if offset is None:

        def split_datetime(value: datetime) -> tuple[date, int]:
            local = timezone.localtime(value, tz) if timezone.is_aware(value) else value
            return local.date(), local.hour

        return TruncHour("received_at", tzinfo=tz), split_datetime

    def split_text(value: str) -> tuple[date, int]:  # "2025-01-01 08"
        return date.fromisoformat(value[:10]), int(value[11:13])

    expression = Func(
        Value("%Y-%m-%d %H"),
        F("received_at"),
        Value(f"{offset:+d} minutes"),
        function="strftime",
        output_field=CharField(),
    )
    return expression, split_text


def _in_period(*, since: datetime, until: datetime) -> QuerySet:
    return Message.objects.filter(received_at__gte=since, received_at__lt=until).order_by()


def _as_date(value) -> date:
    # TruncDate gives a date; SQLite's date() may come back as text on some paths.
    return value if isinstance(value, date) else date.fromisoformat(str(value))


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


# Punctuation the database removes itself before grouping: ASCII punctuation and the CJK marks
# NFKC leaves alone (it already turns "，！？：；（）" into ASCII). All of category P, so the
# database never merges texts that `normalize_query` keeps apart; rarer marks are merged in
# Python. Short on purpose: PostgreSQL's translate() costs grow with its length.
SQL_PUNCTUATION = (
    "".join(
        char for char in map(chr, range(0x21, 0x7F)) if unicodedata.category(char).startswith("P")
    )
    + "、。〃〈〉《》「」『』【】〔〕〖〗〜〝〞・‐–—―‘’“”·¡¿«»"
)


def query_key_expression():
    """Return the database's best approximation of `normalize_query(content)`, to group on.

    PostgreSQL: NFKC, lower-cased, punctuation translated away, whitespace collapsed. SQLite:
    `normalize_query` itself, registered as a function on the connection. Elsewhere
    lower(trim(content)). Python merges whatever the database left apart.
    """
    connection = connections[Message.objects.db]
    if connection.vendor == "postgresql":
        nfkc = Func(F("content"), template="normalize(%(expressions)s, NFKC)")
        stripped = Func(Lower(nfkc), Value(SQL_PUNCTUATION), Value(""), function="translate")
        spaced = Func(stripped, Value(r"\s+"), Value(" "), Value("g"), function="regexp_replace")
        return Trim(spaced, output_field=TextField())
    if connection.vendor == "sqlite":
        connection.ensure_connection()
        connection.connection.create_function(
            "wxsite_normalize_query", 1, normalize_query, deterministic=True
        )
        return Func(F("content"), function="wxsite_normalize_query", output_field=TextField())
    return Lower(Trim("content"))


def unanswered_messages(*, since: datetime, until: datetime) -> QuerySet:
    """Return the text messages of the period that only a default rule, or nothing, answered.

    "Nothing" is a message whose rule is empty: no rule matched, or the rule that answered has
    since been deleted — either way nothing answers that text today. A rule with a default
    trigger counts as a default rule even when it also has other triggers.
    """
    default_rules = Trigger.objects.filter(kind=Trigger.Kind.DEFAULT).values("rule_id")
    return _in_period(since=since, until=until).filter(
        Q(rule__isnull=True) | Q(rule_id__in=default_rules), msg_type=MsgType.TEXT
    )


@dataclass
class QueryGroup:
    """Unanswered texts that normalise to one `key`, e.g. "ＨＥＬＬＯ！", "hello", " Hello "."""

    key: str
    sample: str  # one text as a follower wrote it, from the most frequent variant
    followers: int  # distinct OpenIDs
    messages: int
    first_seen: datetime
    last_seen: datetime


@dataclass(frozen=True)
class UnansweredReport:
    groups: list[QueryGroup]  # the top ones, most followers first
    total_groups: int
    total_messages: int


@dataclass
class _Merged:
    key: str
    folded: list[str] = field(default_factory=list)  # the database's groups merged here
    followers_max: int = 0  # lower bound of the distinct followers over the folded groups
    followers_sum: int = 0  # upper bound
    messages: int = 0
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    sample: str = ""
    sample_messages: int = 0


def unanswered_queries(*, since: datetime, until: datetime, limit: int = 100) -> UnansweredReport:
    """Return what followers asked that no rule but the default answered, most followers first.

    The database groups the texts as far as it can normalise them (`query_key_expression`);
    Python merges those groups under `normalize_query`. A follower who sent "hello" and
    "Hello!" counts once: where a merged group spans several database groups, its distinct
    OpenIDs are counted again over just those — only for groups that can still reach the top
    `limit`. Texts that are only punctuation or whitespace are left out.
    """
    messages = unanswered_messages(since=since, until=until).annotate(folded=query_key_expression())
    rows = messages.values("folded").annotate(
        followers=Count("openid", distinct=True),
        messages=Count("id"),
        first_seen=Min("received_at"),
        last_seen=Max("received_at"),
        # Min: the plain form sorts first ("hello" before "hello!" and "ｈｅｌｌｏ").
        sample=Min("content"),
    )
    merged: dict[str, _Merged] = {}
    total_messages = 0
    for row in rows:
        key = normalize_query(row["sample"])
        if not key:
            continue
        group = merged.get(key) or merged.setdefault(key, _Merged(key=key))
        group.folded.append(row["folded"])
        group.followers_max = max(group.followers_max, row["followers"])
        group.followers_sum += row["followers"]
        group.messages += row["messages"]
        total_messages += row["messages"]
        group.first_seen = min(filter(None, (group.first_seen, row["first_seen"])))
        group.last_seen = max(filter(None, (group.last_seen, row["last_seen"])))
        if row["messages"] > group.sample_messages:
            group.sample, group.sample_messages = row["sample"].strip(), row["messages"]

    exact = _exact_followers(messages, merged.values(), limit=limit)
    groups = [
        QueryGroup(
            key=group.key,
            sample=group.sample,
            followers=exact.get(group.key, group.followers_max),
            messages=group.messages,
            first_seen=group.first_seen,
            last_seen=group.last_seen,
        )
        for group in merged.values()
    ]
    groups.sort(key=lambda g: (-g.followers, -g.messages, -g.last_seen.timestamp(), g.key))
    return UnansweredReport(
        groups=groups[:limit], total_groups=len(merged), total_messages=total_messages
    )


def _batches(values: Sequence, size: int = _IN_BATCH) -> Iterable[Sequence]:
    return (values[start : start + size] for start in range(0, len(values), size))


def _exact_followers(messages: QuerySet, merged: Iterable[_Merged], *, limit: int) -> dict:
    """Count distinct OpenIDs of the merged groups that may rank in the top `limit`."""
    merged = list(merged)
    lower_bounds = sorted((g.followers_max for g in merged), reverse=True)
    threshold = lower_bounds[limit - 1] if len(lower_bounds) >= limit else 0
    # A group whose upper bound is below the limit-th lower bound cannot make the top.
    spanning = [g for g in merged if len(g.folded) > 1 and g.followers_sum >= threshold]
    key_of = {folded: g.key for g in spanning for folded in g.folded}
    openids: dict[str, set[str]] = defaultdict(set)
    for batch in _batches(list(key_of)):
        pairs = messages.filter(folded__in=batch).values_list("folded", "openid").distinct()
        for folded, openid in pairs:
            openids[key_of[folded]].add(openid)
    return {key: len(ids) for key, ids in openids.items()}


def query_variants(key: str, *, since: datetime, until: datetime, limit: int = 10) -> list[str]:
    """Return how the period's unanswered texts grouped under `key` were written, as rules
    compare texts (`normalize_text`: "hello!", "hello"), most frequent first.

    A rule answering the whole group needs an exact keyword for each: rules do not ignore
    punctuation the way the grouping does.
    """
    rows = (
        unanswered_messages(since=since, until=until)
        .annotate(folded=query_key_expression())
        .filter(folded=key)
        .values(text=Lower(Trim("content")))
        .annotate(n=Count("id"))
        .order_by("-n", "text")
    )
    variants: dict[str, int] = {}
    for row in rows[:200]:
        variant = normalize_text(row["text"])
        if variant and normalize_query(variant) == key:
            variants[variant] = variants.get(variant, 0) + row["n"]
    return sorted(variants, key=lambda v: (-variants[v], v))[:limit]


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


def rule_hits(*, since: datetime, until: datetime) -> RuleHits:
    """Return how often each rule answered, per local day, over the period."""
    days = local_days(since=since, until=until)
    index = {day: n for n, day in enumerate(days)}
    rows = (
        _in_period(since=since, until=until)
        .filter(rule__isnull=False)
        .values("rule_id", day=local_date_expression(since=since, until=until))
        .annotate(hits=Count("id"))
    )
    per_rule: dict[int, list[int]] = {}
    for row in rows:
        counts = per_rule.setdefault(row["rule_id"], [0] * len(days))
        counts[index[_as_date(row["day"])]] += row["hits"]
    rules = {
        pk: (name, enabled)
        for pk, name, enabled in ReplyRule.objects.filter(pk__in=per_rule).values_list(
            "pk", "name", "enabled"
        )
    }
    # A deleted rule's messages lose their rule (SET_NULL): every id here has a rule, unless it
    # was deleted between the two queries.
    result = [
        RuleHitRow(
            rule_id=pk, name=rules[pk][0], enabled=rules[pk][1], total=sum(counts), per_day=counts
        )
        for pk, counts in per_rule.items()
        if pk in rules
    ]
    result.sort(key=lambda row: (-row.total, row.name, row.rule_id))
    return RuleHits(days=days, rules=result)


@dataclass(frozen=True)
class IdleRule:
    rule_id: int
    name: str
    created_at: datetime
    last_hit: datetime | None  # None: never, as far as the log goes


def idle_rules(*, since: datetime, until: datetime) -> list[IdleRule]:
    """Return the enabled rules that answered nothing in the period, oldest first.

    Each rule costs two probes of the (rule, -received_at) index, however big the log is.
    """
    hits = Message.objects.filter(
        rule=OuterRef("pk"), received_at__gte=since, received_at__lt=until
    )
    last_hit = (
        Message.objects.filter(rule=OuterRef("pk")).order_by("-received_at").values("received_at")
    )
    rules = (
        ReplyRule.objects.filter(enabled=True)
        .filter(~Exists(hits))
        .annotate(last_hit=Subquery(last_hit[:1]))
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


def answer_shares(*, since: datetime, until: datetime) -> AnswerShares:
    """Return how many messages a keyword rule, the default rule, another rule or nothing
    answered, in one pass over the period.

    Nothing answered a message whose reply is empty ("success"). One whose rule was deleted
    since still has its reply: it counts as answered by "another rule", since what kind of rule
    it was is gone. Rule kinds are today's triggers.
    """
    default_rules = Trigger.objects.filter(kind=Trigger.Kind.DEFAULT).values("rule_id")
    keyword_rules = Trigger.objects.filter(kind=Trigger.Kind.KEYWORD).values("rule_id")
    answered_by_nothing = Q(reply_type="")
    counts = (
        _in_period(since=since, until=until)
        .exclude(msg_type=EVENT)
        .aggregate(
            total=Count("id"),
            default=Count("id", filter=Q(rule_id__in=default_rules)),
            keyword=Count(
                "id", filter=Q(rule_id__in=keyword_rules) & ~Q(rule_id__in=default_rules)
            ),
            unanswered=Count("id", filter=answered_by_nothing),
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


def traffic(*, since: datetime, until: datetime) -> TrafficReport:
    """Return messages and events per local day and per local hour of the day, by message type
    and by event ("text", "image", "event:subscribe", "event:click" …).

    One scan: the database counts per (type, event, local hour) — at most 24 rows per day and
    series — and both views are folded from that here.
    """
    days = local_days(since=since, until=until)
    index = {day: n for n, day in enumerate(days)}
    bucket, split = local_hour_bucket(since=since, until=until)
    rows = (
        _in_period(since=since, until=until)
        # The bucket first: SQLite then reads the covering index by time instead of skipping
        # through the (msg_type, received_at) index and looking up each row's event.
        .annotate(bucket=bucket)
        .values("bucket", "msg_type", "event")
        .annotate(n=Count("id"))
    )
    per_day: dict[str, list[int]] = {}
    per_hour: dict[str, list[int]] = {}
    for row in rows:
        kind = kind_of(row["msg_type"], row["event"])
        day, hour = split(row["bucket"])
        per_day.setdefault(kind, [0] * len(days))[index[day]] += row["n"]
        per_hour.setdefault(kind, [0] * len(HOURS))[hour] += row["n"]
    return TrafficReport(
        per_day=Traffic(buckets=days, series=_ordered(per_day)),
        per_hour=Traffic(buckets=list(HOURS), series=_ordered(per_hour)),
    )


@dataclass(frozen=True)
class FollowerDays:
    days: list[date]
    active: list[int]  # distinct OpenIDs that sent anything that day
    new: list[int]  # ... whose first message ever (in the log) came that day
    returning: list[int]  # active - new


def followers_per_day(*, since: datetime, until: datetime) -> FollowerDays:
    """Return active, new and returning followers per local day.

    New: the follower's first stored message falls on that day. The database finds each active
    follower's first day in the period, keeps those with no message before it (one probe of the
    (openid, -received_at) index per follower, not per message) and counts them per day.
    """
    days = local_days(since=since, until=until)
    index = {day: n for n, day in enumerate(days)}
    local_date = local_date_expression(since=since, until=until)
    messages = _in_period(since=since, until=until)
    active = [0] * len(days)
    for row in messages.values(day=local_date).annotate(n=Count("openid", distinct=True)):
        active[index[_as_date(row["day"])]] = row["n"]
    new = [0] * len(days)
    for day, count in _new_followers_per_day(messages, local_date, since=since):
        new[index[_as_date(day)]] = count
    return FollowerDays(
        days=days,
        active=active,
        new=new,
        returning=[a - n for a, n in zip(active, new, strict=True)],
    )


def _new_followers_per_day(messages: QuerySet, local_date, *, since: datetime) -> list[tuple]:
    """Return (local day, followers) for the followers whose first message ever is in
    `messages`. The ORM cannot group on an aggregate, so the grouped query is wrapped here."""
    firsts = messages.values("openid").annotate(first_day=Min(local_date))
    inner, params = firsts.query.sql_with_params()
    connection = connections[Message.objects.db]
    quote = connection.ops.quote_name
    table = quote(Message._meta.db_table)
    openid = quote(Message._meta.get_field("openid").column)
    received_at = quote(Message._meta.get_field("received_at").column)
    sql = (
        f"SELECT firsts.first_day, COUNT(*) FROM ({inner}) firsts "  # noqa: S608 - names only
        f"WHERE NOT EXISTS (SELECT 1 FROM {table} earlier "
        f"WHERE earlier.{openid} = firsts.{openid} AND earlier.{received_at} < %s) "
        "GROUP BY firsts.first_day"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, (*params, connection.ops.adapt_datetimefield_value(since)))
        return cursor.fetchall()


@dataclass(frozen=True)
class FollowDays:
    days: list[date]
    follows: list[int]
    unfollows: list[int]
    net: list[int]  # follows - unfollows


def follows_per_day(*, since: datetime, until: datetime) -> FollowDays:
    """Return follow and unfollow events per local day, and the net change."""
    days = local_days(since=since, until=until)
    index = {day: n for n, day in enumerate(days)}
    follows, unfollows = [0] * len(days), [0] * len(days)
    rows = (
        _in_period(since=since, until=until)
        .filter(msg_type=EVENT, event__in=[SUBSCRIBE, UNSUBSCRIBE])
        .values("event", day=local_date_expression(since=since, until=until))
        .annotate(n=Count("id"))
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


class PercentileCont(Aggregate):
    """PostgreSQL's percentile_cont(fraction) WITHIN GROUP (ORDER BY expression)."""

    function = "PERCENTILE_CONT"
    name = "PercentileCont"
    output_field = FloatField()
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"

    def __init__(self, expression, fraction: float, **extra):
        fraction = float(fraction)
        if not 0 <= fraction <= 1:
            raise ValueError("A percentile is a fraction between 0 and 1.")
        super().__init__(expression, fraction=repr(fraction), **extra)


def percentile(ordered: Sequence[float], fraction: float) -> float | None:
    """Return percentile_cont(fraction) of sorted values: linear between the closest ranks."""
    if not ordered:
        return None
    position = fraction * (len(ordered) - 1)
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


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
) -> HandlingDays:
    """Return percentiles of the handling time (ms) per local day, p50 and p99 by default.

    `method` "sql" uses percentile_cont in PostgreSQL; "python" sorts each day's values here
    (SQLite has no percentile function); by default the database decides.
    """
    if method is None:
        method = "sql" if connections[Message.objects.db].vendor == "postgresql" else "python"
    days = local_days(since=since, until=until)
    index = {day: n for n, day in enumerate(days)}
    values: dict[float, list[float | None]] = {f: [None] * len(days) for f in fractions}
    local_date = local_date_expression(since=since, until=until)
    messages = _in_period(since=since, until=until)
    if method == "sql":
        aggregates = {f"p{n}": PercentileCont("handling_ms", f) for n, f in enumerate(fractions)}
        for row in messages.values(day=local_date).annotate(**aggregates):
            for n, fraction in enumerate(fractions):
                values[fraction][index[_as_date(row["day"])]] = row[f"p{n}"]
    elif method == "python":
        per_day: dict[date, list[float]] = defaultdict(list)
        rows = messages.values_list(local_date, "handling_ms")
        for day, handling_ms in rows.iterator(chunk_size=10000):
            per_day[day].append(handling_ms)
        for day, day_values in per_day.items():
            day_values.sort()
            for fraction in fractions:
                values[fraction][index[_as_date(day)]] = percentile(day_values, fraction)
    else:
        raise ValueError(f"unknown method {method!r}")
    return HandlingDays(days=days, percentiles=values)
