"""A fake of WeChat's server API: a real HTTP server on this machine that answers like WeChat.

No machine here reaches api.weixin.qq.com, and tests must not mock the client: they start
``FakeWeChatAPI`` (port 0 picks a free port) and point a real ``WeChatClient`` at its ``url``.
``manage.py fake_wechat_api`` runs the same server for trying the admin locally.

What it implements, checked the way WeChat checks:

- ``POST /cgi-bin/stable_token``: the AppID and AppSecret it was started with, or of an app added
  with ``add_app`` (40013, 40125); the same token until it expires, a new one with
  ``force_refresh`` (at most 20 a day: 45009).
- every other call needs a token it issued (41001 missing, 40001 unknown, 42001 expired), and acts
  on the app that token belongs to: each app (official account) has its own tokens, menu,
  followers and sent messages, so a test can prove that a call made as one account never touches
  another.
- ``menu/create`` (validated by ``wechat_api.menu.check_menu``, the admin's own rules: the first
  problem's errcode; 40033 for ``\\uXXXX`` escapes, 47001 for a body that is not JSON),
  ``menu/get`` (46003 without a menu), ``menu/delete``, ``get_current_selfmenu_info`` (the API's
  menu, or one "set in the console" through ``console_menu``).
- ``message/custom/send``: only to a follower whose last message a test set (40003 for an
  unknown OpenID), within 48 hours of it (45015) and at most 5 messages per message (45047).
- ``get_current_autoreply_info``: the JSON in ``autoreply_info``.

It records every call in ``calls`` (method, path, query and body, secrets redacted, the AppID
of the app it acted as, and the errcode answered) and can be told to misbehave for the next
call(s) with ``add_fault``: answer an errcode, answer late (a timeout), send malformed JSON, send
an HTML page, or hang up.

Tests in another process (or a shell) reach the same controls over HTTP under ``/_fake/``:
``GET /_fake/calls``, ``GET /_fake/state``, ``POST /_fake/reset``, ``POST /_fake/fault``
({"kind", "errcode", "errmsg", "delay", "times", "path"}), ``POST /_fake/last_message``
({"openid", "time"}), ``POST /_fake/autoreply`` and ``POST /_fake/console_menu`` (the JSON to
answer), ``POST /_fake/tokens/expire``, ``POST /_fake/tokens/invalidate`` and ``POST
/_fake/app`` ({"app_id", "app_secret"}: serve another account). The state and per-app controls
take ``?app_id=`` to name another app than the first.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from wechat_api.client import STABLE_TOKEN_PATH, redact
from wechat_api.menu import check_menu

__all__ = ["FAULT_KINDS", "FakeApp", "Fault", "FakeWeChatAPI"]

logger = logging.getLogger("wechat_api.fake")

WINDOW_SECONDS = 48 * 3600
WINDOW_MESSAGES = 5  # customer-service messages per follower message (WeChat's rule since 2023)
FORCE_REFRESH_PER_DAY = 20
FAULT_KINDS = ("errcode", "delay", "malformed", "html", "disconnect")
CUSTOM_MESSAGE_TYPES = frozenset(
    {"text", "image", "voice", "video", "music", "news", "mpnews", "mpnewsarticle", "msgmenu",
     "wxcard", "miniprogrampage"}
)  # fmt: skip

# WeChat's errmsg for the errcodes the fake answers with.
ERRMSGS = {
    0: "ok",
    -1: "system error",
    40001: "invalid credential, access_token is invalid or not latest",
    40002: "invalid grant_type",
    40003: "invalid openid",
    40007: "invalid media_id",
    40008: "invalid message type",
    40013: "invalid appid",
    40016: "invalid button size",
    40017: "invalid button type",
    40018: "invalid button name size",
    40019: "invalid button key size",
    40020: "invalid button url size",
    40022: "invalid sub button level",
    40023: "invalid sub button size",
    40024: "invalid sub button type",
    40025: "invalid sub button name size",
    40026: "invalid sub button key size",
    40027: "invalid sub button url size",
    40033: "invalid charset. please check your request, if include \\uxxxx will create fail!",
    40054: "invalid sub button url domain",
    40055: "invalid button url domain",
    40125: "invalid appsecret",
    40164: "invalid ip, not in whitelist",
    40165: "invalid weapp pagepath",
    40166: "invalid weapp appid",
    41001: "access_token missing",
    41002: "appid missing",
    41004: "appsecret missing",
    42001: "access_token expired",
    43002: "require POST method",
    45009: "reach max api daily quota limit",
    45015: "response out of time limit or subscription is canceled",
    45047: "out of response count limit",
    46003: "menu no exist",
    47001: "data format error",
    48001: "api unauthorized",
    65308: "exist empty button act",
}
_SECRET_FIELDS = frozenset({"access_token", "secret"})
_ESCAPED_NON_ASCII = re.compile(rb"\\u(?!00[0-7][0-9a-fA-F])[0-9a-fA-F]{4}")


@dataclass
class Fault:
    """A misbehaviour for the next ``times`` calls (to ``path`` only, when given).

    ``kind``: "errcode" (answer ``errcode``/``errmsg``), "delay" (wait ``delay`` seconds, then
    answer normally: the call takes effect even when the client gave up), "malformed" (JSON cut
    short), "html" (an HTTP 502 HTML page, as a proxy sends), "disconnect" (close the
    connection without an answer).
    """

    kind: str
    errcode: int = -1
    errmsg: str = ""
    delay: float = 0.0
    times: int = 1
    path: str | None = None


@dataclass
class _Answer:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json; charset=utf-8"
    delay: float = 0.0
    disconnect: bool = False


class FakeApp:
    """One official account the fake serves: its AppSecret and everything WeChat keeps for it.

    ``menu`` (the body last created, or None), ``console_menu`` (a get_current_selfmenu_info
    answer, as if the menu were set in the console), ``autoreply_info``, ``last_message_at``
    (OpenID -> when the follower last wrote), ``sent`` (messages sent to followers).
    """

    def __init__(self, app_id: str, app_secret: str) -> None:
        self.app_id = app_id
        self.app_secret = app_secret
        self.reset()

    def reset(self) -> None:
        self.menu: dict[str, Any] | None = None
        self.menu_id = 0
        self.console_menu: dict[str, Any] | None = None
        self.autoreply_info: dict[str, Any] = {
            "is_add_friend_reply_open": 0,
            "is_autoreply_open": 0,
        }
        self.last_message_at: dict[str, float] = {}
        self.sent: list[dict[str, Any]] = []
        self.sent_since: dict[str, int] = {}
        self.current_token: str | None = None
        self.forced_today = 0

    def state(self) -> dict[str, Any]:
        return {
            "app_id": self.app_id,
            "menu": self.menu,
            "console_menu": self.console_menu,
            "autoreply_info": self.autoreply_info,
            "last_message_at": dict(self.last_message_at),
            "sent": list(self.sent),
        }


def _app_attribute(name: str, doc: str) -> property:
    """A FakeWeChatAPI attribute that is the first app's (the tests of one account use them)."""

    def get(fake: FakeWeChatAPI) -> Any:
        return getattr(fake.primary, name)

    def set_(fake: FakeWeChatAPI, value: Any) -> None:
        setattr(fake.primary, name, value)

    return property(get, set_, doc=doc)


