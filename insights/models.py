"""The insight pages' own tables: rollups of the message log, and the proxy the pages hang from.

The pages never read the message log (replies.Message): `manage.py rollup_insights` folds each new
message, by id, into small tables keyed by the official account and the UTC hour it was received
in, and the pages sum those hours into local days. Nothing here refers to a rule by foreign key:
rules get deleted, their history stays. Purging old messages leaves the rollups alone; deleting an
account (possible only once its log is purged) deletes its rollups.

Besides the hourly tables the job keeps what the pages would otherwise compute from millions of
rows: active followers per local day (`FollowerDay`) and, for the standard periods (the last 7,
30, 90 days), every unanswered query's totals (`QueryPeriod`, `QueryTotal`), so a page reads tens
or hundreds of rows whatever the size of the log.

The `Report` proxy gives the pages their place in the admin (the admin lists apps by their
registered models) and `ModelAdmin.get_urls` their URLs, without patching the site.
"""

from django.db import models
from django.utils.translation import gettext_lazy as _

from accounts.models import Account
from replies.models import Message

# One home for the lengths the rollups copy from the message log.
_MSG_TYPE = Message._meta.get_field("msg_type").max_length
_EVENT = Message._meta.get_field("event").max_length
_OPENID = Message._meta.get_field("openid").max_length
_RULE_NAME = Message._meta.get_field("rule_name").max_length
# An unanswered text is grouped and shown by its first characters; longer texts are cut there.
KEY_LENGTH = 200
# The quick periods of the pages (the last N local days, today included) the job keeps the
# unanswered queries of.
STANDARD_DAYS = (7, 30, 90)
# QueryPeriod.scope / QueryTotal.scope of every account together.
EVERY_ACCOUNT = 0


def _account():
    # Part of every rollup's key; the (account, …) unique constraints serve it, no index alone.
    return models.ForeignKey(
        Account,
        on_delete=models.CASCADE,
        db_index=False,
        related_name="+",
        verbose_name=_("official account"),
    )


class Report(Message):
    class Meta:
        proxy = True
        verbose_name = _("report")
        verbose_name_plural = _("reports")
        # The pages check replies.view_message; no permission of their own to hand out.
        default_permissions = ()


class RollupState(models.Model):
    """One row: how far the rollups have read the message log."""

    last_id = models.BigIntegerField(
        _("last message rolled up"), default=0, help_text=_("Message id, e.g. 120345.")
    )
    updated_at = models.DateTimeField(_("updated at"), null=True, blank=True)
    time_zone = models.CharField(
        _("time zone of the days"),
        max_length=64,
        blank=True,
        help_text=_("The TIME_ZONE FollowerDay counted local days in, e.g. Asia/Shanghai."),
    )
    queries_basis = models.JSONField(
        _("basis of the unanswered queries"),
        default=dict,
        blank=True,
        help_text=_("What the kept unanswered queries were counted for; empty until counted."),
    )

    class Meta:
        verbose_name = _("rollup state")
        verbose_name_plural = _("rollup states")
        default_permissions = ()

    def __str__(self):
        return f"rolled up to message {self.last_id}"


class MessageHour(models.Model):
    """Messages and events received in one UTC hour, by type, event, rule and answer."""

    account = _account()
    hour = models.DateTimeField(_("hour (UTC)"), help_text=_("Start of the hour, e.g. 08:00."))
    msg_type = models.CharField(_("message type"), max_length=_MSG_TYPE)
    event = models.CharField(_("event"), max_length=_EVENT, blank=True)
    rule_id = models.IntegerField(
        _("rule id"), default=0, help_text=_("The rule that answered; 0 when none did.")
    )
    rule_name = models.CharField(_("rule name"), max_length=_RULE_NAME, blank=True)
    answered = models.BooleanField(_("answered"), help_text=_("False when we answered success."))
    messages = models.IntegerField(_("messages"), default=0)
    last_at = models.DateTimeField(_("last received at"))

    class Meta:
        verbose_name = _("messages per hour")
        verbose_name_plural = _("messages per hour")
        default_permissions = ()
        constraints = [
            models.UniqueConstraint(
                fields=["account", "hour", "msg_type", "event", "rule_id", "rule_name", "answered"],
                name="insights_messagehour_key",
            )
        ]
        indexes = [models.Index(fields=["rule_id", "hour"], name="insights_messagehour_rule")]

    def __str__(self):
        return f"{self.hour:%Y-%m-%d %H}:00 {self.msg_type} {self.event} ×{self.messages}"


