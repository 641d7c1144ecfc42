"""The database side of wxsite: the message log (and, next to it, the reply rules).

Every message and event WeChat delivers becomes one Message row: queryable columns for what the
log filters on, the raw XML as received for everything else, and the reply that was sent. The
row's `dedup_key` is unique, so WeChat's retries of one message find the stored row (and its
reply) instead of making a second one — across every worker and host sharing the database.
"""

from django.conf import settings
from django.db import models
from django.db.models import Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.environment import environment_account_id
from replies.protocol import (
    Article,
    Event,
    ImageReply,
    MsgType,
    MusicReply,
    NewsReply,
    Reply,
    TextReply,
    TransferCustomerServiceReply,
    VideoReply,
    VoiceReply,
)
from replies.rules import index as rule_index


class MessageType(models.TextChoices):
    """The message types WeChat documents, with the names operators read (one home for both)."""

    TEXT = MsgType.TEXT.value, _("text")
    IMAGE = MsgType.IMAGE.value, _("image")
    VOICE = MsgType.VOICE.value, _("voice")
    VIDEO = MsgType.VIDEO.value, _("video")
    SHORTVIDEO = MsgType.SHORTVIDEO.value, _("short video")
    LOCATION = MsgType.LOCATION.value, _("location")
    LINK = MsgType.LINK.value, _("link")
    MINIPROGRAMPAGE = MsgType.MINIPROGRAMPAGE.value, _("mini program card")
    EVENT = MsgType.EVENT.value, _("event")


class EventType(models.TextChoices):
    """The events WeChat documents, with the names operators read; others are stored as sent."""

    SUBSCRIBE = Event.SUBSCRIBE.value, _("follow")
    UNSUBSCRIBE = Event.UNSUBSCRIBE.value, _("unfollow")
    SCAN = Event.SCAN.value, _("QR code scan")
    CLICK = Event.CLICK.value, _("menu click")
    VIEW = Event.VIEW.value, _("menu link")
    LOCATION = Event.LOCATION.value, _("location report")
    SCANCODE_PUSH = Event.SCANCODE_PUSH.value, _("menu scan (push)")
    SCANCODE_WAITMSG = Event.SCANCODE_WAITMSG.value, _("menu scan (wait for reply)")
    PIC_SYSPHOTO = Event.PIC_SYSPHOTO.value, _("menu: take a photo")
    PIC_PHOTO_OR_ALBUM = Event.PIC_PHOTO_OR_ALBUM.value, _("menu: photo or album")
    PIC_WEIXIN = Event.PIC_WEIXIN.value, _("menu: WeChat album")
    LOCATION_SELECT = Event.LOCATION_SELECT.value, _("menu: send location")
    VIEW_MINIPROGRAM = Event.VIEW_MINIPROGRAM.value, _("menu: open mini program")
    TEMPLATESENDJOBFINISH = Event.TEMPLATESENDJOBFINISH.value, _("template message sent")
    MASSSENDJOBFINISH = Event.MASSSENDJOBFINISH.value, _("mass message sent")
    PUBLISHJOBFINISH = Event.PUBLISHJOBFINISH.value, _("article published")


def kind_label(msg_type: str, event: str = "") -> str:
    """Return how operators call a message type or event, e.g. "menu click"; unknown as sent."""
    if msg_type == MsgType.EVENT and event:
        return str(EventType(event).label) if event in EventType.values else event
    return str(MessageType(msg_type).label) if msg_type in MessageType.values else msg_type


