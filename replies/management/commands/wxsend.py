"""`manage.py wxsend`: play WeChat's server against a running wxsite and show the reply.

One message or event per call (`wxsend text 你好`, `wxsend event CLICK --key MENU_1`), or a chat
(`wxsend chat`, or `wxsend` alone) where each line is a text message and `/commands` send the
rest. `wxsend verify` rehearses the console's URL check (提交 in 基本配置). `--host` sets the Host
header of every request (a site behind nginx reached by IP); `--insecure` skips TLS certificate
checks, for a self-signed test certificate only. The protocol work lives in replies.simulator;
this module turns options into messages and prints what came back.

`--account SLUG` talks to one of the official accounts stored in the database: its URL
(/wechat/<slug>/ on the local server unless --url says otherwise), its token, AppID and
EncodingAESKey (decrypted, never printed) and its original ID as ToUserName. Without it, the
environment account's WECHAT_* settings are used and the database is not read. `--account` used
to name the ToUserName: a value that cannot be an account's URL name (gh_… has an underscore)
is still taken so; `--to-user` says it explicitly.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, replace
from typing import Any, TextIO
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import Account
from accounts.validators import SLUG_PATTERN
from replies.management.options import ACCOUNT_HELP, account_from, credentials_of
from replies.protocol import (
    Credentials,
    Event,
    InvalidAESKey,
    MsgType,
    decode_aes_key,
    pretty_print_xml,
)
from replies.simulator import (
    DEFAULT_ACCOUNT,
    DEFAULT_OPENID,
    DEFAULT_SITE,
    DEFAULT_URL,
    MODES,
    WECHAT_TIMEOUT,
    Endpoint,
    Exchange,
    SimulatorError,
    Verification,
    describe_message,
    describe_reply,
    event_fields,
    image_fields,
    link_fields,
    location_fields,
    message_xml,
    miniprogrampage_fields,
    new_msg_id,
    send_message,
    text_fields,
    verify_endpoint,
    video_fields,
    voice_fields,
)

# Events WeChat never sends without an EventKey: sending one without would test nothing real.
EVENTS_NEEDING_KEY = {
    Event.CLICK: "the menu key",
    Event.VIEW: "the menu's URL",
    Event.SCAN: "the QR scene",
    Event.VIEW_MINIPROGRAM: "the page path",
}

CHAT_HELP = """\
Type a line to send it as a text message. Commands:
  /click KEY            menu click (CLICK event)
  /view URL             menu link (VIEW event)
  /subscribe [SCENE]    follow, optionally by scanning QR scene SCENE
  /unsubscribe          unfollow
  /scan SCENE           scan a QR code while following (SCAN event)
  /image [MEDIA_ID]     send an image
  /voice TEXT           send a voice message recognised as TEXT
  /location X Y [LABEL] send a location (latitude, longitude)
  /event NAME [KEY]     any other event
  /mode plain|compat|aes  switch the encryption mode
  /openid OPENID        talk as another follower
  /raw                  show reply XML instead of a description (again to switch back)
  /quit                 leave (so do Ctrl-D and Ctrl-C)
  //text                send a text that starts with /"""


