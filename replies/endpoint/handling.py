"""Handle one verified, parsed message: de-duplicate, choose the reply, store, answer.

This is the one place where a message meets the database. The reply is chosen in memory first
and stored with the message in a single INSERT, so a row never exists without the reply it was
answered with (a worker killed between two writes cannot leave one behind), and the hot path
costs one write. The unique `dedup_key` makes a retry's INSERT fail; the retry then reads the
stored row and answers with exactly the reply the first delivery got.

A "reply all" rule is the one exception to the single INSERT: its follow-ups go into the outbox
(replies.outbound) in the same transaction as the message, so both are committed or neither;
the worker sends them after the answer. During an outage they are spooled with the message.
"""

import hashlib
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache

from django.db import DatabaseError, IntegrityError
from django.utils import timezone

from replies.endpoint.account_lookup import EndpointAccount
from replies.endpoint.deadline import database_deadline, deadline_after
from replies.endpoint.errors import (
    DatabaseMisconfigured,
    ReplayedRequest,
    StorageUnavailable,
    is_outage,
)
from replies.endpoint.spool import drain_spool_soon, message_xml, spool_message, spooled_reply
from replies.endpoint.storage import store_message
from replies.models import Message
from replies.outbound.outbox import followup_specs
from replies.protocol import (
    NO_REPLY,
    Event,
    IncomingMessage,
    OpenedRequest,
    summarize_reply,
)
from replies.rules.choice import ReplyChoice, choose_reply, render_choice

logger = logging.getLogger("replies.endpoint")


@dataclass(frozen=True)
class HandledMessage:
    reply_xml: bytes  # the plaintext reply, or b"success"
    message_id: int | None  # None while the message waits in the spool
    duplicate: bool  # True when this was a retry of a stored message
    msg_type: str
    event: str
    rule_id: int | None
    spooled: bool = False


def dedup_key_for(message: IncomingMessage, *, key_scope: str = "") -> str:
    """Return the key shared by WeChat's retries of `message` and by nothing else.

    `key_scope` is the account's (EndpointAccount.key_scope): "" for the environment account,
    whose keys are as they were before there were several accounts; another account's id keeps
    two accounts' messages apart even if their ids, senders and times were alike.

    Messages: MsgId + FromUserName + CreateTime (MsgId alone has collided across followers).
    Events: FromUserName + CreateTime + Event + EventKey, plus MsgID where the event has one
    (two template-send results for one follower can land in the same second). Anything without
    an id falls back to its full XML content.
    """
    if message.is_event:
        parts = (
            "e",
            message.from_user,
            str(message.create_time),
            message.event,
            message.event_key,
            message.msg_id,
        )
    elif message.msg_id:
        parts = ("m", message.msg_id, message.from_user, str(message.create_time))
    else:
        content = repr(sorted(message.fields.items()))
        parts = ("u", message.from_user, str(message.create_time), message.msg_type, content)
    if key_scope:
        parts = (key_scope, *parts)
    return hashlib.sha1("\x1f".join(parts).encode()).hexdigest()


def request_key_for(opened: OpenedRequest, *, key_scope: str = "") -> str:
    """Return the key of the signed query (timestamp + nonce) that carried the message, on the
    account `key_scope` names (see dedup_key_for): another account signs with another token."""
    scope = f"{key_scope}\x1f" if key_scope else ""
    return hashlib.sha1(f"{scope}{opened.timestamp}\x1f{opened.nonce}".encode()).hexdigest()


def handle_message(
    *, opened: OpenedRequest, account: EndpointAccount, started: float
) -> HandledMessage:
    """Store the message on `account` with its reply (from that account's rules) and return
    what to answer WeChat.

    `started` is the time.perf_counter() value when the request arrived, for the stored
    handling time and the database deadline (WECHAT_DATABASE_DEADLINE seconds after it).
    Raises DatabaseMisconfigured (503) when the database answers but its schema is not ready:
    spooling then would hide the fault while every message piled up on disk.
    """
    message = opened.message
    now = timezone.now()
    deadline_at = deadline_after(started)
    try:
        # An outage is handled inside (the index in memory answers); only a schema fault
        # comes out here.
        choice = choose_reply(
            message, now=now, account_id=account.account_id, deadline_at=deadline_at
        )
    except DatabaseError as error:
        raise _schema_not_ready(error, dedup_key_for(message)) from error
    row = _row_for(opened, choice, account=account, now=now)
    # Empty but for "reply all" rules: every other message stays one INSERT.
    followups = followup_specs(choice.followups, openid=row.openid) if choice else []
    row.handling_ms = round((time.perf_counter() - started) * 1000, 3)
    spooled = spooled_reply(row)
    if spooled is not None:  # a retry of a message kept in the spool during an outage
        return _handled(message, spooled, duplicate=True, spooled=True)
    if row.account_id is None:
        # The environment account's id could not be read a moment ago: the database is down.
        return _spool(row, message, followups)
    try:
        with database_deadline(deadline_at):
            store_message(row, followups)
    except IntegrityError:
        return _answer_retry(row, message)
    except DatabaseError as error:
        if not is_outage(error):
            raise _schema_not_ready(error, row.dedup_key) from error
        return _spool(row, message, followups)
    drain_spool_soon()
    return _handled(message, row.reply_xml, message_id=row.pk, duplicate=False, rule_id=row.rule_id)