class Message(models.Model):
    """One message or event received from WeChat, with the reply we sent."""

    class Mode(models.TextChoices):
        PLAIN = "plain", _("plaintext")
        COMPAT = "compat", _("compatible")
        AES = "aes", _("safe (AES)")

    dedup_key = models.CharField(
        _("dedup key"),
        max_length=40,
        editable=False,
        help_text=_(
            "SHA-1 of MsgId + FromUserName + CreateTime (events: FromUserName + CreateTime + "
            "Event + EventKey); WeChat's retries share it."
        ),
    )
    request_key = models.CharField(  # noqa: DJ001 - NULL where a row has no signed query
        _("request key"),
        max_length=40,
        null=True,
        editable=False,
        help_text=_(
            "SHA-1 of the signed timestamp and nonce: the same signed query with another body "
            "is a forgery."
        ),
    )
    mode = models.CharField(_("mode"), max_length=8, choices=Mode.choices, default=Mode.PLAIN)
    account = models.ForeignKey(
        "accounts.Account",
        on_delete=models.PROTECT,  # an account with a log is never deleted with it
        default=environment_account_id,
        related_name="+",
        db_index=False,  # the (account, -received_at) index below serves it
        verbose_name=_("official account"),
        help_text=_("The account whose URL received the message."),
    )
    to_user = models.CharField(
        _("original ID"),
        max_length=64,
        help_text=_("ToUserName: our account, e.g. gh_123456789abc."),
    )
    openid = models.CharField(
        _("follower OpenID"),
        max_length=128,
        help_text=_("FromUserName, e.g. oUpF8uMuAJO_M2pxb1Q9zNjWeS6o."),
    )
    # choices: the names operators read and the admin's filters; WeChat's new types are
    # stored all the same (choices are not a database constraint).
    msg_type = models.CharField(
        _("type"),
        max_length=32,
        choices=MessageType.choices,
        help_text=_("MsgType, lower-case: text, image, event …"),
    )
    event = models.CharField(
        _("event"),
        max_length=64,
        blank=True,
        choices=EventType.choices,
        help_text=_("Event, lower-case: subscribe, click, scan …; empty for messages."),
    )
    event_key = models.CharField(
        _("event key"),
        max_length=512,
        blank=True,
        help_text=_("EventKey: menu key, qrscene_123, or the URL of a VIEW event."),
    )
    msg_id = models.CharField(_("MsgId"), max_length=64, blank=True)
    created_at = models.DateTimeField(
        _("sent at"), help_text=_("CreateTime: when the follower sent it, per WeChat.")
    )
    content = models.TextField(_("text"), blank=True, help_text=_("Content of a text message."))
    recognition = models.TextField(
        _("speech recognition"), blank=True, help_text=_("Recognition of a voice message.")
    )
    media_id = models.CharField(_("media id"), max_length=256, blank=True)
    pic_url = models.CharField(_("picture URL"), max_length=1024, blank=True)
    latitude = models.FloatField(
        _("latitude"), null=True, blank=True, help_text=_("Location_X, or Latitude of LOCATION.")
    )
    longitude = models.FloatField(
        _("longitude"), null=True, blank=True, help_text=_("Location_Y, or Longitude of LOCATION.")
    )
    label = models.CharField(_("place"), max_length=512, blank=True)
    title = models.CharField(_("title"), max_length=512, blank=True)
    url = models.CharField(_("URL"), max_length=2048, blank=True)
    raw_xml = models.TextField(_("raw XML"), help_text=_("The request body exactly as received."))
    decrypted_xml = models.TextField(
        _("decrypted XML"), blank=True, help_text=_("The message inside, in safe mode.")
    )
    received_at = models.DateTimeField(_("received at"), default=timezone.now)
    handling_ms = models.FloatField(
        _("handling time (ms)"), default=0, help_text=_("From request to stored reply.")
    )
    reply_type = models.CharField(
        _("reply type"), max_length=32, blank=True, help_text=_("Empty when we answered success.")
    )
    reply_summary = models.CharField(_("reply"), max_length=200, blank=True)
    reply_xml = models.TextField(
        _("reply XML"), blank=True, help_text=_("The plaintext reply; retries get it back.")
    )
    rule = models.ForeignKey(
        "ReplyRule",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="messages",
        db_index=False,  # the (rule, -received_at) index below serves lookups by rule
        verbose_name=_("rule"),
        help_text=_("The rule that answered; empty when none did."),
    )
    rule_name = models.CharField(
        _("rule name"), max_length=60, blank=True, help_text=_("Kept when the rule is deleted.")
    )

    class Meta:
        verbose_name = _("message")
        verbose_name_plural = _("messages")
        ordering = ["-received_at", "-id"]
        # Constraints rather than unique=True: on PostgreSQL unique=True on a CharField adds a
        # second, LIKE-friendly index that every INSERT would maintain and nothing uses.
        constraints = [
            models.UniqueConstraint(fields=["dedup_key"], name="message_dedup_key_unique"),
            models.UniqueConstraint(fields=["request_key"], name="message_request_key_unique"),
        ]
        # Only what the endpoint and the admin need: every index is one more write per message.
        # The two unique keys de-duplicate retries and signed queries; the rest serve the log
        # list (newest first; its type and event filters walk that order), a follower's
        # messages and conversation, MsgId search and the rule list's hits. The insights read
        # their own rollups (insights.models), not this table.
        indexes = [
            models.Index(fields=["-received_at"], name="message_received"),
            # The log of one account (what most staff see), newest first.
            models.Index(fields=["account", "-received_at"], name="message_account"),
            models.Index(fields=["openid", "-received_at"], name="message_openid"),
            models.Index(fields=["msg_id"], name="message_msg_id"),
            # The rule list's hit counts and last hit per rule (and a rule's deletion).
            models.Index(fields=["rule", "-received_at"], name="message_rule"),
            # On PostgreSQL, migration 0002 adds trigram indexes for the log's text search.
        ]

    def __str__(self):
        kind = f"{self.msg_type}/{self.event}" if self.event else self.msg_type
        return f"{kind} · {self.openid} · {timezone.localtime(self.created_at):%Y-%m-%d %H:%M:%S}"


