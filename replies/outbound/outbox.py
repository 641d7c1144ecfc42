"""The outbox: "reply all" follow-ups, stored with the message and sent in order by the worker.

`store_followups` writes one pending row per follow-up and enqueues a delivery task, inside the
transaction that stores the message (or replays it from the spool): the message and its
follow-ups are committed together or not at all. `deliver_follower` (the task's body, run by
`manage.py db_worker`) sends a follower's rows one at a time, oldest first, so a later reply
never overtakes an earlier one:

- a row is claimed ("sending", committed) before WeChat is called (replies.outbound.sending);
- a transient failure puts it back to wait with exponential back-off and a task for then;
  after MAX_ATTEMPTS it fails; a permanent error fails it at once (later rows still go);
- a row found "sending" longer than WECHAT_OUTBOX_CLAIM_TIMEOUT belonged to a sender that died
  between claim and answer: it becomes "uncertain" and is NOT resent (WeChat may have
  delivered it); a person can `resend` it on purpose from the admin.

A row another worker is sending, or one waiting for its retry time, stops the run: the worker
holding it, or the task scheduled for then, carries on.
"""

import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from replies.models import Message, OutgoingMessage
from replies.outbound.clients import client_for_account
from replies.outbound.payloads import custom_message, is_sendable
from replies.outbound.sending import call_wechat, claim, is_transient, record_failure, record_sent
from replies.protocol import Reply, summarize_reply
from wechat_api.errors import WeChatAPIError

logger = logging.getLogger("replies.outbound")

MAX_ATTEMPTS = 8
BACKOFF_BASE = 2.0  # seconds before the second try; doubled for each try after
BACKOFF_MAX = 600.0
Status = OutgoingMessage.Status
_UNFINISHED = (Status.PENDING, Status.SENDING)


def backoff(attempts: int) -> timedelta:
    """Return the wait after `attempts` failed tries: 2 s, 4 s, 8 s … at most 10 minutes."""
    return timedelta(seconds=min(BACKOFF_BASE * 2 ** max(attempts - 1, 0), BACKOFF_MAX))


# --- storing --------------------------------------------------------------------------------


def followup_specs(replies: tuple[Reply, ...], *, openid: str) -> list[dict[str, Any]]:
    """Return the follow-ups of a "reply all" choice as plain JSON values (what the spool keeps).

    A reply that cannot go out as a customer-service message (a transfer) is left out, logged.
    """
    specs = []
    for reply in replies:
        if not is_sendable(reply):
            logger.warning("a %s reply cannot follow up as a customer message", reply.msg_type)
            continue
        specs.append(
            {
                "kind": reply.msg_type,
                "payload": custom_message(reply, openid=openid),
                "summary": summarize_reply(reply),
            }
        )
    return specs


def store_followups(message: Message, specs: list[dict[str, Any]]) -> None:
    """Store `specs` as pending rows answering the stored `message` (sent by its rule), and
    enqueue their delivery.

    Call it inside the transaction that stores `message`. The idempotency keys (dedup key and
    position) make a second store of the same message's follow-ups fail with the message's own
    unique key, never send twice.
    """
    if not specs:
        return
    rows = [
        OutgoingMessage(
            openid=message.openid,
            account_id=message.account_id,
            kind=spec["kind"],
            payload=spec["payload"],
            summary=spec["summary"][:200],
            rule_id=message.rule_id,
            rule_name=message.rule_name,
            in_reply_to_id=message.pk,
            idempotency_key=f"all:{message.dedup_key}:{position}",
            created_at=message.received_at,
        )
        for position, spec in enumerate(specs, start=1)
    ]
    # One by one, not bulk_create: the ids must follow the replies' order on every database.
    for row in rows:
        row.save(force_insert=True)
    enqueue_delivery(openid=message.openid, account_id=message.account_id)


