"""The unanswered queries of the standard periods, kept by the rollup job for the page to read.

Ranking the unanswered texts of a month means grouping every TextHour row of the month: in the
worst case (every text distinct) a million rows per million messages, seconds per page. So the
rollup job keeps, per account and per standard period (the last 7, 30, 90 local days), every
unanswered query's totals in `QueryPeriod`, ordered by an index in the page's order, and the
number of queries and messages in `QueryTotal`: the page reads its top N and one total.

What the kept totals were computed for is `RollupState.queries_basis`: each period's start, the
rules that existed and which of them answer (a rule that is not a default rule; what "unanswered"
excludes). Each batch of the job recounts the keys it touched, in its own transaction; when a
period moves on to the next day, the keys of the day that left it are recounted too. When a rule
that answered texts is deleted, gains or loses a default trigger, or too many keys changed, the
basis is dropped and the job's last step recounts everything (one GROUP BY per period). A page
whose period or rules do not match the basis reads the hourly rollups instead (slower).
"""

from datetime import UTC, datetime

from django.db import connections
from django.db.models import Sum

from insights.models import (
    EVERY_ACCOUNT,
    STANDARD_DAYS,
    MessageHour,
    QueryPeriod,
    QueryTotal,
    RollupState,
    TextHour,
)
from insights.periods import Period
from replies.models import ReplyRule, Trigger
from replies.protocol import MsgType

STATE_ID = 1
# More keys than this to recount at once: recount everything instead (cheaper per key).
MAX_KEYS_RECOUNTED = 50_000
# Keys per IN (…) list: well under SQLite's limit on parameters.
CHUNK = 400
TEXT = MsgType.TEXT.value


def standard_since(now: datetime | None = None) -> dict[int, datetime]:
    """Return where each standard period (the last N local days) starts now."""
    return {days: Period.last_days(days, now=now).since for days in STANDARD_DAYS}


def rule_kinds(using: str = "default") -> tuple[list[int], list[int]]:
    """Return the ids of every rule, and of the rules that answer (every one without a default
    trigger): a text answered by any other id (0, a default rule, a deleted rule) is unanswered."""
    existing = sorted(ReplyRule.objects.using(using).values_list("pk", flat=True))
    defaults = set(
        Trigger.objects.using(using)
        .filter(kind=Trigger.Kind.DEFAULT)
        .values_list("rule_id", flat=True)
    )
    return existing, [pk for pk in existing if pk not in defaults]


def _kinds_hold(basis: dict, answering: list[int], using: str) -> bool:
    """Return whether texts the basis classified are classified the same by today's rules.

    A rule created since has no text in the kept totals; a changed rule that never answered a
    text changes nothing either.
    """
    changed = (set(basis["answering"]) ^ set(answering)) & set(basis["existing"])
    return not (
        changed
        and MessageHour.objects.using(using).filter(rule_id__in=changed, msg_type=TEXT).exists()
    )


def _since_of(basis: dict) -> dict[int, datetime]:
    return {int(days): datetime.fromisoformat(at) for days, at in basis["since"].items()}


def _basis(since: dict[int, datetime], existing: list[int], answering: list[int]) -> dict:
    return {
        "since": {str(d): at.astimezone(UTC).isoformat() for d, at in since.items()},
        "existing": existing,
        "answering": answering,
    }


def _unanswered_sql(answering: list[int]) -> str:
    # Integers only, formatted in: no parameter limit however many rules there are.
    if not answering:
        return "1 = 1"
    return f"rule_id NOT IN ({', '.join(str(int(pk)) for pk in answering)})"


def _table(model, connection) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def refresh_query_periods(
    *, keys: set[tuple[int, str]], using: str = "default", final: bool = False, now=None
) -> None:
    """Bring QueryPeriod up to date after a batch that touched `keys` ((account id, key)).

    Runs in the batch's transaction, after the rollup state's row is locked. When the basis no
    longer holds it is dropped; `final` (the job's last step) recounts everything then.
    """
    state = RollupState.objects.using(using).get(pk=STATE_ID)
    since = standard_since(now)
    existing, answering = rule_kinds(using)
    basis = state.queries_basis or {}
    keys = set(keys)
    if basis and not _kinds_hold(basis, answering, using):
        basis = {}
    if basis:
        was = _since_of(basis)
        if set(was) != set(since) or any(since[d] < was[d] for d in since):
            basis = {}
        else:
            for days in since:
                if since[days] > was[days]:
                    keys |= _keys_between(was[days], since[days], using=using)
    if basis and len(keys) > MAX_KEYS_RECOUNTED:
        basis = {}
    if basis:
        _recount_keys(keys, since=since, answering=answering, using=using)
        state.queries_basis = _basis(since, existing, answering)
    elif final:
        recount_all(since=since, answering=answering, using=using)
        state.queries_basis = _basis(since, existing, answering)
    else:
        state.queries_basis = {}
    RollupState.objects.using(using).filter(pk=STATE_ID).update(queries_basis=state.queries_basis)


