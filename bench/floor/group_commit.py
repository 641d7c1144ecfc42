"""Group commit, measured on the floor: concurrent requests share one multi-row INSERT.

Issue 13's stretch: with threaded workers, the messages that arrive while a write is under way
are stored together by the next one, a single statement and a single commit, and each request
still answers only after its row is committed. One writer thread per process owns its own
database connection; a request thread queues its row and waits. No delay is added to fill a
batch: a batch is whatever queued up during the previous write, so under light load every
message is written alone, as with one INSERT per request.

This lives in the benchmark, not in wxsite: bench/RESULTS-group-commit.md says whether it pays
against the one-INSERT floor, and wxsite adopts it only if it does.
"""

import queue
import threading
from dataclasses import dataclass, field

from django.db import connections

MAX_BATCH = 256


@dataclass
class _Pending:
    values: tuple
    done: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None


class GroupWriter:
    """Store rows of one table through one writer thread, each batch one INSERT and one commit."""

    def __init__(self, *, table: str, columns: tuple[str, ...], max_batch: int = MAX_BATCH):
        self.table = table
        self.columns = columns
        self.max_batch = max_batch
        self._queue: queue.SimpleQueue[_Pending] = queue.SimpleQueue()
        self._started = False
        self._start_lock = threading.Lock()
        self.batches = 0
        self.rows = 0

    def store(self, values: tuple) -> None:
        """Queue one row and return once it is committed (or raise what the write raised)."""
        self._start()
        pending = _Pending(values)
        self._queue.put(pending)
        pending.done.wait()
        if pending.error is not None:
            raise pending.error

    def _start(self) -> None:
        if self._started:
            return
        with self._start_lock:
            if not self._started:
                threading.Thread(target=self._run, name="group-writer", daemon=True).start()
                self._started = True

    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
            while len(batch) < self.max_batch:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            error = None
            try:
                self._write(batch)
            except Exception as failure:  # noqa: BLE001 - handed to every waiting request
                error = failure
                connections["default"].close()
            for pending in batch:
                pending.error = error
                pending.done.set()

    def _write(self, batch: list[_Pending]) -> None:
        connection = connections["default"]
        quote = connection.ops.quote_name
        row = "({})".format(", ".join(["%s"] * len(self.columns)))
        sql = "INSERT INTO {} ({}) VALUES {}".format(  # noqa: S608 - names from the model
            quote(self.table),
            ", ".join(quote(column) for column in self.columns),
            ", ".join([row] * len(batch)),
        )
        params = [value for pending in batch for value in pending.values]
        with connection.cursor() as cursor:
            cursor.execute(sql, params)  # autocommit: the statement is its own transaction
        self.batches += 1
        self.rows += len(batch)