@dataclass(frozen=True)
class Session:
    """Who talks to which endpoint, and how: what every message of one run shares."""

    url: str
    token: str
    app_id: str
    aes_key: str
    mode: str
    openid: str
    account: str  # ToUserName
    timeout: float
    raw: bool
    host: str = ""
    insecure: bool = False
    path_warning: str = ""
    stored_account: str = ""  # the URL name of the stored account whose secrets these are

    def _no_token(self) -> str:
        """Return what to do about a missing token: set the setting, or fill in the account."""
        if self.stored_account:
            return f"No token: give account {self.stored_account} its Token"
        return "No token: set WECHAT_TOKEN"

    def endpoint(self) -> Endpoint:
        """Return the endpoint with credentials for this session's mode."""
        return self.endpoint_with(self.credentials())

    def verification_endpoint(self) -> Endpoint:
        """Return the endpoint for the console's URL check: only the token is needed."""
        if not self.token:
            raise SimulatorError(f"{self._no_token()} or pass --token (the console's 令牌/Token).")
        return self.endpoint_with(Credentials(token=self.token, app_id=self.app_id))

    def endpoint_with(self, credentials: Credentials) -> Endpoint:
        return Endpoint(
            url=self.url,
            credentials=credentials,
            timeout=self.timeout,
            host=self.host,
            insecure=self.insecure,
        )

    @property
    def where(self) -> str:
        """Return the URL, with the Host header when --host sets another."""
        return f"{self.url} (Host: {self.host})" if self.host else self.url

    def credentials(self) -> Credentials:
        """Return the credentials, refusing a mode they are not enough for."""
        if not self.token:
            raise SimulatorError(f"{self._no_token()} or pass --token.")
        if self.mode == "plain":
            return Credentials(token=self.token, app_id=self.app_id)
        if not self.aes_key or not self.app_id:
            what = (
                f"give account {self.stored_account} its EncodingAESKey and AppID"
                if self.stored_account
                else "set WECHAT_ENCODING_AES_KEY and WECHAT_APP_ID"
            )
            raise SimulatorError(
                f"{self.mode} mode needs an EncodingAESKey and an AppID: {what}, or pass "
                "--aes-key and --app-id."
            )
        try:
            key = decode_aes_key(self.aes_key)
        except InvalidAESKey as error:
            raise SimulatorError(f"--aes-key: {error.message}") from None
        return Credentials(token=self.token, app_id=self.app_id, aes_keys=(key,))


def add_common_options(parser: argparse.ArgumentParser, *, suppress: bool, url: bool) -> None:
    """Add the options every message shares.

    They are accepted before the subcommand and after it; after it they default to SUPPRESS,
    since a subparser's defaults would otherwise overwrite what was given before it.
    """

    def default(value: Any) -> Any:
        return argparse.SUPPRESS if suppress else value

    if url:
        parser.add_argument(
            "--url",
            default=default(None),
            help=f"the endpoint (default {DEFAULT_URL}, or the --account's path on {DEFAULT_SITE})",
        )
    parser.add_argument("--token", default=default(None), help="default: WECHAT_TOKEN")
    parser.add_argument("--app-id", default=default(None), help="default: WECHAT_APP_ID")
    parser.add_argument("--aes-key", default=default(None), help="default: WECHAT_ENCODING_AES_KEY")
    parser.add_argument(
        "--mode",
        choices=MODES,
        default=default("plain"),
        help="plain, compat (compatible) or aes (safe); default plain",
    )
    parser.add_argument(
        "--openid",
        default=default(DEFAULT_OPENID),
        help=f"the follower (FromUserName; default {DEFAULT_OPENID})",
    )
    parser.add_argument(
        "--account",
        metavar="SLUG",
        default=default(None),
        help=f"{ACCOUNT_HELP}: its URL, token, AppID, EncodingAESKey and original ID",
    )
    parser.add_argument(
        "--to-user",
        default=default(None),
        help=f"ToUserName (default: the account's original ID, else {DEFAULT_ACCOUNT})",
    )
    parser.add_argument(
        "--msg-id", type=int, default=default(None), help="MsgId (MsgID of job events); random"
    )
    parser.add_argument(
        "--create-time", type=int, default=default(None), help="CreateTime; default now"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=default(WECHAT_TIMEOUT),
        help=f"seconds to wait for the answer (WeChat waits {WECHAT_TIMEOUT:g})",
    )
    parser.add_argument(
        "--raw",
        action="store_true",
        default=default(False),
        help="print the reply XML instead of a description",
    )
    parser.add_argument(
        "--host",
        default=default(""),
        help="the Host header of every request, instead of the URL's (a site behind nginx "
        "reached by IP, a virtual host); TLS is still checked against the URL's host",
    )
    parser.add_argument(
        "--insecure",
        action="store_true",
        default=default(False),
        help="FOR TESTING ONLY: do not verify the TLS certificate (a self-signed test "
        "certificate); everything else is checked as usual",
    )