def _keys_between(since: datetime, until: datetime, *, using: str) -> set[tuple[int, str]]:
    """Return the (account, key) pairs with texts in the hours from `since` to `until`."""
    return set(
        TextHour.objects.using(using)
        .filter(hour__gte=since, hour__lt=until)
        .order_by()
        .values_list("account_id", "key")
        .distinct()
    )


def recount_all(*, since: dict[int, datetime], answering: list[int], using: str) -> None:
    """Empty QueryPeriod and QueryTotal and count every period's queries again."""
    connection = connections[using]
    periods, totals, texts = (
        _table(QueryPeriod, connection),
        _table(QueryTotal, connection),
        _table(TextHour, connection),
    )
    when = connection.ops.adapt_datetimefield_value
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {periods}")  # noqa: S608 - names only
        cursor.execute(f"DELETE FROM {totals}")  # noqa: S608 - names only
        for days, start in since.items():
            cursor.execute(
                f"INSERT INTO {periods} "  # noqa: S608 - names and integers only
                '(scope, days, "key", sample, followers, messages, first_seen, last_seen) '
                'SELECT account_id, %s, "key", MIN(sample), COUNT(DISTINCT openid), '
                "SUM(messages), MIN(first_at), MAX(last_at) "
                f"FROM {texts} WHERE hour >= %s AND {_unanswered_sql(answering)} "
                'GROUP BY account_id, "key"',
                [days, when(start)],
            )
        cursor.execute(
            f'INSERT INTO {totals} (scope, days, "groups", messages) '  # noqa: S608 - names only
            f"SELECT scope, days, COUNT(*), SUM(messages) FROM {periods} GROUP BY scope, days"
        )


