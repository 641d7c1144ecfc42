"""A time limit on the endpoint's database work, so WeChat gets an answer within 5 seconds.

A database that refuses connections fails fast, but one that stops answering (a frozen host, a
network partition) or a table held by a long lock (CREATE INDEX, VACUUM FULL) would hold the
request until gunicorn kills the worker, and WeChat's message would be lost. Around each
database call of the endpoint, `database_deadline()` arms a timer (SIGALRM, in the main thread
of a sync worker) that interrupts the call with `DeadlineExceeded`, a DatabaseError: the caller's
fallback (the cached rule index, the spool) takes over, and the connection, left mid-query, is
closed so the next request opens a fresh one. In other threads (the dev server) it does nothing.
"""

import logging
import signal
import threading
import time
from contextlib import contextmanager

from django.conf import settings
from django.db import OperationalError, connection

logger = logging.getLogger("replies.endpoint")


def deadline_after(started: float) -> float:
    """Return the request's database deadline: WECHAT_DATABASE_DEADLINE seconds after
    `started` (the time.perf_counter() value when it arrived)."""
    return started + settings.WECHAT_DATABASE_DEADLINE


class DeadlineExceeded(OperationalError):
    """The database did not answer within the request's time budget."""


def _raise_deadline(signum, frame):
    raise DeadlineExceeded("the database did not answer in time")


@contextmanager
def database_deadline(deadline_at: float | None):
    """Interrupt the block at `deadline_at` (a time.perf_counter() value) with DeadlineExceeded."""
    if deadline_at is None or threading.current_thread() is not threading.main_thread():
        yield
        return
    remaining = deadline_at - time.perf_counter()
    if remaining <= 0:
        raise DeadlineExceeded("no time left for the database")
    previous = signal.signal(signal.SIGALRM, _raise_deadline)
    signal.setitimer(signal.ITIMER_REAL, remaining)
    try:
        yield
    except DeadlineExceeded:
        logger.error("database deadline exceeded; dropping the connection")
        _drop_connection()
        raise
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _drop_connection() -> None:
    # The connection stopped mid-query; it cannot be used again, and closing it cleanly could
    # block on the same dead socket, so close without waiting and forget it.
    try:
        connection.close()
    except Exception:  # noqa: BLE001 - whatever the driver says, the connection is gone
        connection.connection = None
