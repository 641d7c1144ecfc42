"""A client for WeChat's server API (api.weixin.qq.com), one instance per Official Account.

``WeChatClient`` gets the access token from ``/cgi-bin/stable_token`` — never ``/cgi-bin/token``,
which would end the token every other service of the account is using — and keeps it in a cache
shared by every worker and host (any object with ``get``/``set``/``add``/``delete``: Django's
cache, Redis through it, or ``MemoryCache`` here). ``add`` on a lock key makes one caller fetch
while the others wait briefly for its result, so N workers on M hosts ask WeChat once; the token
is renewed a few minutes before WeChat's ``expires_in``.

Every call has a timeout. An answer of errcode 40001/40014/42001 (token invalid or expired)
gets one fresh token (``force_refresh``, itself shared through the lock) and one more try; -1
(system busy) is tried again after a short, bounded exponential back-off. A timeout or a broken
connection is not retried: ``message/custom/send`` is not idempotent, and an operator in the
admin should hear "unavailable" in seconds, not wait. Every failure is one typed error from
``wechat_api.errors``.

Nothing secret is logged: the AppSecret is only ever in a request body, the access token only in
a query string, and every URL this package (or httpx, through the filter installed below) logs
has ``access_token=`` redacted.

This module imports no Django: credentials, base URL, timeout and cache are arguments, so a
process may hold one client per account. ``wechat_api.from_django.client_from_settings`` builds
one from the project's settings.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import httpx

from wechat_api.errors import (
    ACCESS_TOKEN_ERRCODES,
    SYSTEM_BUSY,
    WeChatAPIBadAnswer,
    WeChatAPINotConfigured,
    WeChatAPIUnavailable,
    error_for,
)

__all__ = [
    "DEFAULT_BASE_URL",
    "MemoryCache",
    "TokenCache",
    "WeChatClient",
    "redact",
]

logger = logging.getLogger("wechat_api")

DEFAULT_BASE_URL = "https://api.weixin.qq.com"
STABLE_TOKEN_PATH = "/cgi-bin/stable_token"  # noqa: S105 - a path, not a secret

_SECRET_IN_QUERY = re.compile(r"((?:access_token|secret)=)[^&\s\"'#]*", re.IGNORECASE)
_SECRET_IN_JSON = re.compile(r'("(?:access_token|secret)"\s*:\s*")[^"]*(")', re.IGNORECASE)


def redact(text: str) -> str:
    """Return ``text`` with access tokens and secrets in query strings and JSON replaced by ***."""
    return _SECRET_IN_JSON.sub(r"\1***\2", _SECRET_IN_QUERY.sub(r"\1***", text))


class _RedactSecrets(logging.Filter):
    """Redact the access token from httpx's "HTTP Request: POST https://…?access_token=…" lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


# httpx logs every request URL at INFO; the token is in the URL. The filter sits on the logger
# httpx logs to, so it applies whatever handlers the project configures.
logging.getLogger("httpx").addFilter(_RedactSecrets())


class TokenCache(Protocol):
    """What the client needs of a cache; Django's cache API is exactly this.

    ``add`` must be atomic across every process sharing the cache (it is in Redis and in
    Django's database and memcached caches); it stores only when the key is absent and returns
    whether it did. Timeouts are seconds.
    """

    def get(self, key: str, default: Any = None) -> Any: ...

    def set(self, key: str, value: Any, timeout: int | None = None) -> Any: ...

    def add(self, key: str, value: Any, timeout: int | None = None) -> bool: ...

    def delete(self, key: str) -> Any: ...


class MemoryCache:
    """A TokenCache for one process (scripts, tests); threads share it, processes do not."""

    def __init__(self) -> None:
        self._items: dict[str, tuple[Any, float | None]] = {}
        self._lock = threading.Lock()

    def _live(self, key: str) -> bool:
        item = self._items.get(key)
        if item is None:
            return False
        if item[1] is not None and item[1] <= time.monotonic():
            del self._items[key]
            return False
        return True

    def get(self, key: str, default: Any = None) -> Any:
        with self._lock:
            return self._items[key][0] if self._live(key) else default

    def set(self, key: str, value: Any, timeout: int | None = None) -> None:
        with self._lock:
            self._items[key] = (value, None if timeout is None else time.monotonic() + timeout)

    def add(self, key: str, value: Any, timeout: int | None = None) -> bool:
        with self._lock:
            if self._live(key):
                return False
            self._items[key] = (value, None if timeout is None else time.monotonic() + timeout)
            return True

    def delete(self, key: str) -> None:
        with self._lock:
            self._items.pop(key, None)


