"""The endpoint's own errors, and which database errors count as an outage.

The protocol's errors (bad signature, hostile XML …) live in replies.protocol.exceptions; these
are the ones the endpoint adds on top: a policy refusal, a replayed signed query, storage that
cannot keep a message, a database that answers but is not set up, a URL naming no account or an
account whose secrets cannot be read. Each is a `WeChatError`, so the view turns any of them
into a short answer with its status and a log line.

`is_outage()` is the one place that decides what the spool is for. A database that cannot be
reached, times out or is locked (OperationalError, InterfaceError) is an outage: the message is
kept on disk and replayed later. A database that answers "no such table" is not down but not
migrated: spooling would hide that from everyone while every message piles up on disk, so it
fails loudly instead (`DatabaseMisconfigured`, 503, and a CRITICAL log line).
"""

from django.db import DatabaseError, InterfaceError, OperationalError

from replies.protocol import WeChatError

__all__ = [
    "AccountUnavailable",
    "DatabaseMisconfigured",
    "PlaintextRefused",
    "ReplayedRequest",
    "StorageUnavailable",
    "UnknownAccount",
    "is_outage",
]


class PlaintextRefused(WeChatError):
    """A plaintext message while WECHAT_REQUIRE_ENCRYPTION is on."""

    code = "plaintext_refused"
    status = 403
    default_message = "This endpoint only accepts encrypted (safe mode) messages."


class ReplayedRequest(WeChatError):
    """A signed query seen before, now with another body: plaintext mode signs no body."""

    code = "replayed_request"
    errcode = -40001
    status = 403
    default_message = "This signed request was already used with a different body."


class StorageUnavailable(WeChatError):
    """Neither the database nor the spool could keep the message: let WeChat retry it."""

    code = "storage_unavailable"
    status = 503
    default_message = "The message could not be stored; please retry."


class DatabaseMisconfigured(WeChatError):
    """The database answers but its schema is not what the code needs (migrations missing)."""

    code = "database_misconfigured"
    status = 503
    default_message = "The database schema is not ready; run manage.py migrate."


class UnknownAccount(WeChatError):
    """/wechat/<slug>/ names no account we serve."""

    code = "unknown_account"
    status = 404
    default_message = "No official account answers at this URL."


class AccountUnavailable(WeChatError):
    """The URL's account exists but its secrets cannot be read now (no key decrypts them, or
    the database could not be asked for them): WeChat retries."""

    code = "account_unavailable"
    status = 503
    default_message = "This account cannot answer right now; please retry."


# SQLite reports a missing table or column as an OperationalError, the class it also uses for
# "database is locked"; these messages are the schema's, not an outage's.
_SQLITE_SCHEMA_MESSAGES = ("no such table", "no such column", "has no column named")


def is_outage(error: DatabaseError) -> bool:
    """Return True when `error` means the database cannot be reached or used right now.

    True for OperationalError and InterfaceError (connection refused or reset, a timeout, our
    deadline, a lock), except SQLite's "no such table/column"; and for a bare DatabaseError a
    driver did not classify (keeping the message is the safe side). False for the schema and
    data errors (ProgrammingError, DataError, IntegrityError, InternalError,
    NotSupportedError): the database is up and waiting longer will not help.
    """
    if isinstance(error, OperationalError | InterfaceError):
        text = str(error).lower()
        return not any(marker in text for marker in _SQLITE_SCHEMA_MESSAGES)
    return type(error) is DatabaseError
