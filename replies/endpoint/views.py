"""HTTP views: the WeChat endpoint and the health check. Orchestration only.

The account the URL names and its credentials come from replies.endpoint.account_lookup, the
protocol steps from replies.protocol (verify, decrypt, parse, seal), the database steps from
replies.endpoint.handling; a view reads the request, calls them in order and turns our typed
errors into a short 4xx with a log line (and, for what looks like an attack, a security event).
"""

import logging
import secrets
import time

from django.db import connection
from django.http import HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_safe

from replies.endpoint.account_lookup import EndpointAccount, environment_account, stored_account
from replies.endpoint.config import get_limits
from replies.endpoint.deadline import deadline_after
from replies.endpoint.errors import PlaintextRefused
from replies.endpoint.handling import handle_message
from replies.endpoint.query import read_query
from replies.endpoint.security_log import record_security_event
from replies.protocol import (
    NO_REPLY,
    BodyTooLarge,
    WeChatError,
    open_request,
    seal_reply,
    verify_url,
)

logger = logging.getLogger("replies.endpoint")

TEXT = "text/plain; charset=utf-8"


@csrf_exempt
@require_http_methods(["GET", "POST"])
def wechat(request, slug: str | None = None):
    """Answer WeChat for the environment account (/wechat/) or the stored account `slug`
    (/wechat/<slug>/): URL verification on GET, a message or event on POST."""
    started = time.perf_counter()
    body = b""
    account = None
    try:
        deadline_at = deadline_after(started)
        if slug is None:
            account = environment_account(deadline_at=deadline_at)
        else:
            account = stored_account(slug, deadline_at=deadline_at)
        limits = get_limits()
        query = read_query(request)
        if request.method == "GET":
            return _verify_url(query=query, credentials=account.credentials, limits=limits)
        body = read_body(request, limit=limits.max_body_bytes)
        return _answer_message(
            query=query, body=body, account=account, limits=limits, started=started
        )
    except WeChatError as error:
        return _refuse(request, error=error, body=body, account=account)


def _verify_url(*, query: dict[str, str], credentials, limits) -> HttpResponse:
    echostr = verify_url(
        query=query,
        credentials=credentials,
        now=time.time(),
        window=limits.timestamp_window,
    )
    logger.info("wechat verify ok")
    return HttpResponse(echostr, content_type=TEXT)


def _answer_message(
    *, query: dict[str, str], body: bytes, account: EndpointAccount, limits, started: float
) -> HttpResponse:
    """Open, store and answer one message; our typed errors propagate to the view."""
    credentials = account.credentials
    opened = open_request(
        query=query,
        body=body,
        credentials=credentials,
        now=time.time(),
        window=limits.timestamp_window,
    )
    if limits.require_encryption and opened.mode == "plain":
        raise PlaintextRefused()
    handled = handle_message(opened=opened, account=account, started=started)
    answer = seal_reply(
        reply_xml=handled.reply_xml,
        opened=opened,
        credentials=credentials,
        timestamp=str(int(time.time())),
        nonce=str(secrets.randbelow(10**10)),
    )
    logger.info(
        "wechat account=%s mode=%s type=%s event=%s rule=%s reply=%s duplicate=%d spooled=%d "
        "ms=%.1f",
        account.slug,
        opened.mode,
        handled.msg_type,
        handled.event or "-",
        handled.rule_id or "-",
        "none" if handled.reply_xml == NO_REPLY else "xml",
        handled.duplicate,
        handled.spooled,
        (time.perf_counter() - started) * 1000,
    )
    if answer == NO_REPLY:
        return HttpResponse(answer, content_type=TEXT)
    return HttpResponse(answer, content_type="application/xml; charset=utf-8")


def _refuse(
    request, *, error: WeChatError, body: bytes, account: EndpointAccount | None
) -> HttpResponse:
    logger.warning(
        "wechat refused account=%s status=%s code=%s reason=%r ip=%s",
        account.slug if account else "-",
        error.status,
        error.code,
        error.message,
        request.META.get("REMOTE_ADDR", ""),
    )
    record_security_event(
        request=request, error=error, body=body, account_id=account.account_id if account else None
    )
    return HttpResponse(error.message, status=error.status, content_type=TEXT)


def read_body(request, *, limit: int) -> bytes:
    """Return the request body, refusing more than `limit` bytes before reading them all."""
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        raise BodyTooLarge(f"Request body over the {limit}-byte limit.")
    body = request.read(limit + 1)
    if len(body) > limit:
        raise BodyTooLarge(f"Request body over the {limit}-byte limit.")
    return body


@require_safe  # GET, and HEAD for load balancers that check with it
def healthz(request):
    """Report whether the database answers, for load balancers and uptime checks."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception:  # noqa: BLE001 - any database failure means "not healthy"
        logger.exception("healthz: database unavailable")
        return JsonResponse({"status": "error", "database": "unavailable"}, status=503)
    return JsonResponse({"status": "ok", "database": "ok"})
