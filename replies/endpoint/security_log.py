"""Record refused requests that look like attacks, for the admin's security log.

Signature failures, replays, stale timestamps, decryption failures and hostile XML are kept
as SecurityEvent rows; plain malformed input is only logged. Recording is throttled per worker
(a flood of forged requests must not turn into a flood of database writes) and never fails the
response: if the row cannot be written, the log line still says what happened.
"""

import logging
import threading
import time

from django.db import DatabaseError

from replies.endpoint.errors import ReplayedRequest
from replies.models import SecurityEvent
from replies.protocol import (
    DecryptError,
    ForbiddenXML,
    InvalidSignature,
    NotConfigured,
    StaleTimestamp,
    WeChatError,
)

logger = logging.getLogger("replies.security")

RECORDED = (
    InvalidSignature,
    StaleTimestamp,
    DecryptError,
    ForbiddenXML,
    NotConfigured,
    ReplayedRequest,
)
MAX_EVENTS_PER_MINUTE = 60


class _Throttle:
    """At most `limit` events a minute in this process; the rest are counted in the log."""

    def __init__(self, limit: int):
        self.limit = limit
        self.window_start = 0.0
        self.count = 0
        self.dropped = 0
        self.lock = threading.Lock()

    def allow(self) -> bool:
        with self.lock:
            now = time.monotonic()
            if now - self.window_start >= 60:
                if self.dropped:
                    logger.warning(
                        "%d more security events in the last minute not recorded", self.dropped
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


def record_security_event(*, request, error: WeChatError, body: bytes = b"") -> None:
    """Store `error` as a SecurityEvent when it matters and the throttle allows."""
    if not is_security_relevant(error) or not _throttle.allow():
        return
    meta = request.META
    try:
        SecurityEvent.objects.create(
            code=_clean(error.code, 40),
            status=error.status,
            reason=_clean(error.message, 300),
            ip=meta.get("REMOTE_ADDR") or None,
            forwarded_for=_clean(meta.get("HTTP_X_FORWARDED_FOR", ""), 300),
            user_agent=_clean(meta.get("HTTP_USER_AGENT", ""), 300),
            method=_clean(request.method, 8),
            query=_clean(meta.get("QUERY_STRING", ""), 1000),
            openid=_clean(request.GET.get("openid", ""), 128),
            body_bytes=len(body),
            body_excerpt=_clean(body[:500].decode("utf-8", "replace"), 500),
        )
    except DatabaseError:
        logger.warning("security event %s not recorded: database unavailable", error.code)