class Command(BaseCommand):
    help = (
        "Send a message or event to a running wxsite the way WeChat's server does, and show "
        "the reply. Without a subcommand: chat (each line you type is a text message)."
    )
    # It talks HTTP to a server; this process needs neither its database nor a clean check.
    requires_system_checks = []
    requires_migrations_checks = False
    stealth_options = ("stdin",)
    verbosity = 1

    def add_arguments(self, parser: CommandParser) -> None:
        add_common_options(parser, suppress=False, url=True)
        subparsers = parser.add_subparsers(dest="kind", metavar="TYPE")

        def add(name: str, help_text: str, *, url: bool = True) -> argparse.ArgumentParser:
            sub = subparsers.add_parser(name, help=help_text, description=help_text)
            add_common_options(sub, suppress=True, url=url)
            return sub

        add("chat", "type messages at a prompt (also reads them from stdin)")
        add(
            "verify",
            "rehearse the console's URL check (提交 in 基本配置): a GET signed with the token "
            "that must answer exactly the echostr, as text/plain, within 5 s, without a redirect",
        )
        text = add(MsgType.TEXT, "a text message")
        text.add_argument("content", nargs="+", help="what the follower types")

        image = add(MsgType.IMAGE, "an image message")
        image.add_argument("--media-id", default="wxsend_image_media_id")
        image.add_argument("--pic-url", default="http://mmbiz.qpic.cn/wxsend/image.jpg")

        voice = add(MsgType.VOICE, "a voice message")
        voice.add_argument("--media-id", default="wxsend_voice_media_id")
        voice.add_argument("--format", dest="audio_format", default="amr")
        voice.add_argument(
            "--recognition", default=None, help="speech recognition result, e.g. 价格"
        )

        for name in (MsgType.VIDEO, MsgType.SHORTVIDEO):
            video = add(name, f"a {name} message")
            video.add_argument("--media-id", default=f"wxsend_{name}_media_id")
            video.add_argument("--thumb-media-id", default="wxsend_thumb_media_id")

        location = add(MsgType.LOCATION, "a location message")
        location.add_argument("--x", default="23.134521", help="Location_X, the latitude")
        location.add_argument("--y", default="113.358803", help="Location_Y, the longitude")
        location.add_argument("--scale", default="20")
        location.add_argument("--label", default="")

        # --url means the link here: give the endpoint's --url before the subcommand.
        link = add(
            MsgType.LINK, "a link message (put the endpoint's --url before 'link')", url=False
        )
        link.add_argument("--title", default="wxsend link")
        link.add_argument("--description", default="")
        link.add_argument("--url", dest="link_url", default="https://example.com/")

        page = add(MsgType.MINIPROGRAMPAGE, "a mini-program card")
        page.add_argument("--mini-app-id", default="wx0000000000000000", help="the card's AppId")
        page.add_argument("--title", default="wxsend mini program")
        page.add_argument("--page-path", default="pages/index/index")
        page.add_argument("--thumb-url", default="http://mmbiz.qpic.cn/wxsend/thumb.jpg")
        page.add_argument("--thumb-media-id", default="wxsend_thumb_media_id")

        event = add(
            MsgType.EVENT, "an event: subscribe, unsubscribe, SCAN, CLICK, VIEW, LOCATION …"
        )
        event.add_argument("name", help="the Event, in any case; unknown names are sent as is")
        event.add_argument("--key", default="", help="EventKey: menu key, QR scene, URL …")
        event.add_argument("--ticket", default="", help="Ticket of a QR code (subscribe, SCAN)")
        event.add_argument("--latitude", default="")
        event.add_argument("--longitude", default="")
        event.add_argument("--precision", default="")
        event.add_argument("--menu-id", default="", help="MenuId (VIEW, view_miniprogram)")
        event.add_argument("--scan-type", default="qrcode", help="scancode_*: qrcode, barcode …")
        event.add_argument("--scan-result", default="", help="scancode_*: what was scanned")
        event.add_argument(
            "--pic-md5",
            action="append",
            default=[],
            help="pic_*: a picture's MD5 (repeat for several)",
        )
        event.add_argument("--location-x", default="", help="location_select: latitude")
        event.add_argument("--location-y", default="", help="location_select: longitude")
        event.add_argument("--scale", default="15", help="location_select")
        event.add_argument("--label", default="", help="location_select")
        event.add_argument("--poiname", default="", help="location_select")
        event.add_argument("--status", default="", help="Status of *JOBFINISH events")

    def handle(self, *args: Any, **options: Any) -> None:
        self.verbosity = options["verbosity"]
        session = session_from(options)
        if session.path_warning:
            self.stderr.write(f"! {session.path_warning}")
        kind = options.get("kind") or "chat"
        if session.insecure and urlsplit(session.url).scheme == "https":
            self.stderr.write("! --insecure: the TLS certificate is not verified (testing only).")
        try:
            if kind == "verify":
                self.verify(session)
                return
            if kind == "chat":
                self.chat(session, stdin=options.get("stdin") or sys.stdin)
                return
            msg_type, fields = message_for(kind, options)
            self.send(session, msg_type=msg_type, fields=fields, create_time=options["create_time"])
        except SimulatorError as error:
            raise CommandError(str(error)) from None

    # --- the console's URL check ----------------------------------------------------------------

    def verify(self, session: Session) -> Verification:
        """Send the console's signed GET; print one line saying it passed (or raise why not)."""
        verification = verify_endpoint(endpoint=session.verification_endpoint())
        if self.verbosity >= 2:
            self.stdout.write(f"GET {session.url}?{urlencode(verification.query)}")
            if session.host:
                self.stdout.write(f"Host: {session.host}")
            self.stdout.write(
                f"HTTP {verification.status}, {verification.content_type}: "
                f"{verification.answer.decode('utf-8', 'replace')}"
            )
        self.stdout.write(
            f"OK: {session.where} answered the echostr as text/plain in "
            f"{verification.elapsed_ms:.0f} ms: the console's 提交 (submit) will pass with this "
            "token."
        )
        return verification

    # --- one message ---------------------------------------------------------------------------

    def send(
        self,
        session: Session,
        *,
        msg_type: str,
        fields: dict[str, Any],
        create_time: int | None = None,
    ) -> Exchange:
        """Send one message, print what went and what came back, and return the exchange."""
        endpoint = session.endpoint()  # missing secrets are reported before anything is sent
        xml = message_xml(
            msg_type=msg_type,
            fields=fields,
            openid=session.openid,
            account=session.account,
            create_time=create_time,
        )
        self.stdout.write(f"→ {describe_message(msg_type=msg_type, fields=fields)}")
        if self.verbosity >= 2:
            self.stdout.write(pretty_print_xml(xml))
        exchange = send_message(
            endpoint=endpoint, xml=xml, mode=session.mode, openid=session.openid
        )
        if self.verbosity >= 2:
            self.stdout.write(f"POST {session.url}?{urlencode(exchange.query)}")
            if session.host:
                self.stdout.write(f"Host: {session.host}")
            if session.mode != "plain":
                self.stdout.write(pretty_print_xml(exchange.body))
            self.stdout.write(f"HTTP {exchange.status}, answer as received:")
            self.stdout.write(pretty_print_xml(exchange.answer))
        self.show(exchange, session=session)
        return exchange

    def show(self, exchange: Exchange, *, session: Session) -> None:
        """Print the reply: a description, or with --raw the reply XML."""
        timing = f"[{exchange.elapsed_ms:.0f} ms, {exchange.mode}]"
        if session.raw:
            self.stdout.write(f"← {timing}")
            text = exchange.reply_xml.decode("utf-8", "replace")
            self.stdout.write(pretty_print_xml(text) if exchange.has_reply else text or "(empty)")
            return
        lines = describe_reply(exchange.reply, openid=session.openid, account=session.account)
        self.stdout.write(f"← {lines[0]}  {timing}")
        for line in lines[1:]:
            self.stdout.write(line)

    # --- chat ----------------------------------------------------------------------------------

    def chat(self, session: Session, *, stdin: TextIO) -> None:
        """Read lines until /quit or end of input; send each, print each reply."""
        interactive = stdin is sys.stdin and stdin.isatty()
        if interactive:
            enable_line_editing()
        self.stdout.write(
            f"wxsend chat with {session.where} as {session.openid} ({session.mode} mode). "
            "/help lists commands, /quit leaves."
        )
        session.credentials()  # fail now, not at the first line, when the secrets are missing
        sent = failed = 0
        while True:
            line = read_line(stdin, interactive=interactive)
            if line is None:
                break
            line = line.rstrip("\r\n")
            if not line.strip():
                continue
            if not interactive:
                self.stdout.write(f"> {line}")
            try:
                outcome = self.chat_line(session, line)
            except SimulatorError as error:
                sent, failed = sent + 1, failed + 1
                self.stderr.write(f"! {error}")
                continue
            if outcome is None:
                break
            if isinstance(outcome, Session):
                session = outcome
            else:
                sent += outcome
        if failed:
            raise CommandError(f"{failed} of {sent} messages failed.")

    def chat_line(self, session: Session, line: str) -> Session | int | None:
        """Act on one chat line: return the new session, the number sent, or None to quit."""
        if not line.startswith("/") or line.startswith("//"):
            text = line[1:] if line.startswith("//") else line
            self.send(session, **_message(text_fields(content=text, msg_id=new_msg_id())))
            return 1
        command, _, rest = line[1:].partition(" ")
        command, words = command.lower(), rest.split()
        if command in ("quit", "exit", "q"):
            return None
        if command in ("help", "?"):
            self.stdout.write(CHAT_HELP)
            return 0
        if command in ("mode", "openid", "raw"):
            return self.change_session(session, command=command, words=words)
        message = chat_message(command, words=words, rest=rest.strip())
        if message is None:
            self.stdout.write(f"Unknown command /{command} — /help lists them.")
            return 0
        self.send(session, **message)
        return 1

    def change_session(self, session: Session, *, command: str, words: list[str]) -> Session:
        """Return the session with the mode, follower or display changed."""
        if command == "raw":
            session = replace(session, raw=not session.raw)
            self.stdout.write(f"(raw XML {'on' if session.raw else 'off'})")
            return session
        if len(words) != 1 or (command == "mode" and words[0] not in MODES):
            usage = "/mode plain|compat|aes" if command == "mode" else "/openid OPENID"
            self.stdout.write(f"Usage: {usage}")
            return session
        changed = replace(session, **{command: words[0]})
        changed.credentials()  # refuse aes mode without a key before the next message
        self.stdout.write(f"({command} is now {words[0]})")
        return changed


