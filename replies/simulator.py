"""Play WeChat's servers against a running wxsite: build, sign, post, open and show the reply.

Nobody can point the real WeChat servers at a laptop, so `manage.py wxsend` (and its chat mode)
does what they do: it builds a message or event as WeChat would send it, signs it (and in
compatible and safe mode encrypts it) with replies.protocol.client — the same primitives the
endpoint checks, never a second implementation — POSTs it with urllib, then verifies and
decrypts the answer the way WeChat does and describes it in a few readable lines.
`verify_endpoint` rehearses the console's URL check (the signed GET WeChat sends when the
operator presses 提交 in 基本配置). Every request can carry another Host header than the URL's
(a site behind nginx reached by IP, a virtual host); TLS is verified against the URL's host
unless `insecure` is set, for a self-signed test certificate. Every failure a developer can
meet (no server, a refused signature or Host header, a redirect, a reply that does not decrypt,
an answer slower than WeChat's 5 seconds) is one `SimulatorError` with a one-line message saying
what to check.
"""

from __future__ import annotations

import http.client
import re
import secrets
import socket
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

from django.http.request import split_domain_port

from replies.protocol import (
    AppIdMismatch,
    Credentials,
    DecryptError,
    ImageReply,
    InvalidMsgSignature,
    MusicReply,
    NewsReply,
    TextReply,
    TransferCustomerServiceReply,
    VideoReply,
    VoiceReply,
    WeChatError,
    compute_signature,
    parse_xml,
)
from replies.protocol.client import MODES, build_message_xml, open_reply, sign_request
from replies.protocol.vocabulary import QR_SCENE_PREFIX, Event, MsgType, wire_event_name

__all__ = [
    "DEFAULT_ACCOUNT",
    "DEFAULT_OPENID",
    "DEFAULT_SITE",
    "DEFAULT_URL",
    "MODES",
    "WECHAT_TIMEOUT",
    "Endpoint",
    "Exchange",
    "SimulatorError",
    "Verification",
    "describe_message",
    "describe_reply",
    "event_fields",
    "image_fields",
    "link_fields",
    "location_fields",
    "message_xml",
    "miniprogrampage_fields",
    "new_msg_id",
    "send_message",
    "text_fields",
    "verify_endpoint",
    "video_fields",
    "voice_fields",
]

DEFAULT_SITE = "http://127.0.0.1:8000"  # `manage.py runserver`'s address
DEFAULT_URL = f"{DEFAULT_SITE}/wechat/"
DEFAULT_OPENID = "o_wxsend_tester"
DEFAULT_ACCOUNT = "gh_wxsend"
# WeChat drops the connection after 5 seconds and retries.
WECHAT_TIMEOUT = 5.0
# Enough of an error answer to show its reason, not a whole HTML debug page.
MAX_REASON_CHARS = 300
# WeChat's servers introduce themselves so; the endpoint does not check it.
USER_AGENT = "Mozilla/4.0 wxsend"
# What a Host header may hold: a name or an address, optionally a port (no path, no spaces).
HOST_HEADER = re.compile(r"(?:[A-Za-z0-9._~-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?")
# Django's answer to a Host not in ALLOWED_HOSTS: its 400 page with DEBUG off (the endpoint's
# own 400s are plain-text reasons), the DisallowedHost debug page with DEBUG on.
DJANGO_BAD_REQUEST = b"<h1>Bad Request (400)</h1>"
DJANGO_DISALLOWED_HOST = b"DisallowedHost"
HTML_HEADING = re.compile(r"<(title|h1)[^>]*>(.*?)</\1\s*>", re.IGNORECASE | re.DOTALL)

PIC_EVENTS = frozenset({Event.PIC_SYSPHOTO, Event.PIC_PHOTO_OR_ALBUM, Event.PIC_WEIXIN})
SCANCODE_EVENTS = frozenset({Event.SCANCODE_PUSH, Event.SCANCODE_WAITMSG})
# Where a sample coordinate is needed and none is given: WeChat's documentation uses Guangzhou.
SAMPLE_LATITUDE = "23.134521"
SAMPLE_LONGITUDE = "113.358803"


class SimulatorError(Exception):
    """Signal a failed exchange with a one-line message saying what to check."""


