"""The rule set as every worker sees it: the version counters and this worker's compiled indexes.

Each official account answers with its own rules plus the rules that answer on every account, so
a worker holds one `RuleIndex` (replies.rules.index) per account it has answered for, built from
those two sets. Counters (RulesetVersion: one row for the every-account rules, one per account),
bumped in the same transaction as any edit, tell every worker (on any host) that an index is out
of date: an account's index was built from the pair (every-account version, its own version). A
worker reads the pair (from the shared cache when CACHE_URL is set, else from the database) at
most once per WECHAT_RULES_MAX_STALENESS seconds per account, so an edit reaches every worker
within that bound (1 s by default) and the endpoint pays no read on most messages; the first
request to see it moved rebuilds that account's index and swaps it in whole, so no request ever
sees half an index. An edit of one account's rule moves that account's counter only; an edit of
an every-account rule moves the shared one, which every account's pair includes. Choosing a
reply is replies.rules.choice's job.
"""

import logging
import math
import threading
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from accounts.environment import environment_account_id
from replies.endpoint.deadline import database_deadline
from replies.endpoint.errors import is_outage
from replies.models import (
    REPLY_COLUMNS,
    ReplyRule,
    RuleReply,
    RulesetVersion,
    Trigger,
    reply_from_columns,
)
from replies.protocol import Reply
from replies.rules.index import RuleIndex, RuleSpec, Schedule
from replies.rules.index import Trigger as TriggerSpec

logger = logging.getLogger("replies.rules")

VERSION_CACHE_PREFIX = "replies:ruleset-version:"
EVERY_ACCOUNT = None  # the RulesetVersion row (and ReplyRule.account) of every-account rules


@dataclass(frozen=True)
class RulePayload:
    """What a matched rule answers with, carried through the index."""

    replies: tuple[Reply, ...]
    reply_mode: str


# --- the versions every worker can see --------------------------------------------------------


def version_cache_key(account_id: int | None) -> str:
    """Return the shared cache's key for the counter of `account_id` (None: every account)."""
    return f"{VERSION_CACHE_PREFIX}{'all' if account_id is None else account_id}"


def bump_ruleset_version(*, account_ids: Iterable[int | None] | None = None) -> None:
    """Mark rules changed, for every worker, once the current transaction commits.

    `account_ids`: the accounts whose own rules changed (None in it: an every-account rule).
    Without it, every account's rules count as changed (a bulk edit, an import).
    """
    targets = {EVERY_ACCOUNT} if account_ids is None else set(account_ids)
    for account_id in sorted(targets, key=lambda value: -1 if value is None else value):
        _bump_row(account_id)
    if settings.SHARED_CACHE:
        transaction.on_commit(lambda: _publish_versions(targets))
    # This process need not wait out the staleness bound for its own edit.
    transaction.on_commit(lambda: _forget_indexes(targets))


def _bump_row(account_id: int | None) -> None:
    rows = RulesetVersion.objects.filter(account_id=account_id)
    if rows.update(version=F("version") + 1, changed_at=timezone.now()):
        return
    try:
        with transaction.atomic():  # a savepoint: another writer may create the row first
            RulesetVersion.objects.create(account_id=account_id, version=1)
    except IntegrityError:
        rows.update(version=F("version") + 1, changed_at=timezone.now())


def _publish_versions(account_ids: set[int | None]) -> None:
    for account_id in account_ids:
        version = _read_counter(account_id)
        # set, not add: a writer's value always replaces what readers cached.
        cache.set(version_cache_key(account_id), version, timeout=None)


def _read_counter(account_id: int | None) -> int:
    return (
        RulesetVersion.objects.filter(account_id=account_id)
        .values_list("version", flat=True)
        .first()
        or 0
    )


def _read_versions_from_database(account_id: int) -> tuple[int, int]:
    # Raw SQL: this runs on the endpoint's path, and building the ORM query cost more CPU than
    # the database spent answering it (+31 % endpoint throughput on PostgreSQL, bench/README.md).
    # The table holds one row per account at most.
    table = connection.ops.quote_name(RulesetVersion._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT account_id, version FROM {table} "  # noqa: S608 - no user input
            "WHERE account_id IS NULL OR account_id = %s",
            [account_id],
        )
        rows = dict(cursor.fetchall())
    return rows.get(None, 0), rows.get(account_id, 0)


