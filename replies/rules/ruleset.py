"""The rule set as every worker sees it: the version counter and this worker's compiled index.

The rules are compiled into a `RuleIndex` (replies.rules.index) held in each worker's memory.
A counter (RulesetVersion), bumped in the same transaction as any edit, tells every worker (on
any host) that its index is out of date. A worker reads it (from the shared cache when
CACHE_URL is set, else from the database) at most once per WECHAT_RULES_MAX_STALENESS seconds,
so an edit reaches every worker within that bound (1 s by default) and the endpoint pays no
read on most messages; the first request to see it moved rebuilds the index and swaps it in
whole, so no request ever sees half an index. Choosing a reply is replies.rules.choice's job.
"""

import logging
import math
import threading
import time
from collections import defaultdict
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError, connection, transaction
from django.db.models import F
from django.utils import timezone

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

VERSION_CACHE_KEY = "replies:ruleset-version"


@dataclass(frozen=True)
class RulePayload:
    """What a matched rule answers with, carried through the index."""

    replies: tuple[Reply, ...]
    reply_mode: str


# --- the version every worker can see ---------------------------------------------------------


def bump_ruleset_version() -> None:
    """Mark the rules changed, for every worker, once the current transaction commits."""
    updated = RulesetVersion.objects.filter(pk=1).update(
        version=F("version") + 1, changed_at=timezone.now()
    )
    if not updated:
        RulesetVersion.objects.get_or_create(pk=1, defaults={"version": 1})
    if settings.SHARED_CACHE:
        transaction.on_commit(_publish_version)
    # This process need not wait out the staleness bound for its own edit.
    transaction.on_commit(forget_rule_index)


def _publish_version() -> None:
    version = _read_version_from_database()
    # set, not add: a writer's value always replaces what readers cached.
    cache.set(VERSION_CACHE_KEY, version, timeout=None)


def _read_version_from_database() -> int:
    # Raw SQL: this runs for every message, and building the ORM query cost more CPU than the
    # database spent answering it (+31 % endpoint throughput on PostgreSQL, bench/README.md).
    table = connection.ops.quote_name(RulesetVersion._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT version FROM {table} WHERE id = 1")  # noqa: S608 - no user input
        row = cursor.fetchone()
    return row[0] if row else 0


def current_ruleset_version() -> int:
    """Return the rule-set version as every worker sees it."""
    if not settings.SHARED_CACHE:
        return _read_version_from_database()
    version = cache.get(VERSION_CACHE_KEY)
    if version is None:
        version = _read_version_from_database()
        # add, not set: if a writer published a newer version meanwhile, keep the writer's.
        cache.add(VERSION_CACHE_KEY, version, timeout=None)
    return version


# --- building the index from the database -----------------------------------------------------


def load_rule_specs(*, include_disabled: bool = False) -> list[RuleSpec]:
    """Return the rules as the index's plain values: three queries of plain rows, whatever the
    rule count (no model instances: at 100,000 keywords they were most of a rebuild's time)."""
    rules = ReplyRule.objects.order_by("id")
    triggers = Trigger.objects.order_by("id")
    replies = RuleReply.objects.order_by("position", "id")
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
        name=rule["name"],
        priority=rule["priority"],
        created_at=rule["created_at"],
        triggers=triggers,
        schedule=schedule,
        payload=RulePayload(replies=replies, reply_mode=rule["reply_mode"]),
    )


class _IndexHolder:
    """This worker's compiled index and the version it was built from."""

    def __init__(self):
        self.version: int | None = None
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
                version = current_ruleset_version()
        except DatabaseError as error:
            if not is_outage(error):
                raise  # a missing table or column: fail loudly, not with yesterday's rules
            # The database is unreachable: answer from the rules we have rather than not at all.
            logger.warning("rule version unavailable; using the index built at v%s", self.version)
            return self.index
        self.checked_at = now
        if version != self.version:
            with self._lock:
                if version != self.version:
                    return self._rebuild(version)
        return self.index

    def _rebuild(self, version: int) -> RuleIndex:
        try:
            index = RuleIndex.build(load_rule_specs())
        except DatabaseError as error:
            if not is_outage(error):
                raise
            logger.warning("rules unavailable; using the index built at v%s", self.version)
            return self.index
        self.index, self.version = index, version
        logger.info(
            "rule index rebuilt: v%s, %s rules, %s keywords",
            version,
            index.rule_count,
            index.keyword_count,
        )
        return index

    def forget(self) -> None:
        self.version = None
        self.checked_at = -math.inf


_holder = _IndexHolder()


def get_rule_index(*, deadline_at: float | None = None) -> RuleIndex:
    """Return this worker's rule index, rebuilt first if any rule changed anywhere.

    With `deadline_at`, a version read that takes longer falls back to the index in memory.
    """
    return _holder.get(deadline_at=deadline_at)


def forget_rule_index() -> None:
    """Drop this worker's index so the next message rebuilds it (tests use this)."""
    _holder.forget()