@dataclass(frozen=True)
class Endpoint:
    """Where to post and with which secrets: the URL, the account's credentials, the deadline.

    `host` is the Host header to send instead of the URL's (a site behind nginx reached by IP,
    a virtual host); the TLS certificate is still checked against the URL's host. `insecure`
    skips that check, for a self-signed test certificate only.
    """

    url: str
    credentials: Credentials
    timeout: float = WECHAT_TIMEOUT
    host: str = ""
    insecure: bool = False

    @property
    def host_header(self) -> str:
        """Return the Host header the requests carry: `host`, or the URL's host[:port]."""
        return self.host or urlsplit(self.url).netloc.rpartition("@")[2]


@dataclass(frozen=True)
class Answer:
    """What came back from one HTTP request, error statuses and redirects included."""

    status: int
    body: bytes
    headers: Mapping[str, str]
    elapsed_ms: float

    @property
    def content_type(self) -> str:
        return self.headers.get("Content-Type", "") or ""

    @property
    def location(self) -> str:
        return self.headers.get("Location", "") or ""


@dataclass(frozen=True)
class Exchange:
    """One message posted and its answer: what was sent, what came back, how long it took."""

    mode: str
    request_xml: bytes
    query: dict[str, str]
    body: bytes
    status: int
    answer: bytes
    reply_xml: bytes  # the plaintext reply XML, or b"success" / b"" for "no reply"
    elapsed_ms: float
    reply: dict[str, Any] = field(default_factory=dict)

    @property
    def has_reply(self) -> bool:
        """Return whether the endpoint answered with a message (not `success`)."""
        return bool(self.reply)


@dataclass(frozen=True)
class Verification:
    """The console's URL check, rehearsed: the signed query sent and the answer that passed."""

    query: dict[str, str]
    status: int
    content_type: str
    answer: bytes
    elapsed_ms: float


# --- message builders: (MsgType, fields) as WeChat sends them ---------------------------------


def new_msg_id() -> int:
    """Return a random 64-bit MsgId, as WeChat's are."""
    return secrets.randbits(64)


def text_fields(*, content: str, msg_id: int) -> tuple[str, dict[str, Any]]:
    """Return a text message: what the follower typed."""
    return MsgType.TEXT, {"Content": content, "MsgId": msg_id}


def image_fields(*, media_id: str, pic_url: str, msg_id: int) -> tuple[str, dict[str, Any]]:
    """Return an image message."""
    return MsgType.IMAGE, {"PicUrl": pic_url, "MediaId": media_id, "MsgId": msg_id}


def voice_fields(
    *, media_id: str, audio_format: str, recognition: str | None, msg_id: int
) -> tuple[str, dict[str, Any]]:
    """Return a voice message; `recognition` only when speech recognition is on."""
    fields: dict[str, Any] = {"MediaId": media_id, "Format": audio_format}
    if recognition is not None:
        fields["Recognition"] = recognition
    fields["MsgId"] = msg_id
    return MsgType.VOICE, fields


def video_fields(
    *, short: bool, media_id: str, thumb_media_id: str, msg_id: int
) -> tuple[str, dict[str, Any]]:
    """Return a video (or, with `short`, a shortvideo) message."""
    fields = {"MediaId": media_id, "ThumbMediaId": thumb_media_id, "MsgId": msg_id}
    return (MsgType.SHORTVIDEO if short else MsgType.VIDEO), fields


def location_fields(
    *, x: str, y: str, scale: str, label: str, msg_id: int
) -> tuple[str, dict[str, Any]]:
    """Return a location message: Location_X is the latitude, Location_Y the longitude."""
    fields = {"Location_X": x, "Location_Y": y, "Scale": scale, "Label": label, "MsgId": msg_id}
    return MsgType.LOCATION, fields


def link_fields(
    *, title: str, description: str, url: str, msg_id: int
) -> tuple[str, dict[str, Any]]:
    """Return a link message (an article shared into the chat)."""
    return MsgType.LINK, {"Title": title, "Description": description, "Url": url, "MsgId": msg_id}


def miniprogrampage_fields(
    *,
    app_id: str,
    title: str,
    page_path: str,
    thumb_url: str,
    thumb_media_id: str,
    msg_id: int,
) -> tuple[str, dict[str, Any]]:
    """Return a mini-program card sent into the chat."""
    fields = {
        "MsgId": msg_id,
        "Title": title,
        "AppId": app_id,
        "PagePath": page_path,
        "ThumbUrl": thumb_url,
        "ThumbMediaId": thumb_media_id,
    }
    return MsgType.MINIPROGRAMPAGE, fields