def _row_for(
    opened: OpenedRequest, choice: ReplyChoice | None, *, account: EndpointAccount, now: datetime
) -> Message:
    """Return the unsaved Message row for `opened` on `account`, with the reply `choice`
    rendered into it."""
    message = opened.message
    reply_xml, reply_type, summary = "", "", ""
    if choice is not None:
        reply_xml = render_choice(choice, message, now=now)
        reply_type, summary = choice.reply.msg_type, summarize_reply(choice.reply)
    return Message(
        account_id=account.account_id,
        dedup_key=dedup_key_for(message, key_scope=account.key_scope),
        request_key=request_key_for(opened, key_scope=account.key_scope),
        mode=opened.mode,
        raw_xml=opened.raw_text,
        decrypted_xml=opened.decrypted_text,
        received_at=now,
        reply_type=reply_type,
        reply_summary=summary,
        reply_xml=reply_xml,
        rule_id=None if choice is None else choice.rule_id,
        rule_name="" if choice is None else choice.rule_name[:60],
        **columns_for(message),
    )


def _schema_not_ready(error: DatabaseError, dedup_key: str) -> DatabaseMisconfigured:
    """Log a database fault that is not an outage, loudly, and return the 503 to raise."""
    logger.critical(
        "database refused message %s with %s, not an outage (missing migration, table or "
        "column?): answering 503 and NOT spooling; run manage.py migrate",
        dedup_key,
        type(error).__name__,
        exc_info=True,
    )
    return DatabaseMisconfigured()


def _handled(
    message: IncomingMessage,
    reply_xml: str,
    *,
    duplicate: bool,
    message_id: int | None = None,
    rule_id: int | None = None,
    spooled: bool = False,
) -> HandledMessage:
    """Return the answer to `message`: `reply_xml` as stored ("" for none), or "success"."""
    return HandledMessage(
        reply_xml=reply_xml.encode() or NO_REPLY,
        message_id=message_id,
        duplicate=duplicate,
        msg_type=message.msg_type,
        event=message.event,
        rule_id=rule_id,
        spooled=spooled,
    )


def _spool(row: Message, message: IncomingMessage, followups: list[dict]) -> HandledMessage:
    logger.error("database unavailable while storing %s; spooling it", row.dedup_key, exc_info=True)
    try:
        reply_xml = spool_message(row, followups=followups)
    except OSError:
        logger.critical(
            "message %s LOST unless WeChat retries: database and spool both failed",
            row.dedup_key,
            exc_info=True,
        )
        raise StorageUnavailable() from None
    return _handled(message, reply_xml, duplicate=False, spooled=True)


def _answer_retry(row: Message, message: IncomingMessage) -> HandledMessage:
    """Answer an INSERT that hit a unique key: WeChat's retry gets the stored reply back."""
    try:
        stored = _stored_twin(row)
    except DatabaseError as error:
        if not is_outage(error):
            raise _schema_not_ready(error, row.dedup_key) from error
        # The row exists (the INSERT collided with it) but the database went away before we
        # could read it: let WeChat retry rather than guess which reply it was sent.
        logger.error("database lost while reading the stored %s", row.dedup_key, exc_info=True)
        raise StorageUnavailable() from None
    if stored is None or message_xml(stored) != message_xml(row):
        # The same signed query carried another message, or the same MsgId, sender and time
        # came with other content: not WeChat's retry (which repeats the message exactly) but
        # a forgery riding on a captured signature.
        raise ReplayedRequest()
    return _handled(message, stored.reply_xml, message_id=stored.pk, duplicate=True)


def _stored_twin(row: Message) -> Message | None:
    """Return the stored row `row` collided with: by dedup key, else by request key.

    Raises DatabaseMisconfigured when neither exists: the IntegrityError was then not a
    unique key at all (a NOT NULL or CHECK the code does not know: a schema out of step).
    """
    fields = ("pk", "reply_xml", "raw_xml", "decrypted_xml")
    stored = Message.objects.filter(dedup_key=row.dedup_key).only(*fields).first()
    if stored is not None:
        return stored
    if Message.objects.filter(request_key=row.request_key).exists():
        return None
    raise _schema_not_ready(IntegrityError("no row holds the key"), row.dedup_key)


@cache
def _max_length(field: str) -> int | None:
    return Message._meta.get_field(field).max_length


def _clip(value: str, field: str) -> str:
    """Cut a value to its column; the raw XML keeps the whole of it."""
    limit = _max_length(field)  # looked up once per process, not per message
    return value[:limit] if limit else value


def _sent_at(create_time: int) -> datetime:
    """Return CreateTime as a datetime; an absurd value is kept in the raw XML only."""
    try:
        return datetime.fromtimestamp(create_time, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return timezone.now()


def _float_or_none(value: str) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None


def columns_for(message: IncomingMessage) -> dict:
    """Return the queryable Message columns for `message` (the raw XML holds the rest)."""
    if message.event == Event.LOCATION:
        latitude, longitude = message.latitude, message.longitude
    else:
        latitude, longitude = message.location_x, message.location_y
    url = message.url or (message.event_key if message.event == Event.VIEW else "")
    return {
        "to_user": _clip(message.to_user, "to_user"),
        "openid": _clip(message.from_user, "openid"),
        "msg_type": _clip(message.msg_type, "msg_type"),
        "event": _clip(message.event, "event"),
        "event_key": _clip(message.event_key, "event_key"),
        "msg_id": _clip(message.msg_id, "msg_id"),
        "created_at": _sent_at(message.create_time),
        "content": message.content,
        "recognition": message.recognition,
        "media_id": _clip(message.media_id, "media_id"),
        "pic_url": _clip(message.pic_url, "pic_url"),
        "latitude": _float_or_none(latitude),
        "longitude": _float_or_none(longitude),
        "label": _clip(message.label, "label"),
        "title": _clip(message.title, "title"),
        "url": _clip(url, "url"),
    }
