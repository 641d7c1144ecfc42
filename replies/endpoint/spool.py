"""A durable spool on local disk for messages the database could not take.

WeChat never redelivers a message after its three quick tries, so when the database is down or
locked the endpoint still answers (from the rule index it has in memory) and writes the message,
reply included, to one file per message here. `replay_spool` (a command, run at start-up, and by
any worker that stored a message after seeing files here) moves the files into the database.

The spool keeps the database's two promises while the database cannot:

- one message, one file: the file is named by the message's dedup key and created exclusively
  (written and fsynced under a temporary name, then hard-linked to its name, which fails if the
  name exists), so the first arrival wins and WeChat's retry finds it and gets the same reply;
- one signed query, one message: a marker file named by the request key (timestamp + nonce) is
  claimed the same way before the message file is written. The same query with the same body is
  WeChat's retry; with another body it is a forgery riding on a captured plaintext signature,
  refused with 403 as the database's unique request key would.

Replay never deletes a file whose message differs from a stored row with the same dedup key or
request key: it moves the file to `conflicts/` and records a SpoolConflict for the admin, so
neither the stored row nor the spooled message is lost and a person decides which is genuine.
Markers stay until the signed query is long past the timestamp window (nothing can reuse it
then), and replay removes them after that.

Each file names the account the message came to (`account_id`, a stored account's id also in
the dedup key and the request key, so two accounts' files never share a name); replay stores
the message there.

A "reply all" rule's follow-ups are spooled with their message (the customer-service bodies the
rule chose, under "followups"), and replay stores them in the outbox in the transaction that
stores the message: they go out after the outage, as chosen when the message came, whatever
the rule says by then.
"""

import hashlib
import json
import logging
import os
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from django.conf import settings
from django.db import DatabaseError, IntegrityError
from django.db.models import Q

from replies.endpoint.errors import ReplayedRequest, is_outage
from replies.endpoint.storage import store_message
from replies.models import Message, SpoolConflict

logger = logging.getLogger("replies.spool")

SUFFIX = ".json"
MARKER_SUFFIX = ".request"
CONFLICTS = "conflicts"
FOLLOWUPS = "followups"  # the key of a spooled message's "reply all" follow-ups
# How often (seconds) a worker looks at the spool directory after a successful write.
DRAIN_CHECK_INTERVAL = 5.0
# How long a worker trusts "the spool is empty" before looking again: while it is empty (almost
# always), a message costs no file look-up at all.
PRESENCE_CHECK_INTERVAL = 1.0


@dataclass(frozen=True)
class ReplayResult:
    stored: int = 0
    already_stored: int = 0
    failed: int = 0
    remaining: int = 0
    conflicts: int = 0


def spool_dir() -> Path:
    return Path(settings.WECHAT_SPOOL_DIR)


def conflicts_dir() -> Path:
    return spool_dir() / CONFLICTS


def _path_for(dedup_key: str) -> Path:
    return spool_dir() / f"{dedup_key}{SUFFIX}"


def _marker_for(request_key: str) -> Path:
    return spool_dir() / f"{request_key}{MARKER_SUFFIX}"


def message_xml(row: Message) -> str:
    """Return the message as WeChat sent it (decrypted in safe mode): what its retry repeats."""
    return row.decrypted_xml or row.raw_xml


def _spooled_xml(data: dict) -> str:
    """Return `message_xml` of a spooled row, from its JSON."""
    return data.get("decrypted_xml") or data.get("raw_xml") or ""