def _recount_keys(
    keys: set[tuple[int, str]], *, since: dict[int, datetime], answering: list[int], using: str
) -> None:
    """Count the `keys` again in every standard period and move the totals by the difference."""
    if not keys:
        return
    connection = connections[using]
    periods, texts = _table(QueryPeriod, connection), _table(TextHour, connection)
    when = connection.ops.adapt_datetimefield_value
    by_account: dict[int, list[str]] = {}
    for account_id, key in keys:
        by_account.setdefault(account_id, []).append(key)
    oldest = min(since.values())
    ordered = sorted(since.items())
    # One pass per chunk counts all three periods: each column only the hours of its period.
    columns = []
    params_per_period = []
    for _days, start in ordered:
        inside = "hour >= %s"
        columns.append(
            f"MIN(CASE WHEN {inside} THEN sample END), "
            f"COUNT(DISTINCT CASE WHEN {inside} THEN openid END), "
            f"SUM(CASE WHEN {inside} THEN messages END), "
            f"MIN(CASE WHEN {inside} THEN first_at END), "
            f"MAX(CASE WHEN {inside} THEN last_at END)"
        )
        params_per_period += [when(start)] * 5
    delta: dict[tuple[int, int], list[int]] = {}  # (account, days) -> [groups, messages]
    # Naming every period lets the (scope, days, key) index find each key directly.
    days_in = ", ".join(str(int(d)) for d in since)
    with connection.cursor() as cursor:
        for account_id, account_keys in by_account.items():
            account_keys.sort()
            for low in range(0, len(account_keys), CHUNK):
                chunk = account_keys[low : low + CHUNK]
                marks = ", ".join(["%s"] * len(chunk))
                # first_seen: not in the ranking index, so SQLite takes the unique one.
                cursor.execute(
                    f'SELECT days, "key", messages, first_seen FROM {periods} '  # noqa: S608 - names only
                    f'WHERE scope = %s AND days IN ({days_in}) AND "key" IN ({marks})',
                    [account_id, *chunk],
                )
                for days, _key, messages, _first in cursor.fetchall():
                    moved = delta.setdefault((account_id, days), [0, 0])
                    moved[0] -= 1
                    moved[1] -= messages
                cursor.execute(
                    f"DELETE FROM {periods} "  # noqa: S608 - names only
                    f'WHERE scope = %s AND days IN ({days_in}) AND "key" IN ({marks})',
                    [account_id, *chunk],
                )
                cursor.execute(
                    f'SELECT "key", {", ".join(columns)} FROM {texts} '  # noqa: S608 - names only
                    f'WHERE account_id = %s AND "key" IN ({marks}) AND hour >= %s '
                    f'AND {_unanswered_sql(answering)} GROUP BY "key"',
                    [*params_per_period, account_id, *chunk, when(oldest)],
                )
                rows = []
                for row in cursor.fetchall():
                    key, values = row[0], row[1:]
                    for n, (days, _start) in enumerate(ordered):
                        sample, followers, messages, first, last = values[n * 5 : n * 5 + 5]
                        if not followers:
                            continue
                        rows.append(
                            (account_id, days, key, sample, followers, messages, first, last)
                        )
                        moved = delta.setdefault((account_id, days), [0, 0])
                        moved[0] += 1
                        moved[1] += messages
                if rows:
                    cursor.executemany(
                        f'INSERT INTO {periods} (scope, days, "key", sample, followers, '  # noqa: S608
                        "messages, first_seen, last_seen) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                        rows,
                    )
        changes = [(a, d, g, m) for (a, d), (g, m) in delta.items() if g or m]
        if changes:
            totals = _table(QueryTotal, connection)
            cursor.executemany(
                f'INSERT INTO {totals} (scope, days, "groups", messages) '  # noqa: S608 - names only
                "VALUES (%s, %s, %s, %s) ON CONFLICT (scope, days) DO UPDATE SET "
                f'"groups" = {totals}."groups" + excluded."groups", '
                f"messages = {totals}.messages + excluded.messages",
                changes,
            )


# --- reading ------------------------------------------------------------------------------------


def kept_period(*, since: datetime, until: datetime, using: str = "default") -> int | None:
    """Return the standard period (7, 30, 90) the job keeps for exactly this period, or None.

    None also when the kept totals are out of date: computed for another day, or before a rule
    that answered texts changed kind.
    """
    days = next(
        (
            d
            for d in STANDARD_DAYS
            if (p := Period.last_days(d)).since == since and p.until == until
        ),
        None,
    )
    if days is None:
        return None
    basis = (
        RollupState.objects.using(using)
        .filter(pk=STATE_ID)
        .values_list("queries_basis", flat=True)
        .first()
    )
    if not basis or _since_of(basis).get(days) != since:
        return None
    if not _kinds_hold(basis, rule_kinds(using)[1], using):
        return None
    return days


def scope_of(accounts, *, days: int, using: str = "default") -> int | None:
    """Return the QueryPeriod scope holding `accounts` (ids; None: every account), or None.

    Every account together is kept only as each account's own totals: when more than one
    account has unanswered queries the page counts them from the hourly rollups.
    """
    if accounts is not None:
        accounts = list(accounts)
        return accounts[0] if len(accounts) == 1 else None
    having = list(
        QueryTotal.objects.using(using)
        .filter(days=days, groups__gt=0)
        .exclude(scope=EVERY_ACCOUNT)
        .values_list("scope", flat=True)[:2]
    )
    if len(having) > 1:
        return None
    return having[0] if having else EVERY_ACCOUNT


def kept_totals(*, scope: int, days: int, using: str = "default") -> tuple[int, int]:
    """Return how many queries, and messages, the scope's period holds."""
    totals = QueryTotal.objects.using(using).filter(scope=scope, days=days)
    found = totals.aggregate(groups=Sum("groups"), messages=Sum("messages"))
    return found["groups"] or 0, found["messages"] or 0


def kept_top(*, scope: int, days: int, limit: int, using: str = "default") -> list[QueryPeriod]:
    """Return the scope's top `limit` queries, most followers first (the page's order)."""
    return list(
        QueryPeriod.objects.using(using)
        .filter(scope=scope, days=days)
        .order_by("-followers", "-messages", "-last_seen", "key")[:limit]
    )