class ReplyRule(models.Model):
    """An auto-reply rule: when one of its triggers matches, answer with one of its replies.

    Which rule wins when several match: enabled rules whose schedule is active now, the default
    rule only when nothing else matched; then higher priority; then the stronger match (exact
    keyword, menu key, QR scene > prefix > contains > any follow/scan > regex > message type);
    then the longer keyword; then the older rule.
    """

    class ReplyMode(models.TextChoices):
        RANDOM = "random", _("one at random")
        FIRST = "first", _("always the first")
        # WeChat's 回复全部: the first passively, the rest through the customer-service API.
        ALL = "all", _("all (回复全部)")

    name = models.CharField(_("name"), max_length=60, help_text=_("For staff, e.g. “营业时间”."))
    account = models.ForeignKey(
        "accounts.Account",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("official account"),
        help_text=_("Empty: the rule answers on every account."),
    )
    enabled = models.BooleanField(_("enabled"), default=True)
    priority = models.IntegerField(
        _("priority"),
        default=0,
        help_text=_("Higher wins when several rules match, e.g. 10 over 0."),
    )
    reply_mode = models.CharField(
        _("with several replies, send"),
        max_length=8,
        choices=ReplyMode.choices,
        default=ReplyMode.RANDOM,
        help_text=_(
            "“All” answers with the first reply at once and sends the others in order as "
            "customer-service messages (客服消息) right after, through the outbox."
        ),
    )
    starts_at = models.DateTimeField(
        _("active from"), null=True, blank=True, help_text=_("Empty: active from now on.")
    )
    ends_at = models.DateTimeField(
        _("active until"), null=True, blank=True, help_text=_("Empty: no end.")
    )
    daily_from = models.TimeField(
        _("daily from"),
        null=True,
        blank=True,
        help_text=_(
            "Only at these hours each day, e.g. 18:00 to 09:00 for an out-of-office reply."
        ),
    )
    daily_until = models.TimeField(_("daily until"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("reply rule")
        verbose_name_plural = _("reply rules")
        ordering = ["-enabled", "-priority", "created_at", "id"]

    def __str__(self):
        return self.name


class Trigger(models.Model):
    """What makes a rule answer: a keyword, the follow event, a menu key, a QR scene …"""

    class Kind(models.TextChoices):
        # The values are the rule index's: it is the one that gives them a meaning.
        KEYWORD = rule_index.KEYWORD, _("keyword")
        SUBSCRIBE = rule_index.SUBSCRIBE, _("follow")
        CLICK = rule_index.CLICK, _("menu click")
        SCAN = rule_index.SCAN, _("QR code scan")
        MSG_TYPE = rule_index.MSG_TYPE, _("any message of a type")
        DEFAULT = rule_index.DEFAULT, _("default (nothing else matched)")

    class Match(models.TextChoices):
        EXACT = rule_index.EXACT, _("exact (全匹配)")
        CONTAINS = rule_index.CONTAINS, _("contains (半匹配)")
        PREFIX = rule_index.PREFIX, _("starts with")
        REGEX = rule_index.REGEX, _("regular expression")

    rule = models.ForeignKey(
        ReplyRule, on_delete=models.CASCADE, related_name="triggers", verbose_name=_("rule")
    )
    kind = models.CharField(_("when"), max_length=16, choices=Kind.choices, default=Kind.KEYWORD)
    match = models.CharField(
        _("match"), max_length=16, choices=Match.choices, default=Match.EXACT, blank=True
    )
    value = models.CharField(
        _("value"),
        max_length=255,
        blank=True,
        help_text=_(
            "Keyword (“价格”), regex (“^订单\\d+$”), menu key (“MENU_1”), QR scene (“123”, "
            "empty for any) or message type (“image”)."
        ),
    )

    class Meta:
        verbose_name = _("trigger")
        verbose_name_plural = _("triggers")
        ordering = ["id"]
        indexes = [models.Index(fields=["kind", "value"], name="trigger_kind_value")]

    def __str__(self):
        return self.describe(kind=self.kind, match=self.match, value=self.value)

    @classmethod
    def describe(cls, *, kind: str, match: str, value: str) -> str:
        """Return a trigger as operators read it, e.g. "exact (全匹配): 价格" (translated)."""
        if kind == cls.Kind.KEYWORD and match in cls.Match.values:
            return f"{cls.Match(match).label}: {value}"
        label = cls.Kind(kind).label if kind in cls.Kind.values else kind
        return f"{label}: {value}" if value else str(label)


class RuleReply(models.Model):
    """One passive reply of a rule: text, image, voice, video, music, news or transfer."""

    class Type(models.TextChoices):
        TEXT = "text", _("text")
        IMAGE = "image", _("image")
        VOICE = "voice", _("voice")
        VIDEO = "video", _("video")
        MUSIC = "music", _("music")
        NEWS = "news", _("news (articles)")
        TRANSFER = "transfer_customer_service", _("transfer to customer service")

    rule = models.ForeignKey(
        ReplyRule, on_delete=models.CASCADE, related_name="replies", verbose_name=_("rule")
    )
    position = models.PositiveSmallIntegerField(_("order"), default=0)
    reply_type = models.CharField(_("type"), max_length=32, choices=Type.choices, default=Type.TEXT)
    content = models.TextField(
        _("text"), blank=True, help_text=_("Text reply; line breaks and links are kept.")
    )
    media_id = models.CharField(
        _("media id"),
        max_length=128,
        blank=True,
        help_text=_("MediaId of permanent material, for image, voice and video replies."),
    )
    title = models.CharField(_("title"), max_length=128, blank=True)
    description = models.CharField(_("description"), max_length=512, blank=True)
    music_url = models.URLField(_("music URL"), max_length=1024, blank=True)
    hq_music_url = models.URLField(_("high-quality music URL"), max_length=1024, blank=True)
    thumb_media_id = models.CharField(_("thumbnail media id"), max_length=128, blank=True)
    articles = models.JSONField(
        _("articles"),
        default=list,
        blank=True,
        help_text=_("News articles: title, description, pic_url, url."),
    )
    kf_account = models.CharField(
        _("customer-service account"),
        max_length=64,
        blank=True,
        help_text=_("Optional, e.g. kf2001@gh_123456789abc; empty: any agent."),
    )

    class Meta:
        verbose_name = _("reply")
        verbose_name_plural = _("replies")
        ordering = ["position", "id"]

    def __str__(self):
        return f"{self.get_reply_type_display()} #{self.position}"

    def summary(self) -> str:
        """Return one short line for lists: the translated type and what it says."""
        detail = (
            self.content
            or self.title
            or ", ".join(item.get("title", "") for item in self.articles)
            or self.media_id
            or self.kf_account
        )
        label = str(self.get_reply_type_display())
        return f"{label}: {detail[:40]}" if detail else label


REPLY_COLUMNS = (
    "reply_type",
    "content",
    "media_id",
    "title",
    "description",
    "music_url",
    "hq_music_url",
    "thumb_media_id",
    "articles",
    "kf_account",
)


def reply_from_columns(row) -> Reply:
    """Return the protocol reply for a RuleReply's columns (a mapping of REPLY_COLUMNS).

    The one conversion from the model to the protocol's reply value: the admin form (before
    check_reply), the JSON import and the rule index all go through it. A function
    of plain values, so the rule index can be built from `.values()` rows without making a model
    instance per reply (100,000 of them at the largest rule sets).
    """
    match row["reply_type"]:
        case RuleReply.Type.TEXT:
            return TextReply(row["content"])
        case RuleReply.Type.IMAGE:
            return ImageReply(row["media_id"])
        case RuleReply.Type.VOICE:
            return VoiceReply(row["media_id"])
        case RuleReply.Type.VIDEO:
            return VideoReply(row["media_id"], title=row["title"], description=row["description"])
        case RuleReply.Type.MUSIC:
            return MusicReply(
                title=row["title"],
                description=row["description"],
                music_url=row["music_url"],
                hq_music_url=row["hq_music_url"],
                thumb_media_id=row["thumb_media_id"],
            )
        case RuleReply.Type.NEWS:
            return NewsReply(
                tuple(
                    Article(
                        title=item.get("title", ""),
                        description=item.get("description", ""),
                        pic_url=item.get("pic_url", ""),
                        url=item.get("url", ""),
                    )
                    for item in row["articles"]
                )
            )
        case RuleReply.Type.TRANSFER:
            return TransferCustomerServiceReply(row["kf_account"])
    raise ValueError(f"unknown reply type {row['reply_type']!r}")


class RulesetVersion(models.Model):
    """A counter bumped by every change to rules, triggers or replies, one per account.

    The row with no account counts changes to the rules that answer on every account; each
    account's row counts changes to its own rules. A worker compares the pair (every account,
    its own) with the one its index for that account was built from and rebuilds when either
    moved, so an edit reaches all workers and hosts within the staleness bound, and an edit of
    one account's rule rebuilds no other account's index.
    """

    account = models.ForeignKey(
        "accounts.Account",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,  # the unique index below serves it
        verbose_name=_("official account"),
        help_text=_("Empty: the rules that answer on every account."),
    )
    version = models.BigIntegerField(default=0)
    changed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("rule set version")
        verbose_name_plural = _("rule set versions")
        constraints = [
            # One row per account and one without: NULLs are distinct in a plain unique index.
            models.UniqueConstraint(
                Coalesce("account", Value(0)), name="ruleset_version_one_per_account"
            ),
        ]

    def __str__(self):
        return f"v{self.version}"


class SecurityEvent(models.Model):
    """Refused requests worth an operator's look: bad signature, replay, decryption failure …

    One row per source address (an IPv6 /64), check and minute: the first request's detail and
    a `count` of every request alike in that minute, so a flood is counted to the last request
    and cannot push a single other event out of the log. Each worker writes at most a budget of
    new rows a minute; past it, requests are counted in one overflow row per check and minute.
    Enough context to spot an attack (who, when, which check failed, the query WeChat-style
    parameters) and never a secret: the token and keys are not in requests, and bodies are
    kept as a short excerpt only.
    """

    account = models.ForeignKey(
        "accounts.Account",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
        verbose_name=_("official account"),
        help_text=_("The account whose URL was called; empty when the URL named none we have."),
    )
    occurred_at = models.DateTimeField(_("occurred at"), default=timezone.now)
    last_seen_at = models.DateTimeField(
        _("last seen at"), null=True, blank=True, help_text=_("The latest request counted here.")
    )
    count = models.PositiveIntegerField(
        _("requests"),
        default=1,
        help_text=_("Requests alike (address, check) in this minute, e.g. 500 in a flood."),
    )
    overflow = models.BooleanField(
        _("overflow"),
        default=False,
        help_text=_(
            "Counts this minute's requests past the per-worker row budget, from any address; "
            "the detail shown is the first one's."
        ),
    )
    # "minute|code|address|account" (or "minute|code|overflow|account"): what repeats of the
    # same event share.
    bucket = models.CharField(  # noqa: DJ001 - NULL for rows written before buckets existed
        _("bucket"), max_length=120, null=True, blank=True, editable=False
    )
    code = models.CharField(
        _("check that failed"), max_length=40, help_text=_("e.g. invalid_signature.")
    )
    status = models.PositiveSmallIntegerField(_("HTTP status"))
    reason = models.CharField(_("reason"), max_length=300)
    ip = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    forwarded_for = models.CharField(_("X-Forwarded-For"), max_length=300, blank=True)
    user_agent = models.CharField(_("user agent"), max_length=300, blank=True)
    method = models.CharField(_("method"), max_length=8)
    query = models.CharField(
        _("query string"), max_length=1000, blank=True, help_text=_("As the request sent it.")
    )
    openid = models.CharField(_("OpenID (from the query)"), max_length=128, blank=True)
    body_bytes = models.PositiveIntegerField(_("body size (bytes)"), default=0)
    body_excerpt = models.CharField(_("start of the body"), max_length=500, blank=True)

    class Meta:
        verbose_name = _("security event")
        verbose_name_plural = _("security events")
        ordering = ["-occurred_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["bucket"], name="security_bucket_unique"),
        ]
        indexes = [
            models.Index(fields=["-occurred_at"], name="security_when"),
            models.Index(fields=["code", "-occurred_at"], name="security_code"),
            models.Index(fields=["ip", "-occurred_at"], name="security_ip"),
        ]

    def __str__(self):
        when = timezone.localtime(self.occurred_at)
        return f"{self.code} · {self.ip or '?'} · {when:%Y-%m-%d %H:%M:%S}"


class SpoolConflict(models.Model):
    """A spooled message that replay found at odds with a stored one, kept for a person to judge.

    Both came under the same dedup key or the same signed query but differ in content, so one
    may be a forgery riding on a captured plaintext signature. Replay keeps the stored row as it
    is and moves the spooled file to the spool's conflicts/ folder instead of deleting it.
    """

    class Kind(models.TextChoices):
        DEDUP_KEY = "dedup_key", _("same message key, other content")
        REQUEST_KEY = "request_key", _("same signed query, other message")

    account = models.ForeignKey(
        "accounts.Account",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
        verbose_name=_("official account"),
        help_text=_("The account the spooled message came to."),
    )
    detected_at = models.DateTimeField(
        _("detected at"), default=timezone.now, help_text=_("When replay found it.")
    )
    kind = models.CharField(
        _("conflict"),
        max_length=16,
        choices=Kind.choices,
        help_text=_("Which key the two messages share."),
    )
    file_name = models.CharField(
        _("file"),
        max_length=100,
        help_text=_("In the spool's conflicts/ folder, e.g. 3f2a…c41e-9b0d5e1a2f3c.json."),
    )
    dedup_key = models.CharField(
        _("dedup key"),
        max_length=40,
        help_text=_(
            "SHA-1 of MsgId + FromUserName + CreateTime (events: FromUserName + CreateTime + "
            "Event + EventKey); WeChat's retries share it."
        ),
    )
    request_key = models.CharField(
        _("request key"),
        max_length=40,
        blank=True,
        help_text=_(
            "SHA-1 of the signed timestamp and nonce: the same signed query with another body "
            "is a forgery."
        ),
    )
    spooled_xml = models.TextField(
        _("spooled XML"), help_text=_("The message kept in the spool, as WeChat sent it.")
    )
    spooled_received_at = models.DateTimeField(
        _("spooled message received at"),
        null=True,
        help_text=_("When it arrived, during the database outage."),
    )
    # An id, not a foreign key: purging old messages must not touch (or be slowed by) this.
    stored_message_id = models.BigIntegerField(
        _("stored message"),
        null=True,
        help_text=_("The id of the stored message it collided with, e.g. 1234."),
    )

    class Meta:
        verbose_name = _("spool conflict")
        verbose_name_plural = _("spool conflicts")
        ordering = ["-detected_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["file_name"], name="spoolconflict_file_unique"),
        ]

    def __str__(self):
        return self.file_name


class OutgoingMessage(models.Model):
    """One customer-service message (客服消息) we send to a follower: typed by staff in the
    conversation, or a "reply all" rule's follow-up, sent by the outbox worker.

    The row is written (and committed) before WeChat is called, so nothing is sent that the log
    does not know of; `idempotency_key` is unique, so a double click or a replayed spool file
    finds the row instead of sending twice. `status` says where it stands: a row still "sending"
    when a later run looks is "uncertain" (the sender died between the claim and WeChat's
    answer) and is resent only by a person.
    """

    class Kind(models.TextChoices):
        TEXT = "text", _("text")
        IMAGE = "image", _("image")
        VOICE = "voice", _("voice")
        VIDEO = "video", _("video")
        MUSIC = "music", _("music")
        NEWS = "news", _("news (articles)")

    class Status(models.TextChoices):
        PENDING = "pending", _("waiting to be sent")
        SENDING = "sending", _("sending")
        SENT = "sent", _("sent")
        FAILED = "failed", _("failed")
        UNCERTAIN = "uncertain", _("uncertain (sender stopped mid-call)")

    openid = models.CharField(
        _("follower OpenID"),
        max_length=128,
        help_text=_("touser, e.g. oUpF8uMuAJO_M2pxb1Q9zNjWeS6o."),
    )
    account = models.ForeignKey(
        "accounts.Account",
        on_delete=models.PROTECT,
        default=environment_account_id,
        related_name="+",
        verbose_name=_("official account"),
        help_text=_("The account that sends it (its AppID and AppSecret call WeChat)."),
    )
    kind = models.CharField(_("type"), max_length=16, choices=Kind.choices)
    payload = models.JSONField(
        _("message"),
        help_text=_('The body sent to message/custom/send, e.g. {"msgtype": "text", …}.'),
    )
    summary = models.CharField(_("summary"), max_length=200, blank=True)
    sent_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("sent by"),
        help_text=_("The staff member who wrote it; empty for a rule's follow-up."),
    )
    rule = models.ForeignKey(
        ReplyRule,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("rule"),
        help_text=_("The “reply all” rule whose follow-up this is."),
    )
    rule_name = models.CharField(
        _("rule name"), max_length=60, blank=True, help_text=_("Kept when the rule is deleted.")
    )
    in_reply_to = models.ForeignKey(
        Message,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="outgoing",
        verbose_name=_("in reply to"),
        help_text=_("The follower's message it answers."),
    )
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.PENDING
    )
    attempts = models.PositiveSmallIntegerField(
        _("attempts"), default=0, help_text=_("Calls to WeChat so far, e.g. 2 after one retry.")
    )
    errcode = models.IntegerField(
        _("errcode"), null=True, blank=True, help_text=_("WeChat's errcode of the last try.")
    )
    errmsg = models.CharField(
        _("errmsg"), max_length=500, blank=True, help_text=_("WeChat's errmsg, as it sent it.")
    )
    reason = models.CharField(
        _("reason"),
        max_length=500,
        blank=True,
        help_text=_("What the last failure means, in words, e.g. 已超出 48 小时客服消息时限."),
    )
    idempotency_key = models.CharField(
        _("idempotency key"),
        max_length=80,
        editable=False,
        help_text=_("The form's one-time token, or the message and position of a follow-up."),
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    next_attempt_at = models.DateTimeField(
        _("next attempt"), null=True, blank=True, help_text=_("When a retry is due.")
    )
    claimed_at = models.DateTimeField(
        _("claimed at"), null=True, blank=True, help_text=_("When the last call to WeChat began.")
    )
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)

    class Meta:
        verbose_name = _("outgoing message")
        verbose_name_plural = _("outgoing messages")
        ordering = ["-created_at", "-id"]
        permissions = [("send_outgoingmessage", _("Can send messages to followers"))]
        constraints = [
            models.UniqueConstraint(
                fields=["idempotency_key"], name="outgoing_idempotency_key_unique"
            ),
        ]
        indexes = [
            # A follower's thread and the outbox's order (earliest unfinished row first).
            models.Index(fields=["openid", "account", "id"], name="outgoing_follower"),
            models.Index(fields=["status", "-created_at"], name="outgoing_status"),
        ]

    def __str__(self):
        when = timezone.localtime(self.created_at)
        return f"{self.get_kind_display()} · {self.openid} · {when:%Y-%m-%d %H:%M:%S}"