def _digest(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()


def _row_to_json(row: Message) -> dict:
    data = {}
    for field in Message._meta.concrete_fields:
        if field.primary_key:
            continue
        value = getattr(row, field.attname)
        data[field.attname] = value.isoformat() if isinstance(value, datetime) else value
    return data


def _row_from_json(data: dict) -> Message:
    """Return the unsaved row of a spooled message. A file spooled before there were several
    accounts, or while the environment account's id could not be read, names no account: its
    message came to /wechat/, so it goes to the environment account (the column's default)."""
    fields = {}
    for field in Message._meta.concrete_fields:
        if field.primary_key or field.attname not in data:
            continue
        value = data[field.attname]
        if field.attname == "account_id" and value is None:
            continue
        if value is not None and field.get_internal_type() == "DateTimeField":
            value = datetime.fromisoformat(value)
        fields[field.attname] = value
    return Message(**fields)


def _read_json(path: Path) -> dict | None:
    """Return a spool file's content, or None if it is absent; OSError if it is unreadable."""
    try:
        with open(path, encoding="utf-8") as file:
            return json.load(file)
    except FileNotFoundError:
        return None
    except ValueError as error:  # not JSON: a disk fault, since every file is written whole
        raise OSError(f"spool file {path.name} is not JSON") from error


# --- writing: each name is created once, whole, and durably -----------------------------------


def _create_exclusive(path: Path, data: bytes) -> bool:
    """Create `path` holding `data`, durably; return False (writing nothing) if it exists.

    Written and fsynced under a temporary name, then hard-linked to `path`: link() fails when
    the name exists, and a reader never sees a half-written file. Raises OSError when the disk
    refuses (full, read-only).
    """
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        with open(temporary, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            return False
        _fsync_directory(path.parent)
        return True
    finally:
        temporary.unlink(missing_ok=True)


def _fsync_directory(directory: Path) -> None:
    # A new name is only durable once the directory entry is on disk.
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _marker_data(row: Message) -> dict:
    return {"dedup_key": row.dedup_key, "xml_sha1": _digest(message_xml(row))}


def _claim_request_key(row: Message) -> None:
    """Claim `row`'s signed query for it; raise ReplayedRequest if another body holds it."""
    if not row.request_key:
        return
    data = _marker_data(row)
    encoded = json.dumps(data).encode()
    for _attempt in range(2):  # the second only if a stale marker vanished meanwhile
        if _create_exclusive(_marker_for(row.request_key), encoded):
            return
        held = _read_json(_marker_for(row.request_key))
        if held is None:
            continue
        if held != data:
            raise ReplayedRequest()
        return  # WeChat's retry: the same query with the same body


class _Presence:
    """Whether the spool may hold messages or markers, looked at once a second at most.

    Another worker's file is seen within PRESENCE_CHECK_INTERVAL; meanwhile a retry it could
    have answered goes to the database (or, the database still down, to this spool, which finds
    the file then), so nothing is lost either way.
    """

    def __init__(self):
        self.empty_seen: tuple[str, float] | None = None  # (directory, monotonic time)

    def may_hold(self) -> bool:
        directory, now = str(spool_dir()), time.monotonic()
        seen = self.empty_seen
        if seen and seen[0] == directory and now - seen[1] < PRESENCE_CHECK_INTERVAL:
            return False
        if _holds_anything(Path(directory)):
            self.empty_seen = None
            return True
        self.empty_seen = (directory, now)
        return False

    def forget(self) -> None:
        self.empty_seen = None


def _holds_anything(directory: Path) -> bool:
    try:
        with os.scandir(directory) as entries:
            return any(entry.name.endswith((SUFFIX, MARKER_SUFFIX)) for entry in entries)
    except FileNotFoundError:
        return False


_presence = _Presence()


def spooled_reply(row: Message) -> str | None:
    """Return the reply spooled with `row`'s message ("" for none), or None if not spooled.

    Raises ReplayedRequest when the spool holds `row`'s signed query or its dedup key with
    another message: the database would refuse it the same way.
    """
    if not _presence.may_hold():
        return None
    try:
        if row.request_key:
            held = _read_json(_marker_for(row.request_key))
            if held is not None and held != _marker_data(row):
                raise ReplayedRequest()
        data = _read_json(_path_for(row.dedup_key))
    except OSError:
        logger.exception("spool file for %s unreadable", row.dedup_key)
        return None
    if data is None:
        return None
    if _spooled_xml(data) != message_xml(row):
        raise ReplayedRequest()
    return data.get("reply_xml", "")


def spool_message(row: Message, *, followups: list[dict] | tuple = ()) -> str:
    """Write `row` (and its "reply all" `followups`) to the spool; return the reply XML.

    The first arrival of a message and of a signed query wins: a retry (same query, same
    body) gets the reply spooled with the first; another body under a spooled query or dedup
    key raises ReplayedRequest. Raises OSError when the disk refuses the write (full,
    read-only).
    """
    spool_dir().mkdir(parents=True, exist_ok=True)
    _presence.forget()
    _claim_request_key(row)
    path = _path_for(row.dedup_key)
    data = _row_to_json(row)
    if followups:
        data[FOLLOWUPS] = list(followups)
    if not _create_exclusive(path, json.dumps(data, ensure_ascii=False).encode()):
        existing = _read_json(path)
        if existing is None:
            raise OSError(f"spool file {path.name} vanished while being read")
        if _spooled_xml(existing) != message_xml(row):
            raise ReplayedRequest()
        return existing.get("reply_xml", "")
    logger.warning("database unavailable: message %s spooled to %s", row.dedup_key, path)
    _state.has_files = True
    return row.reply_xml


# --- replay ------------------------------------------------------------------------------------


def spooled_files() -> list[Path]:
    directory = spool_dir()
    if not directory.is_dir():
        return []
    return sorted(
        path
        for path in directory.iterdir()
        if path.suffix == SUFFIX and not path.name.startswith(".")
    )


class _DatabaseDown(Exception):
    """Replay stops: the database is still unreachable."""


def replay_spool(*, limit: int | None = None) -> ReplayResult:
    """Move spooled messages into the database, oldest file name first; stop at the first
    sign of an outage and leave the rest for the next run."""
    counts = {"stored": 0, "already": 0, "failed": 0, "conflicts": 0}
    files = spooled_files()
    for path in files[:limit]:
        try:
            counts[_replay_file(path)] += 1
        except _DatabaseDown:
            logger.warning(
                "database still unavailable; %d spooled messages wait",
                len(files) - counts["stored"] - counts["already"] - counts["conflicts"],
            )
            break
    _forget_stale_markers()
    remaining = len(spooled_files())
    if counts["stored"] or counts["already"] or counts["conflicts"]:
        logger.info(
            "spool replayed: %d stored, %d already stored, %d conflicts, %d remaining",
            counts["stored"],
            counts["already"],
            counts["conflicts"],
            remaining,
        )
    _state.has_files = remaining > 0
    return ReplayResult(
        stored=counts["stored"],
        already_stored=counts["already"],
        failed=counts["failed"],
        remaining=remaining,
        conflicts=counts["conflicts"],
    )


def _replay_file(path: Path) -> str:
    """Store one spooled file; return which count it adds to. Raises _DatabaseDown."""
    try:
        data = _read_json(path)
    except OSError:
        logger.exception("spool file %s unreadable; left in place", path.name)
        return "failed"
    if data is None:
        return "already"  # another worker replayed it meanwhile
    row = _row_from_json(data)
    try:
        try:
            store_message(row, data.get(FOLLOWUPS) or [])
        except IntegrityError:
            return _settle_collision(path, row)
    except OSError:
        logger.exception("spool file %s could not be moved to conflicts/; left in place", path.name)
        return "failed"
    except DatabaseError as error:
        if is_outage(error):
            raise _DatabaseDown() from error
        logger.critical(
            "spool file %s refused by the database (%s), not an outage: left in place; "
            "run manage.py migrate",
            path.name,
            type(error).__name__,
            exc_info=True,
        )
        return "failed"
    path.unlink(missing_ok=True)
    return "stored"


def _settle_collision(path: Path, row: Message) -> str:
    """Delete `path` if the database holds exactly its message; else keep it as a conflict."""
    same_key = Q(dedup_key=row.dedup_key)
    if row.request_key:
        same_key |= Q(request_key=row.request_key)
    stored = list(
        Message.objects.filter(same_key).only("pk", "dedup_key", "raw_xml", "decrypted_xml")
    )
    differing = [twin for twin in stored if message_xml(twin) != message_xml(row)]
    if stored and not differing:
        path.unlink(missing_ok=True)  # WeChat's retry reached the database first
        return "already"
    if not stored:
        # Not a unique key after all (a NOT NULL or CHECK the code does not know).
        raise IntegrityError("the INSERT collided with no row holding its keys")
    _keep_conflict(path, row, differing[0])
    return "conflicts"


def _keep_conflict(path: Path, row: Message, stored: Message) -> None:
    """Record a SpoolConflict for `path`, then move the file to conflicts/ (both idempotent)."""
    content = path.read_bytes()
    name = f"{row.dedup_key}-{hashlib.sha1(content).hexdigest()[:12]}{SUFFIX}"
    if stored.dedup_key == row.dedup_key:
        kind = SpoolConflict.Kind.DEDUP_KEY
    else:
        kind = SpoolConflict.Kind.REQUEST_KEY
    SpoolConflict.objects.get_or_create(
        file_name=name,
        defaults={
            "account_id": row.account_id,
            "kind": kind,
            "dedup_key": row.dedup_key,
            "request_key": row.request_key or "",
            "spooled_xml": message_xml(row),
            "spooled_received_at": row.received_at,
            "stored_message_id": stored.pk,
        },
    )
    target = conflicts_dir()
    target.mkdir(exist_ok=True)
    os.replace(path, target / name)
    _fsync_directory(target)
    _fsync_directory(path.parent)
    logger.critical(
        "spooled message %s differs from stored message %s with the same key: kept as "
        "conflicts/%s for a person to judge (one of them may be forged)",
        row.dedup_key,
        stored.pk,
        name,
    )


def _forget_stale_markers() -> None:
    """Delete request-key markers older than any signed query the endpoint still accepts."""
    directory = spool_dir()
    if not directory.is_dir():
        return
    stale_before = time.time() - 2 * settings.WECHAT_TIMESTAMP_WINDOW - 60
    for marker in directory.glob(f"*{MARKER_SUFFIX}"):
        try:
            if marker.stat().st_mtime < stale_before:
                marker.unlink()
        except FileNotFoundError:
            continue  # another worker removed it


# --- draining after an outage, in the background ------------------------------------------------


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
    except Exception:  # noqa: BLE001 - a background thread must log, never die silently
        logger.exception("spool drain failed")
    finally:
        connection.close()
        _state.lock.release()