def current_ruleset_version(*, account_id: int | None = None) -> tuple[int, int]:
    """Return the version of the rules answering on `account_id` (None: the environment
    account) as every worker sees it: (the every-account counter, the account's own)."""
    if account_id is None:
        account_id = environment_account_id()
    if not settings.SHARED_CACHE:
        return _read_versions_from_database(account_id)
    shared_key, own_key = version_cache_key(None), version_cache_key(account_id)
    cached = cache.get_many([shared_key, own_key])
    if shared_key in cached and own_key in cached:
        return cached[shared_key], cached[own_key]
    versions = _read_versions_from_database(account_id)
    # add, not set: if a writer published a newer version meanwhile, keep the writer's.
    cache.add(shared_key, versions[0], timeout=None)
    cache.add(own_key, versions[1], timeout=None)
    return versions


# --- building the index from the database -----------------------------------------------------


def load_rule_specs(
    *, include_disabled: bool = False, account_id: int | None = None
) -> list[RuleSpec]:
    """Return the rules as the index's plain values: three queries of plain rows, whatever the
    rule count (no model instances: at 100,000 keywords they were most of a rebuild's time).

    With `account_id`, only the rules that answer on that account (its own and the
    every-account ones); without, the rules of every account (each spec says whose it is).
    """
    rules = ReplyRule.objects.order_by("id")
    triggers = Trigger.objects.order_by("id")
    replies = RuleReply.objects.order_by("position", "id")
    if account_id is not None:
        answering = Q(account_id=account_id) | Q(account__isnull=True)
        rules = rules.filter(answering)
        triggers = triggers.filter(Q(rule__account_id=account_id) | Q(rule__account__isnull=True))
        replies = replies.filter(Q(rule__account_id=account_id) | Q(rule__account__isnull=True))
    if not include_disabled:
        rules = rules.filter(enabled=True)
        triggers = triggers.filter(rule__enabled=True)
        replies = replies.filter(rule__enabled=True)
    triggers_of: dict[int, list[TriggerSpec]] = defaultdict(list)
    for rule_id, kind, value, match in triggers.values_list("rule_id", "kind", "value", "match"):
        triggers_of[rule_id].append(TriggerSpec(kind=kind, value=value, match=match))
    replies_of: dict[int, list[Reply]] = defaultdict(list)
    broken: set[int] = set()
    for row in replies.values("rule_id", *REPLY_COLUMNS):
        try:
            replies_of[row["rule_id"]].append(reply_from_columns(row))
        except (ValueError, TypeError, AttributeError, KeyError):
            # A row the forms would have refused (edited in the database by hand): skip the
            # rule, keep every other one answering.
            logger.exception(
                "rule %s has a reply that cannot be used; rule skipped", row["rule_id"]
            )
            broken.add(row["rule_id"])
    specs = []
    for rule in rules.values(
        "id",
        "account_id",
        "name",
        "priority",
        "created_at",
        "reply_mode",
        "starts_at",
        "ends_at",
        "daily_from",
        "daily_until",
    ):
        if rule["id"] in broken:
            continue
        specs.append(
            rule_spec_for(
                rule,
                triggers=tuple(triggers_of.get(rule["id"], ())),
                replies=tuple(replies_of.get(rule["id"], ())),
            )
        )
    return specs


def rule_spec_for(rule: dict, *, triggers: tuple, replies: tuple) -> RuleSpec:
    """Return one rule (a `.values()` row) with its triggers and replies as an index entry."""
    schedule = None
    if rule["starts_at"] or rule["ends_at"] or rule["daily_from"] or rule["daily_until"]:
        schedule = Schedule(
            starts_at=rule["starts_at"],
            ends_at=rule["ends_at"],
            daily_from=rule["daily_from"],
            daily_until=rule["daily_until"],
        )
    return RuleSpec(
        id=rule["id"],
        account_id=rule.get("account_id"),
        name=rule["name"],
        priority=rule["priority"],
        created_at=rule["created_at"],
        triggers=triggers,
        schedule=schedule,
        payload=RulePayload(replies=replies, reply_mode=rule["reply_mode"]),
    )