class HandlingHour(models.Model):
    """Handling times of one UTC hour as a log-scale histogram (rollup_insights.handling_bin).

    A bin spans a factor of 10^(1/20) ≈ 1.122; it keeps the smallest and largest value it got,
    so a percentile read from the bins is within the bin's [min, max]: at most 12% off, and exact
    wherever the ranks fall on values alone in their bin.
    """

    account = _account()
    hour = models.DateTimeField(_("hour (UTC)"))
    bin = models.SmallIntegerField(
        _("bin"), help_text=_("floor(20 × log10(ms)), e.g. 20 for 10 ms.")
    )
    messages = models.IntegerField(_("messages"), default=0)
    min_ms = models.FloatField(_("smallest (ms)"))
    max_ms = models.FloatField(_("largest (ms)"))

    class Meta:
        verbose_name = _("handling times per hour")
        verbose_name_plural = _("handling times per hour")
        default_permissions = ()
        constraints = [
            models.UniqueConstraint(
                fields=["account", "hour", "bin"], name="insights_handlinghour_key"
            )
        ]

    def __str__(self):
        return f"{self.hour:%Y-%m-%d %H}:00 bin {self.bin} ×{self.messages}"


class FollowerHour(models.Model):
    """That a follower sent something (a message or an event) in one UTC hour.

    At most one row per follower per hour: the distinct followers of any set of hours (a local
    day) are exact. Keyed follower first: the job asks whether a follower already wrote earlier
    on a day (FollowerDay) with one probe.
    """

    account = _account()
    hour = models.DateTimeField(_("hour (UTC)"))
    openid = models.CharField(_("OpenID"), max_length=_OPENID)

    class Meta:
        verbose_name = _("active follower")
        verbose_name_plural = _("active followers")
        default_permissions = ()
        constraints = [
            models.UniqueConstraint(
                fields=["account", "openid", "hour"], name="insights_followerhour_key"
            )
        ]

    def __str__(self):
        return f"{self.hour:%Y-%m-%d %H}:00 {self.openid}"


class FollowerFirstSeen(models.Model):
    """When a follower's first message to an account (as far as the log went) was received."""

    account = _account()
    openid = models.CharField(_("OpenID"), max_length=_OPENID)
    first_seen_at = models.DateTimeField(_("first seen at"))
    first_hour = models.DateTimeField(_("first hour (UTC)"))

    class Meta:
        verbose_name = _("follower first seen")
        verbose_name_plural = _("followers first seen")
        default_permissions = ()
        constraints = [
            models.UniqueConstraint(
                fields=["account", "openid"], name="insights_followerfirstseen_key"
            )
        ]
        indexes = [
            models.Index(fields=["account", "first_hour"], name="insights_firstseen_hour"),
        ]

    def __str__(self):
        return f"{self.openid} since {self.first_seen_at:%Y-%m-%d %H:%M}"


class TextHour(models.Model):
    """Text messages of one UTC hour grouped by their normalised key (reports.normalize_query).

    One row per (hour, key, way of writing it, rule, follower): the pages count distinct
    followers exactly over any period, and classify the rule as it is today (a rule made a
    default rule moves its past answers into "unanswered"). Texts that are only punctuation are
    left out. Bounded by one row per text message; far fewer when followers ask the same things.
    """

    account = _account()
    hour = models.DateTimeField(_("hour (UTC)"))
    key = models.CharField(_("query"), max_length=KEY_LENGTH, help_text=_("e.g. “hello”"))
    variant = models.CharField(
        _("as written"),
        max_length=KEY_LENGTH,
        help_text=_("The text as rules compare it, e.g. “hello!”."),
    )
    rule_id = models.IntegerField(_("rule id"), default=0, help_text=_("0 when none answered."))
    openid = models.CharField(_("OpenID"), max_length=_OPENID)
    messages = models.IntegerField(_("messages"), default=0)
    sample = models.CharField(_("sample"), max_length=KEY_LENGTH, help_text=_("As sent."))
    first_at = models.DateTimeField(_("first received at"))
    last_at = models.DateTimeField(_("last received at"))

    class Meta:
        verbose_name = _("texts per hour")
        verbose_name_plural = _("texts per hour")
        default_permissions = ()
        constraints = [
            models.UniqueConstraint(
                fields=["account", "hour", "key", "variant", "rule_id", "openid"],
                name="insights_texthour_key",
            )
        ]
        indexes = [
            # In key order and covering what the unanswered page groups (reports.
            # unanswered_queries): the GROUP BY key streams down this index instead of sorting
            # every row of the period; (account, key, hour) also serves query_variants and the
            # job's recount of the keys a batch touched.
            models.Index(
                fields=[
                    "account",
                    "key",
                    "hour",
                    "rule_id",
                    "openid",
                    "messages",
                    "first_at",
                    "last_at",
                ],
                name="insights_texthour_bykey",
            )
        ]

    def __str__(self):
        return f"{self.hour:%Y-%m-%d %H}:00 {self.key} ×{self.messages}"