def enable_line_editing() -> None:
    """Give the prompt arrow keys and history, where Python has readline."""
    try:
        import readline  # noqa: F401 - importing it is what turns it on for input()
    except ImportError:
        pass


def read_line(stdin: TextIO, *, interactive: bool) -> str | None:
    """Return the next line, or None at end of input or on Ctrl-C."""
    try:
        if interactive:
            return input("> ")
        line = stdin.readline()
        return line or None
    except (EOFError, KeyboardInterrupt):
        return None


def _message(built: tuple[str, dict[str, Any]]) -> dict[str, Any]:
    msg_type, fields = built
    return {"msg_type": msg_type, "fields": fields}


def chat_message(command: str, *, words: list[str], rest: str) -> dict[str, Any] | None:
    """Return the message a chat /command sends, or None for an unknown command."""
    msg_id = new_msg_id()
    first = words[0] if words else ""
    match command:
        case Event.CLICK | Event.VIEW | Event.SCAN if not first:
            raise SimulatorError(f"/{command} needs {EVENTS_NEEDING_KEY[command]}.")
        case Event.CLICK | Event.VIEW | Event.SCAN:
            return _message(event_fields(event=command, key=first))
        case Event.SUBSCRIBE | Event.UNSUBSCRIBE:
            return _message(event_fields(event=command, key=first))
        case MsgType.IMAGE:
            return _message(
                image_fields(
                    media_id=first or "wxsend_image_media_id",
                    pic_url="http://mmbiz.qpic.cn/wxsend/image.jpg",
                    msg_id=msg_id,
                )
            )
        case MsgType.VOICE:
            return _message(
                voice_fields(
                    media_id="wxsend_voice_media_id",
                    audio_format="amr",
                    recognition=rest,
                    msg_id=msg_id,
                )
            )
        case MsgType.LOCATION if len(words) < 2:
            raise SimulatorError("/location needs a latitude and a longitude: /location 23.1 113.3")
        case MsgType.LOCATION:
            return _message(
                location_fields(
                    x=words[0], y=words[1], scale="20", label=" ".join(words[2:]), msg_id=msg_id
                )
            )
        case MsgType.EVENT if not first:
            raise SimulatorError("/event needs an event name: /event LOCATION")
        case MsgType.EVENT:
            return _message(event_fields(event=first, key=" ".join(words[1:])))
    return None