def event_fields(
    *,
    event: str,
    key: str = "",
    ticket: str = "",
    latitude: str = "",
    longitude: str = "",
    precision: str = "",
    menu_id: str = "",
    scan_type: str = "qrcode",
    scan_result: str = "",
    pic_md5s: tuple[str, ...] = (),
    location_x: str = "",
    location_y: str = "",
    scale: str = "15",
    label: str = "",
    poiname: str = "",
    msg_id: int | None = None,
    status: str = "",
) -> tuple[str, dict[str, Any]]:
    """Return an event with the fields WeChat sends for it; unknown events carry EventKey.

    `event` is matched case-insensitively and sent in WeChat's spelling (SCAN, CLICK,
    scancode_push …). A follow with a QR scene gets the `qrscene_` prefix WeChat puts on it.
    """
    name = wire_event_name(event)
    lowered = name.lower()
    fields: dict[str, Any] = {"Event": name}
    if lowered == Event.SUBSCRIBE:
        if key:
            fields["EventKey"] = key if key.startswith(QR_SCENE_PREFIX) else QR_SCENE_PREFIX + key
            fields["Ticket"] = ticket or _sample_ticket(key)
    elif lowered == Event.UNSUBSCRIBE:
        pass
    elif lowered == Event.SCAN:
        scene = key.removeprefix(QR_SCENE_PREFIX)
        fields["EventKey"] = scene
        fields["Ticket"] = ticket or _sample_ticket(scene)
    elif lowered == Event.LOCATION:
        fields["Latitude"] = latitude or SAMPLE_LATITUDE
        fields["Longitude"] = longitude or SAMPLE_LONGITUDE
        fields["Precision"] = precision or "30.000000"
    elif lowered in (Event.VIEW, Event.VIEW_MINIPROGRAM):
        fields["EventKey"] = key
        if menu_id:
            fields["MenuId"] = menu_id
    elif lowered in SCANCODE_EVENTS:
        fields["EventKey"] = key
        fields["ScanCodeInfo"] = {"ScanType": scan_type, "ScanResult": scan_result}
    elif lowered in PIC_EVENTS:
        fields["EventKey"] = key
        fields["SendPicsInfo"] = {
            "Count": len(pic_md5s),
            "PicList": [{"PicMd5Sum": md5} for md5 in pic_md5s],
        }
    elif lowered == Event.LOCATION_SELECT:
        fields["EventKey"] = key
        fields["SendLocationInfo"] = {
            "Location_X": location_x or SAMPLE_LATITUDE,
            "Location_Y": location_y or SAMPLE_LONGITUDE,
            "Scale": scale,
            "Label": label,
            "Poiname": poiname,
        }
    elif lowered == Event.TEMPLATESENDJOBFINISH:
        fields["MsgID"] = msg_id if msg_id is not None else new_msg_id()
        fields["Status"] = status or "success"
    elif lowered == Event.MASSSENDJOBFINISH:
        fields["MsgID"] = msg_id if msg_id is not None else new_msg_id()
        fields["Status"] = status or "send success"
        fields.update(TotalCount=1, FilterCount=1, SentCount=1, ErrorCount=0)
    elif key:
        fields["EventKey"] = key
    return MsgType.EVENT, fields


def _sample_ticket(scene: str) -> str:
    # A real ticket exchanges for the QR code image; the endpoint only stores it.
    return f"wxsend_ticket_{scene.removeprefix(QR_SCENE_PREFIX)}"


def message_xml(
    *,
    msg_type: str,
    fields: Mapping[str, Any],
    openid: str,
    account: str,
    create_time: int | None = None,
) -> bytes:
    """Return the message XML WeChat would post: from the follower `openid` to `account`."""
    return build_message_xml(
        msg_type=msg_type,
        from_user=openid,
        to_user=account,
        create_time=int(time.time()) if create_time is None else create_time,
        **fields,
    )


# --- the exchange -----------------------------------------------------------------------------


