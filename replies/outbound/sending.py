"""Send one OutgoingMessage row: claim it, call WeChat once, record the answer.

The row is claimed (status "sending", committed) before WeChat is called, so a sender that dies
mid-call leaves a row that says so, and nothing resends it blindly. WeChat's answer is sorted
here, once, for staff replies and the outbox alike: transient failures (-1 busy, no answer, an
answer that is not WeChat's JSON, a token WeChat keeps refusing, 45011 too frequent) may be
tried again later; any other errcode (window closed, invalid OpenID, bad media id …) will not
change by waiting and fails the row, with WeChat's errmsg and its explanation in words.
"""

import logging
from dataclasses import dataclass
from datetime import datetime

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from replies.models import Message, OutgoingMessage
from replies.outbound.clients import client_for_account
from replies.outbound.payloads import custom_message
from replies.outbound.window import reply_window
from replies.protocol import Reply, summarize_reply
from wechat_api.client import WeChatClient
from wechat_api.errors import (
    InvalidAccessToken,
    SystemBusy,
    WeChatAPIBadAnswer,
    WeChatAPIError,
    WeChatAPIUnavailable,
)

logger = logging.getLogger("replies.outbound")

_TRANSIENT = (SystemBusy, WeChatAPIUnavailable, WeChatAPIBadAnswer, InvalidAccessToken)
_TRANSIENT_ERRCODES = frozenset({45011})  # "api freq out of limit": wait and try again
_ERRMSG_LENGTH = OutgoingMessage._meta.get_field("errmsg").max_length
_REASON_LENGTH = OutgoingMessage._meta.get_field("reason").max_length


class WindowClosed(Exception):
    """The follower's 48-hour window is closed (or never opened): WeChat would refuse."""


def is_transient(error: WeChatAPIError) -> bool:
    """Return whether trying again later may succeed where `error` failed."""
    return isinstance(error, _TRANSIENT) or error.errcode in _TRANSIENT_ERRCODES


def claim(row: OutgoingMessage, *, now: datetime) -> bool:
    """Mark `row` "sending" if it is still waiting; return False when someone else took it.

    One conditional UPDATE, committed at once (autocommit): the claim is on disk before WeChat
    is called.
    """
    claimed = OutgoingMessage.objects.filter(
        pk=row.pk, status=OutgoingMessage.Status.PENDING
    ).update(status=OutgoingMessage.Status.SENDING, claimed_at=now, attempts=F("attempts") + 1)
    if claimed:
        row.status, row.claimed_at, row.attempts = (
            OutgoingMessage.Status.SENDING,
            now,
            row.attempts + 1,
        )
    return bool(claimed)


def call_wechat(row: OutgoingMessage, client: WeChatClient) -> WeChatAPIError | None:
    """Send the claimed `row` once; return WeChat's error, or None when it was sent."""
    try:
        client.send_custom_message(row.payload)
    except WeChatAPIError as error:
        logger.warning("outgoing message %s to %s not sent: %s", row.pk, row.openid, error)
        return error
    return None


def record_sent(row: OutgoingMessage) -> None:
    row.status, row.sent_at = OutgoingMessage.Status.SENT, timezone.now()
    row.errcode, row.errmsg, row.reason, row.next_attempt_at = None, "", "", None
    row.save(update_fields=["status", "sent_at", "errcode", "errmsg", "reason", "next_attempt_at"])


def record_failure(
    row: OutgoingMessage, error: WeChatAPIError, *, retry_at: datetime | None = None
) -> None:
    """Keep WeChat's answer on `row`: waiting again until `retry_at`, or failed for good."""
    row.status = OutgoingMessage.Status.PENDING if retry_at else OutgoingMessage.Status.FAILED
    row.next_attempt_at = retry_at
    row.errcode = error.errcode
    row.errmsg = error.errmsg[:_ERRMSG_LENGTH]
    row.reason = error.explanation[:_REASON_LENGTH]
    row.save(update_fields=["status", "next_attempt_at", "errcode", "errmsg", "reason"])


@dataclass(frozen=True)
class StaffSend:
    """What became of a staff reply: the row (sent or failed), and whether this POST was a
    repeat of one already handled (a double click) rather than a new send."""

    row: OutgoingMessage
    repeated: bool


def send_now(*, reply: Reply, in_reply_to: Message, user, token: str) -> StaffSend:
    """Send `reply` to the follower of `in_reply_to` now, as `user`; once per form `token`.

    Raises WindowClosed (no row, no call) when the 48-hour window is closed. The row is stored
    and committed as "sending" before WeChat is called; a second POST with the same token finds
    it (the unique idempotency key) and sends nothing.
    """
    key = f"staff:{token}"
    existing = OutgoingMessage.objects.filter(idempotency_key=key).first()
    if existing is not None:
        return StaffSend(row=existing, repeated=True)
    openid, account_id = in_reply_to.openid, in_reply_to.account_id
    if not reply_window(openid=openid, account_id=account_id).is_open():
        raise WindowClosed()
    now = timezone.now()
    row = OutgoingMessage(
        openid=openid,
        account_id=account_id,
        kind=reply.msg_type,
        payload=custom_message(reply, openid=openid),
        summary=summarize_reply(reply),
        sent_by=user,
        in_reply_to=in_reply_to,
        status=OutgoingMessage.Status.SENDING,
        attempts=1,
        claimed_at=now,
        created_at=now,
        idempotency_key=key,
    )
    try:
        with transaction.atomic():
            row.save()
    except IntegrityError:  # the same token, a moment ago, in another request
        return StaffSend(row=OutgoingMessage.objects.get(idempotency_key=key), repeated=True)
    try:
        client = client_for_account(account_id)
    except WeChatAPIError as error:  # the account's secrets cannot be read: nothing sent
        record_failure(row, error)
        return StaffSend(row=row, repeated=False)
    with client:
        error = call_wechat(row, client)
    if error is None:
        record_sent(row)
    else:
        record_failure(row, error)
    return StaffSend(row=row, repeated=False)
