"""A time limit on the admin's database queries (PostgreSQL), which the endpoint never pays for.

A page of the admin that asks too much of the database (a search over millions of rows, a long
period) must not hold a connection and a worker for minutes. For requests under the admin's URL
(settings.ADMIN_URL) on PostgreSQL, `AdminStatementTimeoutMiddleware` sets `statement_timeout`
(settings.DJANGO_ADMIN_STATEMENT_TIMEOUT_MS, 15 s by default) on the connection just before the
request's first query, through an execute wrapper, and resets it when the request is done — so a
persistent connection that serves /wechat/ next has no limit of the admin's. A query the server
cancels becomes a 503 page telling the staff user to narrow what they asked, not a 500.

The limit lasts while the view runs and its response renders. A streaming response is read after
that: a streaming admin view runs its query before returning (the CSV export reads its first
row in the view; on PostgreSQL that runs the whole query, the rest is fetched from the result).
"""

import logging

from django.conf import settings
from django.contrib import admin
from django.db import DatabaseError, OperationalError, connection
from django.template.response import TemplateResponse
from django.utils.translation import gettext

logger = logging.getLogger(__name__)

QUERY_CANCELED = "57014"  # PostgreSQL's SQLSTATE for a statement cancelled (by the timeout)


def _set_timeout(raw, milliseconds: int) -> None:
    # SET takes no bind parameters; the value is an int from the settings.
    with raw.cursor() as cursor:
        cursor.execute(f"SET statement_timeout = {int(milliseconds)}")


def _reset_timeout(raw) -> None:
    with raw.cursor() as cursor:
        cursor.execute("RESET statement_timeout")


class _StatementTimeout:
    """An execute wrapper: set the timeout once on each DB-API connection the request uses.

    It runs the SET on the raw connection, so Django's query log and the query counts of tests
    see only the page's own queries.
    """

    def __init__(self, milliseconds: int):
        self.milliseconds = milliseconds
        self.raw = None  # the DB-API connection the timeout was set on

    def __call__(self, execute, sql, params, many, context):
        db = context["connection"]
        raw = db.connection
        if raw is not None and raw is not self.raw and not db.needs_rollback:
            with db.wrap_database_errors:
                _set_timeout(raw, self.milliseconds)
            self.raw = raw
        return execute(sql, params, many, context)

    def reset(self, db) -> None:
        """Take the timeout off the connection again; close the connection when that fails, so
        that no persistent connection keeps the admin's limit."""
        if self.raw is None or db.connection is not self.raw:
            return
        self.raw = None
        if db.needs_rollback:
            return  # inside a broken atomic block (tests): its rollback undoes the SET
        try:
            with db.wrap_database_errors:
                _reset_timeout(db.connection)
        except DatabaseError:
            if not db.in_atomic_block:
                db.close()


def is_query_cancelled(error: BaseException) -> bool:
    """Return whether `error` is PostgreSQL cancelling a statement (statement_timeout)."""
    if not isinstance(error, OperationalError):
        return False
    cause = error.__cause__
    code = getattr(cause, "sqlstate", None) or getattr(cause, "pgcode", None)
    return code == QUERY_CANCELED


class AdminStatementTimeoutMiddleware:
    """Bound the time of every database statement of an admin request, on PostgreSQL."""

    def __init__(self, get_response):
        self.get_response = get_response

    def _timeout_for(self, request) -> int:
        if connection.vendor != "postgresql":
            return 0
        if not request.path_info.startswith("/" + settings.ADMIN_URL):
            return 0
        return max(0, int(getattr(settings, "DJANGO_ADMIN_STATEMENT_TIMEOUT_MS", 0) or 0))

    def __call__(self, request):
        milliseconds = self._timeout_for(request)
        if not milliseconds:
            return self.get_response(request)
        timeout = _StatementTimeout(milliseconds)
        request._admin_statement_timeout_ms = milliseconds
        try:
            with connection.execute_wrapper(timeout):
                return self.get_response(request)
        finally:
            timeout.reset(connection)

    def process_exception(self, request, exception):
        milliseconds = getattr(request, "_admin_statement_timeout_ms", 0)
        if not milliseconds or not is_query_cancelled(exception):
            return None
        logger.warning(
            "admin query cancelled after %d ms: %s %s", milliseconds, request.method, request.path
        )
        context = {
            **admin.site.each_context(request),
            "title": gettext("This page took too long"),
            "seconds": milliseconds / 1000,
        }
        return TemplateResponse(request, "admin/replies/timeout.html", context, status=503)