def send_message(*, endpoint: Endpoint, xml: bytes, mode: str, openid: str) -> Exchange:
    """Sign (and encrypt) `xml` in `mode`, POST it, and return the opened answer.

    Raise SimulatorError when the server cannot be reached, refuses the message, is slower
    than WeChat waits, or answers with something WeChat could not read.
    """
    if mode not in MODES:
        raise SimulatorError(f"--mode must be one of {', '.join(MODES)}, not {mode!r}.")
    check_endpoint(endpoint)
    query, body = sign_request(
        xml=xml,
        credentials=endpoint.credentials,
        mode=mode,
        timestamp=str(int(time.time())),
        nonce=str(secrets.randbelow(10**10)),
        openid=openid,
    )
    answer = http_request(
        endpoint,
        method="POST",
        query=query,
        body=body,
        gives_up="WeChat would have given up and retried",
    )
    if answer.status != 200:
        raise SimulatorError(refusal_message(endpoint=endpoint, answer=answer))
    reply_xml = open_answer(answer=answer.body, endpoint=endpoint, encrypted=mode != "plain")
    return Exchange(
        mode=mode,
        request_xml=xml,
        query=query,
        body=body,
        status=answer.status,
        answer=answer.body,
        reply_xml=reply_xml,
        elapsed_ms=answer.elapsed_ms,
        reply=read_reply(reply_xml),
    )


def verify_endpoint(*, endpoint: Endpoint) -> Verification:
    """Rehearse the console's URL check and return it; raise SimulatorError saying what to fix.

    When the operator presses 提交 (submit) in 基本配置, WeChat sends one GET with `signature`,
    `echostr`, `timestamp` and `nonce` (signed with the Token typed in the console, whatever the
    encryption mode) and accepts the URL only when the answer, within 5 seconds and without a
    redirect, is exactly the echostr.
    """
    check_endpoint(endpoint)
    timestamp = str(int(time.time()))
    nonce = str(secrets.randbelow(10**10))
    echostr = str(secrets.randbits(63))
    query = {
        "signature": compute_signature(endpoint.credentials.token, timestamp, nonce),
        "echostr": echostr,
        "timestamp": timestamp,
        "nonce": nonce,
    }
    answer = http_request(
        endpoint,
        method="GET",
        query=query,
        gives_up="the console's check would fail (请求URL超时, the URL timed out)",
    )
    if answer.status != 200:
        raise SimulatorError(refusal_message(endpoint=endpoint, answer=answer, verifying=True))
    url = endpoint.url
    if answer.elapsed_ms > endpoint.timeout * 1000:
        raise SimulatorError(
            f"{url} answered after {answer.elapsed_ms / 1000:.1f} s: WeChat waits "
            f"{endpoint.timeout:g} s, the console's check would fail."
        )
    media_type = answer.content_type.partition(";")[0].strip().lower()
    if answer.body != echostr.encode():
        if media_type == "text/html" or answer.body.lstrip()[:1] == b"<":
            raise SimulatorError(
                f"{url} answered HTML ({reason_text(answer.body)}) instead of the echostr: "
                "the URL does not reach wxsite's /wechat/ (another site, a proxy's page?)."
            )
        shown = reason_text(answer.body) or "an empty body"
        raise SimulatorError(
            f"{url} answered {shown!r} instead of the echostr {echostr!r}: "
            "is this URL wxsite's /wechat/?"
        )
    if media_type != "text/plain":
        raise SimulatorError(
            f"{url} answered the echostr as {answer.content_type or 'no Content-Type'!r}, "
            "not text/plain: is something between WeChat and wxsite rewriting the answer?"
        )
    return Verification(
        query=query,
        status=answer.status,
        content_type=answer.content_type,
        answer=answer.body,
        elapsed_ms=answer.elapsed_ms,
    )