class WeChatClient:
    """Call WeChat's server API for one Official Account.

    Arguments (keyword only):

    - ``app_id``, ``app_secret``: the account's AppID and AppSecret.
    - ``cache``: a ``TokenCache`` shared by every process that calls for this account.
    - ``base_url``: ``https://api.weixin.qq.com``, or the fake API's address in tests.
    - ``timeout``: seconds for each HTTP request (connect, read, write, pool).
    - ``access_token``: use this token as it is and never fetch one (no refresh either): for a
      one-off command given the token another service holds.
    - ``busy_retries``, ``busy_backoff``: on errcode -1, try again this many times after
      ``busy_backoff``, then twice that, … seconds.
    - ``refresh_margin``: renew the token this many seconds before WeChat says it expires.
    - ``transport``: an httpx transport (tests may pass one; they use the fake API instead).

    Methods return WeChat's JSON answer as a dict and raise ``WeChatAPIError`` subclasses.
    A client is safe to use from several threads; ``close()`` it (or use ``with``) when done.
    """

    def __init__(
        self,
        *,
        app_id: str,
        app_secret: str = "",
        cache: TokenCache,
        base_url: str = DEFAULT_BASE_URL,
        timeout: float = 5.0,
        access_token: str | None = None,
        busy_retries: int = 2,
        busy_backoff: float = 0.5,
        refresh_margin: int = 300,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.app_id = app_id
        self._app_secret = app_secret
        self._fixed_token = access_token or None
        self.cache = cache
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.busy_retries = max(0, busy_retries)
        self.busy_backoff = busy_backoff
        self.refresh_margin = refresh_margin
        self._sleep = sleep
        self._http = httpx.Client(
            timeout=httpx.Timeout(timeout),
            transport=transport,
            headers={"User-Agent": "wxsite"},
            follow_redirects=False,
            trust_env=False,
        )
        # One cache entry per account and API host: the fake's tokens never reach WeChat.
        host = hashlib.sha256(self.base_url.encode()).hexdigest()[:8]
        self._token_key = f"wechat_api:token:{app_id}:{host}"
        self._lock_key = f"wechat_api:token-lock:{app_id}:{host}"
        # How long a token fetch may hold the lock: every try of one fetch, and its back-off.
        backoff = sum(busy_backoff * 2**n for n in range(self.busy_retries))
        self._lock_seconds = int(timeout * (self.busy_retries + 1) + backoff) + 1

    def __repr__(self) -> str:
        return f"WeChatClient(app_id={self.app_id!r}, base_url={self.base_url!r})"

    def __enter__(self) -> WeChatClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the HTTP connections."""
        self._http.close()

    # --- the calls ------------------------------------------------------------------------

    def create_menu(self, menu: Mapping[str, Any]) -> dict[str, Any]:
        """Publish ``menu`` ({"button": [...]}) as the account's custom menu (menu/create).

        The body is sent as UTF-8 JSON with the characters as they are: WeChat refuses
        ``\\uXXXX`` escapes (40033). Check it with ``wechat_api.menu.check_menu`` first.
        """
        return self.call("POST", "/cgi-bin/menu/create", body=menu, what="menu/create")

    def get_menu(self) -> dict[str, Any]:
        """Return the menu set through the API (menu/get); MenuNotFound (46003) when there is
        none, e.g. when it was set in the console: then see get_current_selfmenu_info."""
        return self.call("GET", "/cgi-bin/menu/get", what="menu/get")

    def delete_menu(self) -> dict[str, Any]:
        """Delete the custom menu, personalised menus included (menu/delete)."""
        return self.call("GET", "/cgi-bin/menu/delete", what="menu/delete")

    def get_current_selfmenu_info(self) -> dict[str, Any]:
        """Return the menu followers see, however it was set (get_current_selfmenu_info)."""
        return self.call(
            "GET", "/cgi-bin/get_current_selfmenu_info", what="get_current_selfmenu_info"
        )

    def get_current_autoreply_info(self) -> dict[str, Any]:
        """Return the console's auto-reply rules (get_current_autoreply_info)."""
        return self.call(
            "GET", "/cgi-bin/get_current_autoreply_info", what="get_current_autoreply_info"
        )

    def send_custom_message(self, message: Mapping[str, Any]) -> dict[str, Any]:
        """Send a customer-service message (message/custom/send), e.g.
        ``{"touser": openid, "msgtype": "text", "text": {"content": "…"}}``.

        Only within 48 hours of the follower's last message (45015 after that; 45047 when the
        messages allowed in that window are used up). Not retried on a timeout: the message may
        have gone out, and a second try could send it twice.
        """
        return self.call(
            "POST", "/cgi-bin/message/custom/send", body=message, what="message/custom/send"
        )

    def call(
        self,
        method: str,
        path: str,
        *,
        body: Mapping[str, Any] | None = None,
        what: str = "",
    ) -> dict[str, Any]:
        """Call ``path`` with the access token and return WeChat's JSON answer (errcode 0).

        On an invalid or expired token, get a fresh one and try once more; on -1 back off and
        retry (``busy_retries``). Raise the typed error of any other errcode.
        """
        what = what or path
        token = self.access_token()
        answer = self._send_with_backoff(method, path, token=token, body=body, what=what)
        if answer.get("errcode") in ACCESS_TOKEN_ERRCODES and self._fixed_token is None:
            logger.info(
                "WeChat refused the access token for %s (errcode %s); getting a fresh one",
                what,
                answer.get("errcode"),
            )
            token = self.access_token(force_refresh=True, rejected=token)
            answer = self._send_with_backoff(method, path, token=token, body=body, what=what)
        return self._checked(answer, what=what)

    # --- the access token -----------------------------------------------------------------

    def access_token(self, *, force_refresh: bool = False, rejected: str | None = None) -> str:
        """Return a valid access token: from the shared cache, or fetched once for everyone.

        With ``force_refresh``, replace ``rejected`` (the token WeChat just refused): when
        another process already replaced it, use theirs instead of refreshing again — WeChat
        allows 20 forced refreshes a day.
        """
        if self._fixed_token is not None:
            return self._fixed_token
        if not self.app_id or not self._app_secret:
            raise WeChatAPINotConfigured("an AppID and an AppSecret are needed to call WeChat")
        if not force_refresh:
            cached = self._cached_token()
            if cached:
                return cached
        elif rejected is None:
            # Forced with no token named: replace the one in the cache, whatever it is.
            rejected = self._cached_token() or ""
        deadline = time.monotonic() + self._lock_seconds
        pause = 0.02
        owner = uuid.uuid4().hex
        while True:
            if self.cache.add(self._lock_key, owner, timeout=self._lock_seconds):
                try:
                    cached = self._cached_token(unless=rejected if force_refresh else None)
                    if cached:
                        return cached
                    return self._fetch_token(force_refresh=force_refresh)
                finally:
                    if self.cache.get(self._lock_key) == owner:
                        self.cache.delete(self._lock_key)
            # Another worker is fetching: its token will be in the cache in a moment.
            self._sleep(pause)
            pause = min(pause * 2, 0.25)
            cached = self._cached_token(unless=rejected if force_refresh else None)
            if cached:
                return cached
            if time.monotonic() > deadline:
                # The holder died or hangs; stable_token answers everyone the same token, so a
                # fetch of our own is safe, only not shared.
                logger.warning("waited %ss for the token lock; fetching alone", self._lock_seconds)
                return self._fetch_token(force_refresh=force_refresh)

    def _cached_token(self, *, unless: str | None = None) -> str | None:
        item = self.cache.get(self._token_key)
        if not isinstance(item, Mapping):
            return None
        token, expires_at = item.get("access_token"), item.get("expires_at", 0)
        if not token or token == unless or expires_at - self.refresh_margin <= time.time():
            return None
        return token

    def _fetch_token(self, *, force_refresh: bool) -> str:
        body = {
            "grant_type": "client_credential",
            "appid": self.app_id,
            "secret": self._app_secret,
            "force_refresh": force_refresh,
        }
        answer = self._checked(
            self._send_with_backoff("POST", STABLE_TOKEN_PATH, token=None, body=body, what="token"),
            what="stable_token",
        )
        token, expires_in = answer.get("access_token"), answer.get("expires_in")
        if not isinstance(token, str) or not token or not isinstance(expires_in, int):
            raise WeChatAPIBadAnswer("stable_token answered without access_token and expires_in")
        self.cache.set(
            self._token_key,
            {"access_token": token, "expires_at": time.time() + expires_in},
            timeout=max(1, expires_in - self.refresh_margin),
        )
        logger.info(
            "got a%s access token for %s, valid %ss",
            " forced" if force_refresh else "n",
            self.app_id,
            expires_in,
        )
        return token

    # --- HTTP -----------------------------------------------------------------------------

    def _send_with_backoff(
        self, method: str, path: str, *, token: str | None, body: Any, what: str
    ) -> dict[str, Any]:
        for attempt in range(self.busy_retries + 1):
            answer = self._send(method, path, token=token, body=body, what=what)
            if answer.get("errcode") != SYSTEM_BUSY or attempt == self.busy_retries:
                return answer
            delay = self.busy_backoff * 2**attempt
            logger.warning("WeChat is busy (errcode -1) for %s; trying again in %ss", what, delay)
            self._sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def _send(
        self, method: str, path: str, *, token: str | None, body: Any, what: str
    ) -> dict[str, Any]:
        content = None
        headers = {}
        if body is not None:
            # ensure_ascii=False: WeChat takes UTF-8 as is and refuses \uXXXX escapes (40033).
            content = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
            headers["Content-Type"] = "application/json; charset=utf-8"
        params = {"access_token": token} if token else None
        started = time.monotonic()
        try:
            response = self._http.request(
                method, self.base_url + path, params=params, content=content, headers=headers
            )
        except httpx.TimeoutException:
            logger.warning("no answer from %s for %s within %ss", self.base_url, what, self.timeout)
            raise WeChatAPIUnavailable(
                f"no answer from {self.base_url} for {what} within {self.timeout:g} s"
            ) from None
        except httpx.HTTPError as error:
            reason = redact(str(error)) or type(error).__name__
            logger.warning("cannot reach %s for %s: %s", self.base_url, what, reason)
            raise WeChatAPIUnavailable(
                f"cannot reach {self.base_url} for {what}: {reason}"
            ) from None
        elapsed = int((time.monotonic() - started) * 1000)
        kind = response.headers.get("content-type", "no content type")
        if response.status_code != 200:
            logger.warning(
                "%s answered HTTP %s (%s) for %s", self.base_url, response.status_code, kind, what
            )
            raise WeChatAPIBadAnswer(
                f"{self.base_url} answered HTTP {response.status_code} ({kind}) for {what}"
            )
        try:
            answer = json.loads(response.content)
        except (UnicodeDecodeError, ValueError):
            # Never the body itself in the message: a broken token answer would hold the token.
            logger.warning(
                "the answer for %s is not JSON (%s, %s bytes)", what, kind, len(response.content)
            )
            raise WeChatAPIBadAnswer(
                f"the answer for {what} is not JSON ({kind}, {len(response.content)} bytes)"
            ) from None
        if not isinstance(answer, dict) or not isinstance(answer.get("errcode", 0), int):
            logger.warning("the answer for %s is not WeChat's JSON object", what)
            raise WeChatAPIBadAnswer(f"the answer for {what} is not WeChat's JSON object")
        logger.debug("%s %s: errcode %s in %s ms", method, path, answer.get("errcode", 0), elapsed)
        return answer

    def _checked(self, answer: dict[str, Any], *, what: str) -> dict[str, Any]:
        errcode = answer.get("errcode", 0)
        if errcode == 0:
            return answer
        error = error_for(errcode, str(answer.get("errmsg", "")))
        logger.warning("WeChat refused %s: errcode %s, errmsg %r", what, errcode, error.errmsg)
        raise error