class FollowerDay(models.Model):
    """How many different followers wrote to an account on one local day.

    The day is the hours that start from `since` to `until` (UTC): a change of TIME_ZONE gives
    other days, which the pages then count from FollowerHour until a rebuild. Kept up to date by
    the job, which asks FollowerHour whether each follower of a batch already wrote that day.
    """

    account = _account()
    since = models.DateTimeField(_("from (UTC)"), help_text=_("Local midnight, e.g. 16:00 UTC."))
    until = models.DateTimeField(_("to (UTC)"), help_text=_("The next local midnight."))
    followers = models.IntegerField(_("followers"), default=0)

    class Meta:
        verbose_name = _("active followers per day")
        verbose_name_plural = _("active followers per day")
        default_permissions = ()
        constraints = [
            models.UniqueConstraint(
                fields=["account", "since", "until"], name="insights_followerday_key"
            )
        ]

    def __str__(self):
        return f"{self.since:%Y-%m-%d %H}:00 ×{self.followers}"


class QueryPeriod(models.Model):
    """One unanswered query's totals over a standard period (the last `days` local days).

    `scope` is an account's id, or 0 (EVERY_ACCOUNT) for all of them together: OpenIDs differ
    per account, so the followers of every account are the sum of each one's. Which rules count
    as answering, and where each period starts, is RollupState.queries_basis; the job recounts
    the keys a batch touches and, when a period moves to the next day or a rule's kind changes,
    every key.
    """

    scope = models.IntegerField(_("account id"), help_text=_("0: every account."))
    days = models.SmallIntegerField(_("days"), help_text=_("7, 30 or 90."))
    key = models.CharField(_("query"), max_length=KEY_LENGTH)
    sample = models.CharField(_("sample"), max_length=KEY_LENGTH)
    followers = models.IntegerField(_("followers"))
    messages = models.IntegerField(_("messages"))
    first_seen = models.DateTimeField(_("first seen"))
    last_seen = models.DateTimeField(_("last seen"))

    class Meta:
        verbose_name = _("unanswered query of a period")
        verbose_name_plural = _("unanswered queries of a period")
        default_permissions = ()
        constraints = [
            models.UniqueConstraint(
                fields=["scope", "days", "key"], name="insights_queryperiod_key"
            )
        ]
        indexes = [
            # The page's order: the top N are the first N entries of this index.
            models.Index(
                "scope",
                "days",
                models.F("followers").desc(),
                models.F("messages").desc(),
                models.F("last_seen").desc(),
                "key",
                name="insights_queryperiod_rank",
            )
        ]

    def __str__(self):
        return f"{self.key} ×{self.followers}"


class QueryTotal(models.Model):
    """How many unanswered queries, and messages, a QueryPeriod scope and period holds."""

    scope = models.IntegerField(_("account id"), help_text=_("0: every account."))
    days = models.SmallIntegerField(_("days"))
    groups = models.IntegerField(_("queries"), default=0)
    messages = models.BigIntegerField(_("messages"), default=0)

    class Meta:
        verbose_name = _("unanswered queries of a period, in all")
        verbose_name_plural = _("unanswered queries of a period, in all")
        default_permissions = ()
        constraints = [
            models.UniqueConstraint(fields=["scope", "days"], name="insights_querytotal_key")
        ]

    def __str__(self):
        return f"{self.scope}/{self.days}: {self.groups}"


class QueryCount(models.Model):
    """The unanswered queries of a period the job keeps nothing for, counted in the background.

    A custom period (or every account together) is counted from the hourly rollups. On a small
    log the page counts it at once; when the period holds more unanswered texts than a request
    should count (insights.background_counts), the task worker counts it and the page shows
    this row's progress, then its result: no page waits on a count that grows with the log.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", _("waiting for the task worker")
        COUNTING = "counting", _("counting")
        DONE = "done", _("done")
        FAILED = "failed", _("failed")

    scope = models.CharField(
        _("accounts"), max_length=32, help_text=_("An account's id, or “all”.")
    )
    since = models.DateTimeField(_("from"))
    until = models.DateTimeField(_("to"))
    limit = models.PositiveSmallIntegerField(_("rows"))
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.QUEUED
    )
    requested_at = models.DateTimeField(_("requested at"))
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    total_groups = models.IntegerField(_("queries"), default=0)
    total_messages = models.IntegerField(_("messages"), default=0)
    groups = models.JSONField(_("top queries"), default=list, blank=True)
    error = models.CharField(_("error"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("count of unanswered queries")
        verbose_name_plural = _("counts of unanswered queries")
        default_permissions = ()
        indexes = [
            models.Index(
                "scope",
                "since",
                "until",
                "limit",
                models.F("requested_at").desc(),
                name="insights_querycount_ask",
            )
        ]

    def __str__(self):
        return f"{self.scope} {self.since:%Y-%m-%d}–{self.until:%Y-%m-%d} {self.status}"