def check_url(url: str) -> None:
    """Refuse anything but an http(s) URL with a host: urllib would also open file:// URLs."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise SimulatorError(f"--url must be an http:// or https:// URL, not {url!r}.")


def check_endpoint(endpoint: Endpoint) -> None:
    """Refuse a URL urllib should not open and a Host header that is not a host[:port]."""
    check_url(endpoint.url)
    if endpoint.host and not HOST_HEADER.fullmatch(endpoint.host):
        raise SimulatorError(
            "--host must be a host name or address, optionally with :port "
            f"(e.g. wx.example.com), not {endpoint.host!r}."
        )


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """Hand a 3xx back as it is: WeChat follows no redirect, so neither may the simulator."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def tls_context(*, insecure: bool) -> ssl.SSLContext:
    """Return the TLS settings: the system's CAs and the URL's host name checked, by default.

    With `insecure` (testing against a self-signed certificate only) nothing is checked.
    """
    context = ssl.create_default_context()
    if insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def http_request(
    endpoint: Endpoint,
    *,
    method: str,
    query: Mapping[str, str],
    body: bytes | None = None,
    gives_up: str,
) -> Answer:
    """Send one request to the endpoint's URL with `query` and return the answer as it came.

    The Host header is the endpoint's `host` when given; the TLS certificate is verified against
    the URL's host (http.client uses it for SNI and the host name check) unless `insecure`.
    Redirects are not followed. `gives_up` says what WeChat would do after a timeout.
    """
    url = endpoint.url
    separator = "&" if urlsplit(url).query else "?"
    headers = {"User-Agent": USER_AGENT}
    if body is not None:
        headers["Content-Type"] = "text/xml; charset=utf-8"
    if endpoint.host:
        headers["Host"] = endpoint.host  # urllib then leaves the URL's host out
    request = urllib.request.Request(  # noqa: S310 - check_url() allowed http(s) only
        f"{url}{separator}{urlencode(query)}", data=body, method=method, headers=headers
    )
    opener = urllib.request.build_opener(
        _NoRedirects(), urllib.request.HTTPSHandler(context=tls_context(insecure=endpoint.insecure))
    )
    started = time.perf_counter()
    try:
        with opener.open(request, timeout=endpoint.timeout) as response:
            status, answer, answer_headers = response.status, response.read(), response.headers
    except urllib.error.HTTPError as error:
        with error:
            status, answer, answer_headers = error.code, error.read(), error.headers
    except urllib.error.URLError as error:
        message = unreachable_message(
            url=url, reason=error.reason, timeout=endpoint.timeout, gives_up=gives_up
        )
        raise SimulatorError(message) from None
    except TimeoutError as error:  # a read that stalls after connecting
        message = unreachable_message(
            url=url, reason=error, timeout=endpoint.timeout, gives_up=gives_up
        )
        raise SimulatorError(message) from None
    except (ConnectionError, http.client.HTTPException) as error:
        detail = str(error) or type(error).__name__
        raise SimulatorError(f"The connection to {url} failed: {detail}.") from None
    elapsed_ms = (time.perf_counter() - started) * 1000
    return Answer(status=status, body=answer, headers=answer_headers, elapsed_ms=elapsed_ms)


def unreachable_message(
    *,
    url: str,
    reason: object,
    timeout: float,
    gives_up: str = "WeChat would have given up and retried",
) -> str:
    """Return the one line to show when no answer came back from `url`."""
    if isinstance(reason, ConnectionRefusedError):
        return f"No server at {url} — is it running? ./serve.sh"
    if isinstance(reason, TimeoutError):
        return f"No answer from {url} within {timeout:g} s: {gives_up}."
    if isinstance(reason, socket.gaierror):
        return f"Cannot resolve the host of {url}: {reason.strerror or reason}."
    if isinstance(reason, ssl.SSLCertVerificationError):
        detail = reason.verify_message or reason.reason or str(reason)
        return (
            f"The TLS certificate of {url} does not verify ({detail}): fix the certificate; "
            "only to test with a self-signed one, pass --insecure."
        )
    if isinstance(reason, ssl.SSLError):
        return f"TLS with {url} failed: {reason.reason or reason} — is it served over https?"
    return f"Cannot reach {url}: {reason}."


def refused_host(answer: Answer) -> bool:
    """Return whether a 400 is Django refusing the Host header (not one of the endpoint's own)."""
    return answer.status == 400 and (
        DJANGO_BAD_REQUEST in answer.body or DJANGO_DISALLOWED_HOST in answer.body
    )


def host_name(host_header: str) -> str:
    """Return the name ALLOWED_HOSTS must hold for `host_header`: without the port."""
    domain, _port = split_domain_port(host_header)
    return domain or host_header


