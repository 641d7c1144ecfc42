"""A durable spool on local disk for messages the database could not take.

WeChat never redelivers a message after its three quick tries, so when the database is down or
locked the endpoint still answers (from the rule index it has in memory) and writes the message,
reply included, to one file per message here: written to a temporary name, fsynced, then renamed,
so a file is either whole or absent. The file is named by the message's dedup key, which makes a
retry during the outage find the same file and get the same reply. `replay_spool` (a command,
run at start-up, and by any worker that stored a message after seeing files here) moves the files
into the database; the unique dedup key makes a replay that races another one harmless.
"""

import json
import logging
import os
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from django.conf import settings
from django.db import DatabaseError, IntegrityError, transaction

from replies.models import Message

logger = logging.getLogger("replies.spool")

SUFFIX = ".json"
# How often (seconds) a worker looks at the spool directory after a successful write.
DRAIN_CHECK_INTERVAL = 5.0


@dataclass(frozen=True)
class ReplayResult:
    stored: int = 0
    already_stored: int = 0
    failed: int = 0
    remaining: int = 0


def spool_dir() -> Path:
    return Path(settings.WECHAT_SPOOL_DIR)


def _path_for(dedup_key: str) -> Path:
    return spool_dir() / f"{dedup_key}{SUFFIX}"


def _row_to_json(row: Message) -> dict:
    data = {}
    for field in Message._meta.concrete_fields:
        if field.primary_key:
            continue
        value = getattr(row, field.attname)
        data[field.attname] = value.isoformat() if isinstance(value, datetime) else value
    return data


def _row_from_json(data: dict) -> Message:
    fields = {}
    for field in Message._meta.concrete_fields:
        if field.primary_key or field.attname not in data:
            continue
        value = data[field.attname]
        if value is not None and field.get_internal_type() == "DateTimeField":
            value = datetime.fromisoformat(value)
        fields[field.attname] = value
    return Message(**fields)


def spooled_reply(dedup_key: str) -> str | None:
    """Return the reply XML stored with a spooled message ("" for none), or None if absent."""
    try:
        with open(_path_for(dedup_key), encoding="utf-8") as file:
            return json.load(file).get("reply_xml", "")
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        logger.exception("spool file for %s unreadable", dedup_key)
        return None


def spool_message(row: Message) -> str:
    """Write `row` to the spool and return the reply XML to answer with.

    If the message is already spooled (a retry during the outage), return the reply stored with
    it instead. Raises OSError when the disk refuses the write (full, read-only).
    """
    existing = spooled_reply(row.dedup_key)
    if existing is not None:
        return existing
    directory = spool_dir()
    directory.mkdir(parents=True, exist_ok=True)
    final = _path_for(row.dedup_key)
    temporary = directory / f".{row.dedup_key}.{os.getpid()}.{threading.get_ident()}.tmp"
    try:
        with open(temporary, "w", encoding="utf-8") as file:
            json.dump(_row_to_json(row), file, ensure_ascii=False)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, final)
        _fsync_directory(directory)
    except OSError:
        temporary.unlink(missing_ok=True)
        raise
    logger.warning("database unavailable: message %s spooled to %s", row.dedup_key, final)
    _state.has_files = True
    return row.reply_xml


def _fsync_directory(directory: Path) -> None:
    # The rename is only durable once the directory entry is on disk.
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def spooled_files() -> list[Path]:
    directory = spool_dir()
    if not directory.is_dir():
        return []
    return sorted(
        path
        for path in directory.iterdir()
        if path.suffix == SUFFIX and not path.name.startswith(".")
    )


def replay_spool(*, limit: int | None = None) -> ReplayResult:
    """Move spooled messages into the database, oldest file name first; stop at the first
    database error (it is still down) and leave the rest for the next run."""
    stored = already = failed = 0
    files = spooled_files()
    for path in files[:limit]:
        try:
            with open(path, encoding="utf-8") as file:
                row = _row_from_json(json.load(file))
        except FileNotFoundError:
            continue  # another worker replayed it meanwhile
        except (OSError, ValueError):
            logger.exception("spool file %s unreadable; left in place", path.name)
            failed += 1
            continue
        try:
            with transaction.atomic():
                row.save(force_insert=True)
            stored += 1
        except IntegrityError:
            already += 1  # the retry reached the database first, or a replay raced us
        except DatabaseError:
            logger.warning(
                "database still unavailable; %d spooled messages wait",
                len(files) - stored - already,
            )
            break
        path.unlink(missing_ok=True)
    remaining = len(spooled_files())
    if stored or already:
        logger.info(
            "spool replayed: %d stored, %d already stored, %d remaining", stored, already, remaining
        )
    _state.has_files = remaining > 0
    return ReplayResult(stored=stored, already_stored=already, failed=failed, remaining=remaining)


class _DrainState:
    def __init__(self):
        self.has_files = True  # unknown at start: look once
        self.checked_at = 0.0
        self.lock = threading.Lock()
        self.thread: threading.Thread | None = None  # the last drain started, for tests


_state = _DrainState()


def drain_spool_soon() -> None:
    """After a successful write, replay the spool in a background thread if it has files.

    Costs one clock read per message; the directory is looked at every few seconds at most, and
    only one drain runs per worker at a time.
    """
    now = time.monotonic()
    if now - _state.checked_at < DRAIN_CHECK_INTERVAL:
        return
    _state.checked_at = now
    if not (_state.has_files or spooled_files()):
        return
    if not _state.lock.acquire(blocking=False):
        return
    _state.thread = threading.Thread(target=_drain, name="spool-drain", daemon=True)
    _state.thread.start()


def _drain() -> None:
    from django.db import connection

    try:
        replay_spool()
    except Exception:  # a background thread must log, never die silently
        logger.exception("spool drain failed")
    finally:
        connection.close()
        _state.lock.release()