class _IndexHolder:
    """This worker's compiled index for one account and the version it was built from."""

    def __init__(self, account_id: int):
        self.account_id = account_id
        self.version: tuple[int, int] | None = None
        self.index = RuleIndex.build(())
        self.checked_at = -math.inf  # time.monotonic() of the last version read
        self._lock = threading.Lock()

    def get(self, *, deadline_at: float | None = None) -> RuleIndex:
        # Bounded staleness instead of a read per message: the version is read at most once
        # per WECHAT_RULES_MAX_STALENESS seconds (1 s by default), which took a database or
        # cache round trip off almost every message. An edit made in this process is seen at
        # once (bump_ruleset_version forgets the index on commit).
        now = time.monotonic()
        if self.version is not None and now - self.checked_at < settings.WECHAT_RULES_MAX_STALENESS:
            return self.index
        try:
            with database_deadline(deadline_at):
                version = current_ruleset_version(account_id=self.account_id)
        except DatabaseError as error:
            if not is_outage(error):
                raise  # a missing table or column: fail loudly, not with yesterday's rules
            # The database is unreachable: answer from the rules we have rather than not at all.
            logger.warning(
                "rule version of account %s unavailable; using the index built at %s",
                self.account_id,
                _label(self.version),
            )
            return self.index
        self.checked_at = now
        if version != self.version:
            with self._lock:
                if version != self.version:
                    return self._rebuild(version)
        return self.index

    def _rebuild(self, version: tuple[int, int]) -> RuleIndex:
        try:
            index = RuleIndex.build(load_rule_specs(account_id=self.account_id))
        except DatabaseError as error:
            if not is_outage(error):
                raise
            logger.warning(
                "rules of account %s unavailable; using the index built at %s",
                self.account_id,
                _label(self.version),
            )
            return self.index
        self.index, self.version = index, version
        logger.info(
            "rule index of account %s rebuilt: %s, %s rules, %s keywords",
            self.account_id,
            _label(version),
            index.rule_count,
            index.keyword_count,
        )
        return index

    def forget(self) -> None:
        self.version = None
        self.checked_at = -math.inf


def _label(version: tuple[int, int] | None) -> str:
    return "none" if version is None else f"v{version[0]}.{version[1]}"


_holders: dict[int, _IndexHolder] = {}
_holders_lock = threading.Lock()
_EMPTY_INDEX = RuleIndex.build(())


def _holder_for(account_id: int) -> _IndexHolder:
    holder = _holders.get(account_id)
    if holder is None:
        with _holders_lock:
            holder = _holders.setdefault(account_id, _IndexHolder(account_id))
    return holder


def get_rule_index(*, account_id: int | None = None, deadline_at: float | None = None) -> RuleIndex:
    """Return this worker's rule index for `account_id` (None: the environment account),
    rebuilt first if any of its rules changed anywhere.

    With `deadline_at`, a version read that takes longer falls back to the index in memory.
    """
    if account_id is None:
        try:
            with database_deadline(deadline_at):
                account_id = environment_account_id()  # read once per process
        except DatabaseError as error:
            if not is_outage(error):
                raise
            logger.warning("environment account unknown (database unavailable): no rules")
            return _EMPTY_INDEX
    return _holder_for(account_id).get(deadline_at=deadline_at)


def _forget_indexes(account_ids: set[int | None]) -> None:
    if EVERY_ACCOUNT in account_ids:
        forget_rule_index()
        return
    for account_id in account_ids:
        holder = _holders.get(account_id)
        if holder is not None:
            holder.forget()


def forget_rule_index() -> None:
    """Drop this worker's indexes so the next message rebuilds them (tests use this)."""
    for holder in list(_holders.values()):
        holder.forget()