def session_from(options: dict[str, Any]) -> Session:
    """Return the session the options describe, secrets defaulting to the account's (the
    server's settings without --account)."""
    account, to_user = account_option(options.get("account"))
    stored = stored_secrets(account) if account is not None else {}

    def secret(option: str, name: str, setting: str) -> str:
        value = options.get(option)
        if value is not None:
            return value
        if account is not None:
            return stored[name]
        return getattr(settings, setting, "")

    url = options.get("url")
    warning = ""
    if account is not None:
        if url is None:
            url = DEFAULT_SITE + account.endpoint_path
        elif urlsplit(url).path != account.endpoint_path:
            warning = (
                f"{url} is not {account.endpoint_path}, the path of account {account.slug}: "
                "its signature will be refused there unless the tokens are the same."
            )
    return Session(
        url=url or DEFAULT_URL,
        token=secret("token", "token", "WECHAT_TOKEN"),
        app_id=secret("app_id", "app_id", "WECHAT_APP_ID"),
        aes_key=secret("aes_key", "aes_key", "WECHAT_ENCODING_AES_KEY"),
        mode=options["mode"],
        openid=options["openid"],
        account=options.get("to_user")
        or to_user
        or (account.original_id if account is not None else "")
        or DEFAULT_ACCOUNT,
        timeout=options["timeout"],
        raw=options["raw"],
        host=options["host"] or "",
        insecure=options["insecure"],
        path_warning=warning,
        stored_account=account.slug if account is not None and not account.from_environment else "",
    )