def enqueue_delivery(*, openid: str, account_id: int, run_after: datetime | None = None) -> None:
    """Enqueue a delivery task for the follower (a row in the same database and transaction)."""
    from replies.outbound.tasks import deliver_outbox  # the task module imports this one

    task = deliver_outbox.using(run_after=run_after) if run_after else deliver_outbox
    task.enqueue(openid=openid, account_id=account_id)


# --- sending ----------------------------------------------------------------------------------


def mark_stale_claims(*, now: datetime | None = None) -> int:
    """Mark rows "sending" for longer than the claim timeout "uncertain"; return how many."""
    now = now or timezone.now()
    stale_before = now - timedelta(seconds=settings.WECHAT_OUTBOX_CLAIM_TIMEOUT)
    count = OutgoingMessage.objects.filter(
        status=Status.SENDING, claimed_at__lt=stale_before
    ).update(status=Status.UNCERTAIN, reason="")
    if count:
        logger.error(
            "%d outgoing messages were being sent when their sender stopped: marked uncertain, "
            "not resent (resend them from the admin after checking with the follower)",
            count,
        )
    return count


def deliver_follower(*, openid: str, account_id: int) -> int:
    """Send the follower's waiting rows in order until done or blocked; return how many went."""
    mark_stale_claims()
    follower = OutgoingMessage.objects.filter(openid=openid, account_id=account_id)
    sent = 0
    client = None
    try:
        while True:
            head = follower.filter(status__in=_UNFINISHED).order_by("id").first()
            now = timezone.now()
            if head is None or head.status == Status.SENDING:
                break  # done, or another sender holds the earliest row and carries on
            if head.next_attempt_at and head.next_attempt_at > now:
                break  # a task is scheduled for its retry
            if not claim(head, now=now):
                continue  # taken meanwhile: look again
            if client is None:
                try:
                    # busy_retries=0: the outbox backs off between its own tries instead.
                    client = client_for_account(account_id, busy_retries=0)
                except WeChatAPIError as error:  # the account's secrets cannot be read
                    record_failure(head, error)
                    continue
            error = call_wechat(head, client)
            if error is None:
                record_sent(head)
                sent += 1
                continue
            if is_transient(error) and head.attempts < MAX_ATTEMPTS:
                retry_at = timezone.now() + backoff(head.attempts)
                with transaction.atomic():
                    record_failure(head, error, retry_at=retry_at)
                    enqueue_delivery(openid=openid, account_id=account_id, run_after=retry_at)
                break
            record_failure(head, error)
    finally:
        if client is not None:
            client.close()
    return sent


# --- operators and start-up ---------------------------------------------------------------


def resend(rows) -> int:
    """Put failed or uncertain `rows` back in the outbox on purpose; return how many.

    Each goes back to its place in its follower's order (the earliest waiting row is sent
    first) and its follower gets a delivery task.
    """
    count = 0
    with transaction.atomic():
        followers = set()
        waiting = rows.select_related(None).filter(status__in=(Status.FAILED, Status.UNCERTAIN))
        for row in waiting.select_for_update():  # no join: PostgreSQL locks no outer join
            row.status, row.next_attempt_at, row.claimed_at = Status.PENDING, None, None
            row.save(update_fields=["status", "next_attempt_at", "claimed_at"])
            followers.add((row.openid, row.account_id))
            count += 1
        for openid, account_id in sorted(followers):
            enqueue_delivery(openid=openid, account_id=account_id)
    return count


def recover_outbox() -> tuple[int, int]:
    """Mark stale claims uncertain and enqueue a delivery for every follower with waiting rows
    (a task lost with a database restored from backup, say); return (uncertain, followers).

    Run where the worker starts (serve.sh, the systemd unit): cheap, and safe to repeat.
    """
    uncertain = mark_stale_claims()
    waiting = (
        OutgoingMessage.objects.filter(status=Status.PENDING)
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=timezone.now()))
        .values_list("openid", "account_id")
        .distinct()
    )
    followers = sorted(set(waiting))
    with transaction.atomic():
        for openid, account_id in followers:
            enqueue_delivery(openid=openid, account_id=account_id)
    return uncertain, len(followers)
