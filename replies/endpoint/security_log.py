"""Record refused requests that look like attacks, for the admin's security log.

Signature failures, replays, stale timestamps, decryption failures, hostile XML and URLs naming
no account (someone guessing /wechat/<slug>/) are kept as SecurityEvent rows, each with the
account whose URL was called; plain malformed input is only logged. Every such request is
counted, none is dropped: one row per source address (an IPv6 /64, which one host can fill),
check, account and minute keeps the first request's detail, and each repeat adds one to its
`count` with a single UPDATE. A flood from one address therefore costs one row, and the one
request from elsewhere that matters still gets its own row with its detail.

New rows are budgeted per worker (MAX_EVENTS_PER_MINUTE a minute): an attacker holding many
addresses cannot turn a flood into as many rows. Past the budget, requests are counted in one
overflow row per check and minute, so the count stays exact. Recording never fails the
response: if the database cannot take it, the log line still says what happened.
"""

import ipaddress
import logging
import threading
import time
from datetime import datetime

from django.db import DatabaseError, IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from replies.endpoint.deadline import database_deadline
from replies.endpoint.errors import ReplayedRequest, UnknownAccount, is_outage
from replies.endpoint.query import read_query
from replies.models import SecurityEvent
from replies.protocol import (
    DecryptError,
    ForbiddenXML,
    InvalidParameter,
    InvalidSignature,
    NotConfigured,
    StaleTimestamp,
    WeChatError,
)

logger = logging.getLogger("replies.security")

RECORDED = (
    UnknownAccount,
    InvalidSignature,
    StaleTimestamp,
    DecryptError,
    ForbiddenXML,
    NotConfigured,
    ReplayedRequest,
)
MAX_EVENTS_PER_MINUTE = 60  # new rows per worker; repeats and overflow are counted, not dropped
# Seconds the security log may wait for the database: a forged request must not hold a worker.
RECORD_DEADLINE = 1.0


class _Throttle:
    """At most `limit` new rows a minute in this process; the rest go to the overflow rows."""

    def __init__(self, limit: int):
        self.limit = limit
        self.window_start = 0.0
        self.count = 0
        self.dropped = 0  # requests this minute counted in an overflow row instead
        self.lock = threading.Lock()

    def allow(self) -> bool:
        with self.lock:
            now = time.monotonic()
            if now - self.window_start >= 60:
                if self.dropped:
                    logger.warning(
                        "%d security events in the last minute past the row budget: counted "
                        "in overflow rows",
                        self.dropped,
                    )
                self.window_start, self.count, self.dropped = now, 0, 0
            if self.count < self.limit:
                self.count += 1
                return True
            self.dropped += 1
            return False


_throttle = _Throttle(MAX_EVENTS_PER_MINUTE)


def is_security_relevant(error: WeChatError) -> bool:
    return isinstance(error, RECORDED)


def _clean(value: str, limit: int) -> str:
    """Cut a value to its column, without NUL: PostgreSQL text cannot hold it, and an attacker
    must not be able to keep an event out of the log by adding %00 to the query."""
    return value.replace("\x00", "")[:limit]


def _address(value: str) -> tuple[str | None, str]:
    """Return (the address to store, the source to count it under) for a REMOTE_ADDR."""
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None, "-"  # no address, or none the IP column could hold
    if address.version == 6:
        return str(address), str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address), str(address)


def _bucket(minute: datetime, code: str, source: str, account_id: int | None) -> str:
    account = "-" if account_id is None else account_id
    return _clean(f"{minute:%Y-%m-%dT%H:%M}|{code}|{source}|{account}", 120)


def record_security_event(
    *, request, error: WeChatError, body: bytes = b"", account_id: int | None = None
) -> None:
    """Count `error` in the security log when it matters, on the account whose URL was called
    (None: a URL naming no account); never raise."""
    if not is_security_relevant(error):
        return
    try:
        with database_deadline(time.perf_counter() + RECORD_DEADLINE):
            _count_event(request=request, error=error, body=body, account_id=account_id)
    except DatabaseError as failure:
        if is_outage(failure):
            logger.warning("security event %s not recorded: database unavailable", error.code)
        else:
            logger.critical(
                "security event %s not recorded: %s (run manage.py migrate?)",
                error.code,
                type(failure).__name__,
                exc_info=True,
            )


def _count_event(*, request, error: WeChatError, body: bytes, account_id: int | None) -> None:
    """Add one to this request's row, creating it (or the overflow row) when it is the first."""
    now = timezone.now()
    minute = now.replace(second=0, microsecond=0)
    code = _clean(error.code, 40)
    ip, source = _address(request.META.get("REMOTE_ADDR") or "")
    bucket = _bucket(minute, code, source, account_id)
    if _add_repeat(bucket, now):
        return
    detail = {"account_id": account_id}
    if _throttle.allow():
        detail |= _detail(request=request, error=error, body=body, code=code, ip=ip)
        if _create(bucket, now, detail) or _add_repeat(bucket, now):
            return
    overflow = _bucket(minute, code, "overflow", account_id)
    if _add_repeat(overflow, now):
        return
    detail |= _detail(request=request, error=error, body=body, code=code, ip=ip)
    if not _create(overflow, now, {**detail, "overflow": True}):
        _add_repeat(overflow, now)  # another worker created it a moment ago


def _add_repeat(bucket: str, now: datetime) -> bool:
    """Count one more request in `bucket`'s row; return False if there is no such row."""
    updated = SecurityEvent.objects.filter(bucket=bucket).update(
        count=F("count") + 1, last_seen_at=now
    )
    return updated > 0


def _create(bucket: str, now: datetime, detail: dict) -> bool:
    """Create `bucket`'s row; return False if another worker created it first."""
    try:
        with transaction.atomic():  # a savepoint: the caller's transaction survives the race
            SecurityEvent.objects.create(bucket=bucket, occurred_at=now, last_seen_at=now, **detail)
    except IntegrityError:
        return False
    return True


def _query_value(request, name: str) -> str:
    try:
        return read_query(request).get(name, "")
    except InvalidParameter:  # too many parameters: the query column keeps the raw string
        return ""


def _detail(*, request, error: WeChatError, body: bytes, code: str, ip: str | None) -> dict:
    meta = request.META
    return {
        "code": code,
        "status": error.status,
        "reason": _clean(error.message, 300),
        "ip": ip,
        "forwarded_for": _clean(meta.get("HTTP_X_FORWARDED_FOR", ""), 300),
        "user_agent": _clean(meta.get("HTTP_USER_AGENT", ""), 300),
        "method": _clean(request.method, 8),
        "query": _clean(meta.get("QUERY_STRING", ""), 1000),
        "openid": _clean(_query_value(request, "openid"), 128),
        "body_bytes": len(body),
        "body_excerpt": _clean(body[:500].decode("utf-8", "replace"), 500),
    }