def refusal_message(*, endpoint: Endpoint, answer: Answer, verifying: bool = False) -> str:
    """Return the one line to show when the server answered with an HTTP error or a redirect."""
    url, status = endpoint.url, answer.status
    reason = reason_text(answer.body)
    shown = f" ({reason})" if reason else ""
    if 300 <= status < 400:
        target = answer.location or "(no Location)"
        lost = "" if verifying else " and the message would be lost"
        return (
            f"{url} redirects ({status}) to {target}: WeChat does not follow redirects{lost} — "
            "put the final URL in the console (服务器地址) and --url, or stop redirecting /wechat/."
        )
    if refused_host(answer):
        return (
            f"{url}: the server refused the Host header {host_name(endpoint.host_header)!r}: "
            "add it to DJANGO_ALLOWED_HOSTS"
        )
    if status == 403 and "time window" in reason.lower():
        return (
            f"{url} refused the timestamp{shown}: the server's clock and this machine's differ "
            "by more than WECHAT_TIMESTAMP_WINDOW — are both synchronised (NTP)?"
        )
    if verifying:
        if status == 403:
            return (
                f"{url}: the server refused the signature: check WECHAT_TOKEN matches the "
                "console's Token."
            )
        if status == 503:
            return (
                f"{url} is not configured (503){shown}: set WECHAT_TOKEN to the console's Token "
                "and restart wxsite."
            )
        if status == 404:
            return f"Nothing at {url} (404) — the endpoint is /wechat/."
        return (
            f"{url} answered {status}{shown} instead of the echostr: the console's check "
            "would fail."
        )
    if status == 403 and "appid" in reason.lower():
        return (
            f"{url} refused the message's AppID{shown} — is WECHAT_APP_ID the same on both sides?"
        )
    if status == 403:
        return f"{url} refused the signature{shown} — is WECHAT_TOKEN the same on both sides?"
    if status == 400 and any(
        word in reason.lower() for word in ("decrypt", "padding", "base64", "length")
    ):
        return (
            f"{url} could not decrypt the message{shown} — "
            "is WECHAT_ENCODING_AES_KEY the same on both sides?"
        )
    if status in (400, 413):
        return f"{url} refused the message with {status}: {reason or 'no reason given'}"
    if status == 503:
        return (
            f"{url} is not configured for this message (503){shown}: check its WECHAT_* settings."
        )
    if status == 404:
        return f"Nothing at {url} (404) — the endpoint is /wechat/."
    return f"{url} answered {status}{shown}: WeChat would show 该公众号暂时无法提供服务."


def reason_text(answer: bytes) -> str:
    """Return the first line of an error answer, shortened, for one-line messages.

    Of an HTML page (a proxy's error page, Django's), its title or first heading instead.
    """
    text = answer.decode("utf-8", "replace").strip()
    heading = HTML_HEADING.search(text) if text.startswith("<") else None
    if heading:
        text = " ".join(re.sub(r"<[^>]*>", " ", heading.group(2)).split())
    first = text.splitlines()[0].strip() if text else ""
    if len(first) > MAX_REASON_CHARS:
        first = first[: MAX_REASON_CHARS - 1] + "…"
    return first


def open_answer(*, answer: bytes, endpoint: Endpoint, encrypted: bool) -> bytes:
    """Return the plaintext reply XML in `answer`, checked the way WeChat checks it."""
    try:
        return open_reply(body=answer, credentials=endpoint.credentials, encrypted=encrypted)
    except InvalidMsgSignature:
        raise SimulatorError(
            "The reply does not verify: signature mismatch (MsgSignature) — "
            "is WECHAT_TOKEN the same on both sides?"
        ) from None
    except (AppIdMismatch, DecryptError) as error:
        raise SimulatorError(
            f"The reply does not decrypt (AES/AppID): {error.message} — are "
            "WECHAT_ENCODING_AES_KEY and WECHAT_APP_ID the same on both sides?"
        ) from None
    except WeChatError as error:
        raise SimulatorError(
            f"The encrypted reply is not what WeChat expects: {error.message}"
        ) from None


def read_reply(reply_xml: bytes) -> dict[str, Any]:
    """Return the fields of the reply XML, or {} for `success` / an empty body (no reply)."""
    if reply_xml.strip() in (b"", b"success"):
        return {}
    try:
        fields = parse_xml(reply_xml)
    except WeChatError as error:
        raise SimulatorError(
            f"The answer is not WeChat reply XML ({error.message}): the follower would see "
            "该公众号暂时无法提供服务."
        ) from None
    if not fields.get("MsgType"):
        raise SimulatorError("The reply has no MsgType: WeChat would not show it.")
    return fields


# --- showing the reply ------------------------------------------------------------------------


def describe_reply(reply: Mapping[str, Any], *, openid: str = "", account: str = "") -> list[str]:
    """Return readable lines for a reply: its type, then content, media id or articles.

    With `openid` and `account`, also warn when the reply is not addressed back to the
    follower from the account (To/From not swapped), which WeChat would not deliver.
    """
    if not reply:
        return ["(no reply: the endpoint answered success)"]
    msg_type = _text(reply, "MsgType")
    describe = _DESCRIBERS.get(msg_type.lower(), _describe_other)
    lines = describe(reply)
    to_user, from_user = _text(reply, "ToUserName"), _text(reply, "FromUserName")
    if openid and to_user != openid:
        lines.append(f"  ! the reply is addressed to {to_user!r}, not the follower {openid!r}")
    if account and from_user != account:
        lines.append(f"  ! the reply comes from {from_user!r}, not the account {account!r}")
    return lines