def _json(data: Any) -> _Answer:
    return _Answer(body=json.dumps(data, ensure_ascii=False).encode())


def _error(errcode: int, errmsg: str | None = None) -> _Answer:
    """Answer ``errcode`` with ``errmsg`` as given, or WeChat's with a request id as it adds."""
    if errmsg is None:
        errmsg = f"{ERRMSGS.get(errcode, 'error')} rid: fake-{secrets.token_hex(4)}"
    return _json({"errcode": errcode, "errmsg": errmsg})


class FakeWeChatAPI:
    """The fake server. Use as ``with FakeWeChatAPI(app_id=…, app_secret=…) as fake:``, then
    ``fake.url``; or ``start()`` and ``stop()``; or ``serve_forever()`` in the foreground.

    State a test may read or set directly (the attributes are guarded by ``lock``): ``calls``,
    ``token_delay`` (seconds every stable_token call takes, to make races likely), and the
    first app's ``menu``, ``console_menu``, ``autoreply_info``, ``last_message_at`` and
    ``sent`` (see FakeApp); another account's are ``fake.app(app_id)``'s, after ``add_app``.
    """

    menu = _app_attribute("menu", "The first app's menu (the body last created, or None).")
    console_menu = _app_attribute("console_menu", "The first app's menu set in the console.")
    autoreply_info = _app_attribute("autoreply_info", "The first app's console auto-replies.")
    last_message_at = _app_attribute("last_message_at", "The first app's followers' last words.")
    sent = _app_attribute("sent", "The messages sent to the first app's followers.")
    app_secret = _app_attribute("app_secret", "The first app's AppSecret.")

    def __init__(
        self,
        *,
        app_id: str = "wx_fake_app_id",
        app_secret: str = "fake-app-secret",  # noqa: S107 - the fake's own, not a real secret
        host: str = "127.0.0.1",
        port: int = 0,
        token_lifetime: int = 7200,
        clock: Callable[[], float] = time.time,
        on_call: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.app_id = app_id
        self.primary = FakeApp(app_id, app_secret)
        self.apps: dict[str, FakeApp] = {app_id: self.primary}
        self.token_lifetime = token_lifetime
        self.clock = clock
        self.on_call = on_call
        self.lock = threading.RLock()
        self._server = ThreadingHTTPServer((host, port), _Handler)
        self._server.daemon_threads = True
        self._server.fake = self  # type: ignore[attr-defined]
        self._thread: threading.Thread | None = None
        self.reset()

    # --- running ----------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """Return the base URL to give a WeChatClient (``http://127.0.0.1:PORT``)."""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeWeChatAPI:
        """Serve in a background thread; return self."""
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="fake-wechat-api", daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in this thread until interrupted (the management command)."""
        self._server.serve_forever()

    def stop(self) -> None:
        """Stop serving and free the port."""
        self._server.shutdown()
        self._server.server_close()
        if self._thread:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeWeChatAPI:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # --- controls -------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget every call, token, menu, message and fault (of every app; apps stay)."""
        with self.lock:
            self.calls: list[dict[str, Any]] = []
            for app in self.apps.values():
                app.reset()
            self.faults: list[Fault] = []
            self.token_delay = 0.0
            self._tokens: dict[str, float] = {}  # token -> expires at
            self._token_apps: dict[str, FakeApp] = {}  # token -> the app it was issued to
            self._expired: set[str] = set()

    def add_app(self, app_id: str, app_secret: str) -> FakeApp:
        """Serve another official account too (its own tokens, menu and followers)."""
        if not app_id or not app_secret:
            raise ValueError("an app needs an AppID and an AppSecret")
        with self.lock:
            app = self.apps.get(app_id)
            if app is None:
                app = self.apps[app_id] = FakeApp(app_id, app_secret)
            app.app_secret = app_secret
            return app

    def app(self, app_id: str | None = None) -> FakeApp:
        """Return the app ``app_id`` (the first one without it); KeyError when not served."""
        with self.lock:
            return self.primary if app_id is None else self.apps[app_id]

    def add_fault(self, kind: str, **options: Any) -> Fault:
        """Misbehave on the next call(s): see ``Fault`` for the kinds and options."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}; one of {', '.join(FAULT_KINDS)}")
        fault = Fault(kind=kind, **options)
        with self.lock:
            self.faults.append(fault)
        return fault

    def set_last_message(
        self, openid: str, at: float | None = None, *, app_id: str | None = None
    ) -> None:
        """Record that ``openid`` wrote to the account (the first app, or ``app_id``) at ``at``
        (now by default): the 48-hour customer-service window opens, its allowance renewed."""
        with self.lock:
            app = self.app(app_id)
            app.last_message_at[openid] = self.clock() if at is None else at
            app.sent_since[openid] = 0

    def expire_tokens(self, *, app_id: str | None = None) -> None:
        """Make every issued token (of every app, or of ``app_id``) expired (42001), as after
        two hours."""
        with self.lock:
            for token in self._tokens_of(app_id):
                self._expired.add(token)
                self._forget_token(token)

    def invalidate_tokens(self, *, app_id: str | None = None) -> None:
        """Make every issued token (of every app, or of ``app_id``) unknown (40001), as after
        the AppSecret is reset."""
        with self.lock:
            for token in self._tokens_of(app_id):
                self._forget_token(token)

    def _tokens_of(self, app_id: str | None) -> list[str]:
        return [
            token
            for token in self._tokens
            if app_id is None or self._token_apps.get(token, self.primary).app_id == app_id
        ]

    def _forget_token(self, token: str) -> None:
        app = self._token_apps.pop(token, self.primary)
        self._tokens.pop(token, None)
        if app.current_token == token:
            app.current_token = None

    def calls_to(self, path: str) -> list[dict[str, Any]]:
        """Return the recorded calls to ``path`` (e.g. "/cgi-bin/stable_token")."""
        with self.lock:
            return [call for call in self.calls if call["path"] == path]

    def state(self, app_id: str | None = None) -> dict[str, Any]:
        with self.lock:
            return {
                **self.app(app_id).state(),
                "apps": list(self.apps),
                "faults": [fault.__dict__ for fault in self.faults],
            }

    # --- answering ------------------------------------------------------------------------

    def answer(self, method: str, target: str, body: bytes) -> _Answer:
        """Return the answer to one request (the HTTP handler's only call)."""
        parts = urlsplit(target)
        path, query = parts.path.rstrip("/") or "/", parse_qs(parts.query)
        if path.startswith("/_fake/"):
            return self._control(method, path, body, query)
        with self.lock:
            fault = self._take_fault(path)
            call = {
                "method": method,
                "path": path,
                "query": {key: "***" if key in _SECRET_FIELDS else values[-1]
                          for key, values in query.items()},
                "body": _recorded_body(body),
                "time": self.clock(),
                "fault": fault.kind if fault else None,
                "app_id": None,
            }  # fmt: skip
            self.calls.append(call)
        delay = 0.0
        if fault is not None:
            if fault.kind == "errcode":
                answer = _error(fault.errcode, fault.errmsg or None)
                return self._finish(call, answer)
            if fault.kind == "malformed":
                return self._finish(call, _Answer(body=b'{"errcode":0,"errmsg":"ok","menu":{"bu'))
            if fault.kind == "html":
                page = b"<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"
                return self._finish(call, _Answer(status=502, body=page, content_type="text/html"))
            if fault.kind == "disconnect":
                return self._finish(call, _Answer(disconnect=True))
            delay = fault.delay
        if path == STABLE_TOKEN_PATH:
            answer = self._stable_token(method, body, call)
            answer.delay = max(self.token_delay, delay)
            return self._finish(call, answer)
        handler = _ROUTES.get(path)
        if handler is None:
            page = b"<html>404 Not Found</html>"
            answer = _Answer(status=404, body=page, content_type="text/html")
            return self._finish(call, answer)
        with self.lock:
            app = self._app_of_token(query)
            if isinstance(app, _Answer):
                answer = app
            else:
                call["app_id"] = app.app_id
                answer = handler(self, app, method, body)
        answer.delay = delay
        return self._finish(call, answer)

    def _finish(self, call: dict[str, Any], answer: _Answer) -> _Answer:
        try:
            call["errcode"] = json.loads(answer.body).get("errcode", 0) if answer.body else None
        except (ValueError, AttributeError):
            call["errcode"] = None
        if self.on_call:
            self.on_call(call)
        return answer

    def _take_fault(self, path: str) -> Fault | None:
        for fault in self.faults:
            if fault.path is None or fault.path == path:
                fault.times -= 1
                if fault.times <= 0:
                    self.faults.remove(fault)
                return fault
        return None

    def _app_of_token(self, query: dict[str, list[str]]) -> FakeApp | _Answer:
        """Return the app the call's token was issued to, or WeChat's refusal of the token."""
        token = (query.get("access_token") or [""])[-1]
        if not token:
            return _error(41001)
        expires_at = self._tokens.get(token)
        if expires_at is None:
            return _error(42001 if token in self._expired else 40001)
        if expires_at <= self.clock():
            self._expired.add(token)
            self._forget_token(token)
            return _error(42001)
        # A token a test put in _tokens directly is the first app's.
        return self._token_apps.get(token, self.primary)

    def _stable_token(self, method: str, body: bytes, call: dict[str, Any]) -> _Answer:
        if method != "POST":
            return _error(43002)
        try:
            request = json.loads(body)
        except ValueError:
            return _error(47001)
        if not isinstance(request, dict):
            return _error(47001)
        if request.get("grant_type") != "client_credential":
            return _error(40002)
        if not request.get("appid"):
            return _error(41002)
        with self.lock:
            app = self.apps.get(str(request["appid"]))
        if app is None:
            return _error(40013)
        call["app_id"] = app.app_id
        if not request.get("secret"):
            return _error(41004)
        if not secrets.compare_digest(str(request["secret"]), app.app_secret):
            return _error(40125)
        with self.lock:
            now = self.clock()
            if request.get("force_refresh") is True:
                if app.forced_today >= FORCE_REFRESH_PER_DAY:
                    return _error(45009)
                app.forced_today += 1
                self.invalidate_tokens(app_id=app.app_id)
            current = app.current_token
            if current is None or self._tokens.get(current, 0) <= now:
                current = f"FAKE_TOKEN_{len(self.calls)}_{secrets.token_urlsafe(16)}"
                self._tokens[current] = now + self.token_lifetime
                self._token_apps[current] = app
                app.current_token = current
            expires_in = int(self._tokens[current] - now)
        return _json({"access_token": current, "expires_in": expires_in})

    # --- the API --------------------------------------------------------------------------

    def _menu_create(self, app: FakeApp, method: str, body: bytes) -> _Answer:
        if _ESCAPED_NON_ASCII.search(body):
            return _error(40033)
        try:
            menu = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return _error(47001)
        problems = check_menu(menu)
        if problems:
            return _error(problems[0].errcode, f"{ERRMSGS.get(problems[0].errcode, 'error')} "
                          f"hint: [{problems[0].message}]")  # fmt: skip
        app.menu = {"button": menu["button"]}
        app.menu_id += 1
        app.console_menu = None
        return _error(0)

    def _menu_get(self, app: FakeApp, method: str, body: bytes) -> _Answer:
        if app.menu is None:
            return _error(46003)
        buttons = [
            {**button, "sub_button": list(button.get("sub_button") or [])}
            for button in app.menu["button"]
        ]
        for button in buttons:
            button["sub_button"] = [{**sub, "sub_button": []} for sub in button["sub_button"]]
        return _json({"menu": {"button": buttons, "menuid": app.menu_id}})

    def _menu_delete(self, app: FakeApp, method: str, body: bytes) -> _Answer:
        app.menu = None
        app.console_menu = None
        return _error(0)

    def _selfmenu_info(self, app: FakeApp, method: str, body: bytes) -> _Answer:
        if app.console_menu is not None:
            return _json(app.console_menu)
        if app.menu is None:
            return _json({"is_menu_open": 0, "selfmenu_info": {"button": []}})
        buttons = []
        for button in app.menu["button"]:
            if button.get("sub_button"):
                subs = [dict(sub) for sub in button["sub_button"]]
                buttons.append({"name": button["name"], "sub_button": {"list": subs}})
            else:
                buttons.append(dict(button))
        return _json({"is_menu_open": 1, "selfmenu_info": {"button": buttons}})

    def _custom_send(self, app: FakeApp, method: str, body: bytes) -> _Answer:
        try:
            message = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return _error(47001)
        if not isinstance(message, dict) or not message.get("touser"):
            return _error(40003)
        if message.get("msgtype") not in CUSTOM_MESSAGE_TYPES:
            return _error(40008)
        openid = message["touser"]
        last = app.last_message_at.get(openid)
        if last is None:
            return _error(40003)
        if self.clock() - last > WINDOW_SECONDS:
            return _error(45015)
        if app.sent_since.get(openid, 0) >= WINDOW_MESSAGES:
            return _error(45047)
        app.sent_since[openid] = app.sent_since.get(openid, 0) + 1
        app.sent.append(message)
        return _error(0)

    def _autoreply_info(self, app: FakeApp, method: str, body: bytes) -> _Answer:
        return _json(app.autoreply_info)

    # --- /_fake/ ---------------------------------------------------------------------------

    def _control(self, method: str, path: str, body: bytes, query: dict[str, list[str]]) -> _Answer:
        try:
            data = json.loads(body) if body else {}
        except ValueError:
            return _Answer(status=400, body=b'{"error": "not JSON"}')
        if method == "GET" and path == "/_fake/calls":
            with self.lock:
                return _json({"calls": list(self.calls)})
        app_id = (query.get("app_id") or [None])[-1]
        if app_id is not None and app_id not in self.apps and path != "/_fake/app":
            return _Answer(status=404, body=b'{"error": "no such app"}')
        if method == "GET" and path == "/_fake/state":
            return _json(self.state(app_id))
        if method != "POST":
            return _Answer(status=405, body=b'{"error": "POST"}')
        try:
            if path == "/_fake/reset":
                self.reset()
            elif path == "/_fake/app":
                self.add_app(data["app_id"], data["app_secret"])
            elif path == "/_fake/fault":
                self.add_fault(**data)
            elif path == "/_fake/last_message":
                self.set_last_message(data["openid"], data.get("time"), app_id=app_id)
            elif path == "/_fake/autoreply":
                with self.lock:
                    self.app(app_id).autoreply_info = data
            elif path == "/_fake/console_menu":
                with self.lock:
                    self.app(app_id).console_menu = data or None
            elif path == "/_fake/tokens/expire":
                self.expire_tokens(app_id=app_id)
            elif path == "/_fake/tokens/invalidate":
                self.invalidate_tokens(app_id=app_id)
            else:
                return _Answer(status=404, body=b'{"error": "no such control"}')
        except (TypeError, KeyError, ValueError) as error:
            return _Answer(status=400, body=json.dumps({"error": str(error)}).encode())
        return _json({"ok": True})


_ROUTES: dict[str, Callable[[FakeWeChatAPI, FakeApp, str, bytes], _Answer]] = {
    "/cgi-bin/menu/create": FakeWeChatAPI._menu_create,
    "/cgi-bin/menu/get": FakeWeChatAPI._menu_get,
    "/cgi-bin/menu/delete": FakeWeChatAPI._menu_delete,
    "/cgi-bin/get_current_selfmenu_info": FakeWeChatAPI._selfmenu_info,
    "/cgi-bin/message/custom/send": FakeWeChatAPI._custom_send,
    "/cgi-bin/get_current_autoreply_info": FakeWeChatAPI._autoreply_info,
}


def _recorded_body(body: bytes) -> Any:
    if not body:
        return None
    try:
        data = json.loads(body)
    except ValueError:
        return redact(body.decode("utf-8", "replace"))
    if isinstance(data, dict):
        data = {key: "***" if key in _SECRET_FIELDS else value for key, value in data.items()}
    return data


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FakeWeChatAPI"
    # Headers and body go out in two writes: without this a keep-alive client waits for the
    # delayed ACK (40 ms) on every call.
    disable_nagle_algorithm = True

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        answer = self.server.fake.answer(self.command, self.path, body)  # type: ignore[attr-defined]
        if answer.delay:
            time.sleep(answer.delay)
        if answer.disconnect:
            self.close_connection = True
            return
        try:
            self.send_response(answer.status)
            self.send_header("Content-Type", answer.content_type)
            self.send_header("Content-Length", str(len(answer.body)))
            self.end_headers()
            self.wfile.write(answer.body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout): WeChat's answer is lost the same way

    do_GET = do_POST = _serve

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base's name
        logger.debug("%s %s", self.address_string(), redact(format % args))