def account_option(value: str | None) -> tuple[Account | None, str | None]:
    """Return (the account --account names, or None; the ToUserName it names instead).

    A value shaped like an account's URL name is looked up (an unknown one is a CommandError);
    any other (gh_… has an underscore) is the ToUserName, as --account meant before there were
    several accounts.
    """
    if value is None:
        return None, None
    if SLUG_PATTERN.fullmatch(value):
        return account_from(value), None
    return None, value


def stored_secrets(account: Account) -> dict[str, str]:
    """Return the token, AppID and EncodingAESKey of `account`, or raise a CommandError."""
    credentials = credentials_of(account)
    return {
        "token": credentials.token,
        "app_id": credentials.app_id,
        "aes_key": credentials.aes_key,
    }


def message_for(kind: str, options: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """Return (MsgType, fields) for the subcommand `kind` and its options."""
    msg_id = options["msg_id"] if options.get("msg_id") is not None else new_msg_id()
    match kind:
        case MsgType.TEXT:
            return text_fields(content=" ".join(options["content"]), msg_id=msg_id)
        case MsgType.IMAGE:
            return image_fields(**_pick(options, "media_id", "pic_url"), msg_id=msg_id)
        case MsgType.VOICE:
            fields = _pick(options, "media_id", "audio_format", "recognition")
            return voice_fields(**fields, msg_id=msg_id)
        case MsgType.VIDEO | MsgType.SHORTVIDEO:
            fields = _pick(options, "media_id", "thumb_media_id")
            return video_fields(short=kind == MsgType.SHORTVIDEO, **fields, msg_id=msg_id)
        case MsgType.LOCATION:
            return location_fields(**_pick(options, "x", "y", "scale", "label"), msg_id=msg_id)
        case MsgType.LINK:
            fields = _pick(options, "title", "description", url="link_url")
            return link_fields(**fields, msg_id=msg_id)
        case MsgType.MINIPROGRAMPAGE:
            fields = _pick(
                options, "title", "page_path", "thumb_url", "thumb_media_id", app_id="mini_app_id"
            )
            return miniprogrampage_fields(**fields, msg_id=msg_id)
        case MsgType.EVENT:
            return event_for(options)
    raise CommandError(f"Unknown message type {kind!r}.")


def event_for(options: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """Return the event the `event` subcommand's options describe."""
    name = options["name"]
    needed = EVENTS_NEEDING_KEY.get(name.lower())
    if needed and not options["key"]:
        raise CommandError(f"event {name} needs --key ({needed}).")
    return event_fields(
        event=name,
        pic_md5s=tuple(options["pic_md5"]),
        msg_id=options.get("msg_id"),
        **_pick(options, *_EVENT_OPTIONS),
    )


# The event subcommand's options that event_fields takes under the same name, as they are.
_EVENT_OPTIONS = (
    "key",
    "ticket",
    "latitude",
    "longitude",
    "precision",
    "menu_id",
    "scan_type",
    "scan_result",
    "location_x",
    "location_y",
    "scale",
    "label",
    "poiname",
    "status",
)


def _pick(options: dict[str, Any], *names: str, **renamed: str) -> dict[str, Any]:
    """Return the builder arguments named `names` (and `renamed`: argument=option) from options."""
    picked = {name: options[name] for name in names}
    picked.update((argument, options[option]) for argument, option in renamed.items())
    return picked