def _text(fields: Mapping[str, Any], name: str) -> str:
    value = fields.get(name)
    return value if isinstance(value, str) else ""


def _section(fields: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = fields.get(name)
    return value if isinstance(value, Mapping) else {}


def _describe_text(reply: Mapping[str, Any]) -> list[str]:
    content = _text(reply, "Content")
    return ["text"] + [f"  {line}" for line in content.splitlines() or [""]]


def _describe_media(reply: Mapping[str, Any]) -> list[str]:
    msg_type = _text(reply, "MsgType")
    media = _section(reply, msg_type.capitalize())
    lines = [f"{msg_type}: media id {_text(media, 'MediaId') or '(none)'}"]
    for name in ("Title", "Description"):
        if _text(media, name):
            lines.append(f"  {name.lower()}: {_text(media, name)}")
    return lines


def _describe_music(reply: Mapping[str, Any]) -> list[str]:
    music = _section(reply, "Music")
    lines = [f"music: {_text(music, 'Title') or '(untitled)'}"]
    for name, label in (
        ("Description", "description"),
        ("MusicUrl", "music URL"),
        ("HQMusicUrl", "HQ music URL"),
        ("ThumbMediaId", "thumbnail media id"),
    ):
        if _text(music, name):
            lines.append(f"  {label}: {_text(music, name)}")
    return lines


def _describe_news(reply: Mapping[str, Any]) -> list[str]:
    items = _section(reply, "Articles").get("item", [])
    articles = (
        [items] if isinstance(items, Mapping) else [i for i in items if isinstance(i, Mapping)]
    )
    count = _text(reply, "ArticleCount") or str(len(articles))
    lines = [f"news: {count} article{'' if count == '1' else 's'}"]
    for number, article in enumerate(articles, start=1):
        lines.append(f"  {number}. {_text(article, 'Title')}")
        for name in ("Description", "Url", "PicUrl"):
            if _text(article, name):
                lines.append(f"     {name.lower()}: {_text(article, name)}")
    return lines


def _describe_transfer(reply: Mapping[str, Any]) -> list[str]:
    account = _text(_section(reply, "TransInfo"), "KfAccount")
    return [f"transfer to customer service: {account or 'any agent'}"]


def _describe_other(reply: Mapping[str, Any]) -> list[str]:
    return [f"{_text(reply, 'MsgType')}: (a reply type WeChat does not document; see --raw)"]


_DESCRIBERS = {
    TextReply.msg_type: _describe_text,
    ImageReply.msg_type: _describe_media,
    VoiceReply.msg_type: _describe_media,
    VideoReply.msg_type: _describe_media,
    MusicReply.msg_type: _describe_music,
    NewsReply.msg_type: _describe_news,
    TransferCustomerServiceReply.msg_type: _describe_transfer,
}


def describe_message(*, msg_type: str, fields: Mapping[str, Any]) -> str:
    """Return one line saying what was sent: `text: 你好`, `event CLICK MENU_1` …"""
    if msg_type == MsgType.EVENT:
        parts = [MsgType.EVENT.value, _text(fields, "Event"), _text(fields, "EventKey")]
        return " ".join(part for part in parts if part)
    detail = {
        MsgType.TEXT: _text(fields, "Content"),
        MsgType.IMAGE: _text(fields, "MediaId"),
        MsgType.VOICE: _text(fields, "Recognition") or _text(fields, "MediaId"),
        MsgType.VIDEO: _text(fields, "MediaId"),
        MsgType.SHORTVIDEO: _text(fields, "MediaId"),
        MsgType.LOCATION: " ".join(
            part
            for part in (
                _text(fields, "Location_X"),
                _text(fields, "Location_Y"),
                _text(fields, "Label"),
            )
            if part
        ),
        MsgType.LINK: _text(fields, "Url"),
        MsgType.MINIPROGRAMPAGE: _text(fields, "PagePath"),
    }.get(msg_type, "")
    detail = " ".join(detail.split())
    return f"{msg_type}: {detail}" if detail else msg_type
