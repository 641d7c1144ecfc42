"""Group commit: the messages of concurrent requests share one INSERT and one commit.

With threaded workers (WECHAT_GROUP_COMMIT, gunicorn.conf.py), each worker process has one
writer thread with its own database connection. A request thread queues its row and waits; the
writer takes everything queued, stores it with one multi-row INSERT (autocommit: one statement,
one commit) and wakes each request with its row's id, so a message is still committed before it
is answered. No delay is added to fill a batch: a batch is what queued up during the previous
write, so under light load each message is written alone, as before. Measured against the
one-INSERT floor in bench/RESULTS-group-commit.md.

Retries keep their meaning. The INSERT skips rows whose dedup or request key is already stored
(ON CONFLICT DO NOTHING) and the writer reports those rows as IntegrityError, exactly what a
single INSERT would raise, so handling.py answers a retry with its stored reply as before. Two
rows with the same key in one batch are written one after the other. Any other error of a
multi-row INSERT (a schema fault) is retried row by row, so each request gets its own error.

Time limits: a request waits at most until its deadline (WECHAT_DATABASE_DEADLINE), then its
message goes to the spool like any other outage; a writer busy on one batch for longer than the
deadline is abandoned with its connection and a new writer takes the queue. Rows written by the
abandoned writer after all are found by the spool's replay as already stored.
"""

import logging
import queue
import threading
import time
from dataclasses import dataclass, field

from django.db import DatabaseError, IntegrityError, connections

from replies.endpoint.deadline import DeadlineExceeded
from replies.endpoint.errors import is_outage
from replies.endpoint.storage import insert_parameters, multi_row_insert, single_row_insert

logger = logging.getLogger("replies.endpoint")

# A batch's statement has 29 parameters per row: 256 rows stay under SQLite's limit of 32,766
# bound parameters (and PostgreSQL's 65,535).
MAX_BATCH = 256


@dataclass
class _Pending:
    """One request's row, waiting for the writer."""

    params: list
    keys: tuple[str, str | None]  # (dedup_key, request_key)
    done: threading.Event = field(default_factory=threading.Event)
    pk: int | None = None
    error: BaseException | None = None

    def finish(self, *, pk: int | None = None, error: BaseException | None = None) -> None:
        self.pk, self.error = pk, error
        self.done.set()


class _Writer:
    """One writer thread and its queue; replaced as a whole when it hangs."""

    def __init__(self):
        self.queue: queue.SimpleQueue[_Pending] = queue.SimpleQueue()
        self.busy_since: float | None = None  # time.monotonic() when the current batch began
        self.abandoned = False
        self.thread = threading.Thread(target=self._run, name="group-commit", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            while not self.abandoned:
                batch = [self.queue.get()]
                while len(batch) < MAX_BATCH:
                    try:
                        batch.append(self.queue.get_nowait())
                    except queue.Empty:
                        break
                self.busy_since = time.monotonic()
                try:
                    _write(batch)
                finally:
                    self.busy_since = None
        finally:
            connections["default"].close()


def _write(batch: list[_Pending]) -> None:
    """Store `batch`, then wake each request; no exception leaves (a request must never wait
    for an answer that does not come)."""
    try:
        while batch:
            first, batch = _split_repeated_keys(batch)
            _write_distinct(first)
    except BaseException as error:  # noqa: BLE001 - handed to the requests still waiting
        for pending in batch:
            if not pending.done.is_set():
                pending.finish(error=error)
        raise


def _split_repeated_keys(batch: list[_Pending]) -> tuple[list[_Pending], list[_Pending]]:
    """Return the rows whose keys no earlier row of `batch` has, and the rest (a retry that
    arrived with its original: written after it, it then collides as it should)."""
    seen: set[str] = set()
    first, rest = [], []
    for pending in batch:
        keys = [key for key in pending.keys if key]
        if seen.intersection(keys):
            rest.append(pending)
        else:
            seen.update(keys)
            first.append(pending)
    return first, rest


def _write_distinct(batch: list[_Pending]) -> None:
    try:
        stored = multi_row_insert([pending.params for pending in batch])
    except DatabaseError as error:
        connection = connections["default"]
        if is_outage(error) or len(batch) == 1:
            if is_outage(error):
                connection.close()  # reconnect for the next batch
            for pending in batch:
                pending.finish(error=error)
            return
        # A fault of the statement as a whole: each row on its own, each its own error.
        for pending in batch:
            try:
                pending.finish(pk=single_row_insert(pending.params))
            except DatabaseError as row_error:
                pending.finish(error=row_error)
        return
    for pending in batch:
        pk = stored.get(pending.keys[0])
        if pk is None:
            pending.finish(error=IntegrityError("a stored message holds this row's key"))
        else:
            pending.finish(pk=pk)


class GroupCommitter:
    """This process's writer: `store()` from any request thread."""

    def __init__(self):
        self._writer: _Writer | None = None
        self._lock = threading.Lock()

    def store(self, row, *, deadline_at: float) -> int:
        """Queue `row` (a Message), wait until it is committed and return its id.

        Raises IntegrityError when a stored row holds its dedup or request key, the write's
        DatabaseError when it failed, and DeadlineExceeded (an outage: the caller spools) when
        the writer has not answered by `deadline_at` (a time.perf_counter() value).
        """
        pending = _Pending(params=insert_parameters(row), keys=(row.dedup_key, row.request_key))
        writer = self._current_writer()
        writer.queue.put(pending)
        remaining = deadline_at - time.perf_counter()
        if not pending.done.wait(timeout=max(remaining, 0)):
            self._abandon_if_stuck(writer, stuck_for=max(remaining, 0))
            raise DeadlineExceeded("the group commit did not finish in time")
        if pending.error is not None:
            raise pending.error
        return pending.pk

    def _current_writer(self) -> _Writer:
        writer = self._writer
        if writer is None or writer.abandoned or not writer.thread.is_alive():
            with self._lock:
                writer = self._writer
                if writer is None or writer.abandoned or not writer.thread.is_alive():
                    writer = self._writer = _Writer()
        return writer

    def _abandon_if_stuck(self, writer: _Writer, *, stuck_for: float) -> None:
        """Replace `writer` if one batch has held it longer than a request may wait."""
        since = writer.busy_since
        if since is None or time.monotonic() - since < stuck_for:
            return
        with self._lock:
            if self._writer is writer and not writer.abandoned:
                writer.abandoned = True
                self._writer = None
                logger.error(
                    "group commit: a write has hung for %.1f s; a new writer takes the queue",
                    time.monotonic() - since,
                )
        # Whatever still waits in the old queue goes to the new writer.
        while True:
            try:
                self._current_writer().queue.put(writer.queue.get_nowait())
            except queue.Empty:
                return


group_committer = GroupCommitter()
