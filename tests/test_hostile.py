"""Hostile requests at the HTTP level: refused with the right 4xx, early, leaking nothing.

One table, `CASES`: forged and misused signatures, every missing parameter (GET and POST),
timestamps that are stale, in the future or not plain integers, bodies that are not XML, are
truncated, nested, declare entities or an external DTD, are not UTF-8; encrypted envelopes with
broken base64, padding, length field or AppID, or sealed with a key we no longer hold; methods
and content types WeChat never uses. Each case says the status it must get and, for the ones an
operator must see, the SecurityEvent it must leave. A few cases are accepted on purpose (an
unknown MsgType, another Content-Type, a huge but allowed Content): they say 200 and are stored.

For every case: the status is the expected one (never 500), a refused request never reaches
the handling step (storage, rule matching) and a forbidden DOCTYPE never reaches lxml, the
XML is parsed at most twice (outer envelope and decrypted message), the answer is short plain
text with no traceback, setting, token, key or echo of the attacker's input, and
a refused request leaves no Message row. Tests after the table cover what needs two requests
(replays, WeChat's own retries) or a look inside the server (how much of a body it reads).

Every test runs on each endpoint path: /wechat/ (the environment account) and /wechat/<slug>/
(a stored account), and a recorded event names the account of the URL.
"""

from __future__ import annotations

import base64
import io
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlencode

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from django.conf import settings as django_settings
from django.test.client import ClientHandler
from lxml import etree

from replies.endpoint import security_log as security
from replies.endpoint import views
from replies.models import Message, SecurityEvent
from replies.protocol import compute_signature, decode_aes_key, encrypt_message, messages, parse_xml
from replies.protocol.client import build_message_xml
from tests import accounts_helpers
from tests.conftest import ACCOUNT, AES_KEY, APP_ID, OLD_AES_KEY, OPENID, TOKEN

pytestmark = pytest.mark.django_db

# Fixtures: each endpoint path in turn (/wechat/ and a stored account's /wechat/<slug>/).
endpoint = accounts_helpers.endpoint
endpoint_wechat = accounts_helpers.endpoint_wechat

MARKER = "MARKER7f3a"  # put in hostile input; must never come back in an answer
LIMIT = 1024 * 1024  # WECHAT_MAX_BODY_BYTES in tests/conftest.py


@dataclass
class Request:
    query: dict[str, str] | str  # a str is sent as the raw query string
    body: bytes = b""
    method: str = "POST"
    content_type: str = "text/xml"


@dataclass(frozen=True)
class Case:
    build: Callable  # (wechat, settings) -> Request
    status: int
    event: str | None = None  # SecurityEvent.code the refusal must leave
    check: Callable[[Message], None] | None = field(default=None)  # for accepted cases


# --- building blocks ------------------------------------------------------------------------------


def now() -> str:
    return str(int(time.time()))


def plain_xml(wechat, content: str = f"hello {MARKER}", **fields) -> bytes:
    return wechat.xml("text", Content=content, **fields)


def message_xml(**fields) -> bytes:
    """A message with the fields given (None drops one), as raw XML with CDATA strings."""
    values = {
        "ToUserName": ACCOUNT,
        "FromUserName": OPENID,
        "CreateTime": now(),
        "MsgType": "text",
        "Content": "x",
        "MsgId": str(time.time_ns()),
    }
    values.update(fields)
    parts = [
        f"<{name}><![CDATA[{value}]]></{name}>"
        for name, value in values.items()
        if value is not None
    ]
    return ("<xml>" + "".join(parts) + "</xml>").encode()


def signed_query(timestamp: str | None = None, nonce: str | None = None, token=TOKEN) -> dict:
    timestamp = now() if timestamp is None else timestamp
    nonce = nonce if nonce is not None else str(time.time_ns())
    return {
        "signature": compute_signature(token, timestamp, nonce),
        "timestamp": timestamp,
        "nonce": nonce,
        "openid": OPENID,
    }


def with_body(body: bytes, content_type: str = "text/xml"):
    """A correctly signed plaintext POST carrying `body`."""
    return lambda w, s: Request(signed_query(), body, content_type=content_type)


def with_xml(content_type: str = "text/xml", **fields):
    return lambda w, s: Request(signed_query(), message_xml(**fields), content_type=content_type)


def query_edit(edit: Callable[[dict], dict], *, mode="plain", method="POST"):
    """A genuine signed request whose query `edit` then changes (drop, forge, …)."""

    def build(wechat, settings):
        query, body = wechat.signed(plain_xml(wechat), mode=mode)
        if method == "GET":
            query = {k: query[k] for k in ("signature", "timestamp", "nonce")}
            query["echostr"] = f"echo{MARKER}"
            body = b""
        return Request(edit(dict(query)), body, method=method)

    return build


def drop(name, **kw):
    return query_edit(lambda q: {k: v for k, v in q.items() if k != name}, **kw)


def set_(kw=None, **values):
    return query_edit(lambda q: q | values, **(kw or {}))


def timestamp_signed_as(text: str, *, method="POST"):
    """Signed correctly over `text` as timestamp: only the format check can refuse it."""

    def build(wechat, settings):
        query = signed_query(timestamp=text)
        if method == "GET":
            del query["openid"]
            return Request(query | {"echostr": "e"}, method="GET")
        return Request(query, plain_xml(wechat))

    return build


def other_token(method="POST"):
    def build(wechat, settings):
        query = signed_query(token="not-" + TOKEN)
        if method == "GET":
            return Request(query | {"echostr": "e"}, method="GET")
        return Request(query, plain_xml(wechat))

    return build


def method(name: str):
    def build(wechat, settings):
        query, body = wechat.signed(plain_xml(wechat))
        return Request(query, body, method=name)

    return build


# --- encrypted envelopes --------------------------------------------------------------------------

FIXED_XML = build_message_xml(
    msg_type="text",
    from_user=OPENID,
    to_user=ACCOUNT,
    create_time=1_700_000_000,
    Content="sealed",
    MsgId=4242,
)


def raw_encrypt(plaintext: bytes, key: str = AES_KEY) -> str:
    """AES-256-CBC with WeChat's key and IV but none of its framing: for broken frames."""
    aes_key = decode_aes_key(key)
    encryptor = Cipher(algorithms.AES(aes_key), modes.CBC(aes_key[:16])).encryptor()
    return base64.b64encode(encryptor.update(plaintext) + encryptor.finalize()).decode()


def frame(xml: bytes = FIXED_XML, *, app_id=APP_ID, length=None, pad=None) -> bytes:
    """WeChat's plaintext frame, optionally with a lying length field or bad padding."""
    body = b"R" * 16 + (len(xml) if length is None else length).to_bytes(4, "big")
    body += xml + app_id.encode()
    n = 32 - len(body) % 32
    return body + (bytes([n]) * n if pad is None else pad(n))


def envelope(encrypt: str, *, msg_signature_over: str | None = None, outer: bytes = b""):
    """A safe-mode POST whose msg_signature is right for `encrypt` (or for another value)."""

    def build(wechat, settings):
        timestamp, nonce = now(), str(time.time_ns())
        query = {
            "signature": compute_signature(TOKEN, timestamp, nonce),
            "timestamp": timestamp,
            "nonce": nonce,
            "encrypt_type": "aes",
            "msg_signature": compute_signature(
                TOKEN,
                timestamp,
                nonce,
                encrypt if msg_signature_over is None else msg_signature_over,
            ),
        }
        root = etree.Element("xml")
        etree.SubElement(root, "ToUserName").text = etree.CDATA(ACCOUNT)
        etree.SubElement(root, "Encrypt").text = etree.CDATA(encrypt)
        body = etree.tostring(root)
        if outer:
            body = outer + body
        return Request(query, body)

    return build


def sealed(xml: bytes, *, key: str = AES_KEY, app_id: str = APP_ID) -> str:
    return encrypt_message(xml=xml, key=decode_aes_key(key), app_id=app_id, random_prefix=b"P" * 16)


def aes_unconfigured(wechat, settings):
    wechat.endpoint.configure(aes_key="")
    return envelope(sealed(FIXED_XML))(wechat, settings)


def deeply_nested(depth: int) -> bytes:
    inner = "<a>" * depth + "x" + "</a>" * depth
    return message_xml(Content=None).replace(b"</xml>", inner.encode() + b"</xml>")


BILLION_LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY a "'
    + MARKER.encode()
    + b'">'
    + b"".join(
        b'<!ENTITY %c "%s">' % (ord("b") + i, (b"&%c;" % (ord("a") + i)) * 10) for i in range(9)
    )
    + b"]><xml><Content>&j;</Content></xml>"
)
QUADRATIC = (
    b'<!DOCTYPE xml [<!ENTITY big "'
    + b"A" * 50_000
    + b'">]><xml><Content>'
    + b"&big;" * 1000
    + b"</Content></xml>"
)


def content_is(expected: str):
    def check(message: Message) -> None:
        assert message.content == expected

    return check


# --- the table ------------------------------------------------------------------------------------

CASES: dict[str, Case] = {
    # URL verification (GET)
    "GET missing signature": Case(drop("signature", method="GET"), 400),
    "GET missing timestamp": Case(drop("timestamp", method="GET"), 400),
    "GET missing nonce": Case(drop("nonce", method="GET"), 400),
    "GET missing echostr": Case(drop("echostr", method="GET"), 400),
    "GET empty echostr": Case(set_({"method": "GET"}, echostr=""), 400),
    "GET forged signature": Case(
        set_({"method": "GET"}, signature="0" * 40), 403, "invalid_signature"
    ),
    "GET signature of another token": Case(other_token("GET"), 403, "invalid_signature"),
    "GET stale timestamp": Case(
        timestamp_signed_as(str(int(time.time()) - 3600), method="GET"), 403, "stale_timestamp"
    ),
    "GET timestamp with a sign": Case(timestamp_signed_as("+1", method="GET"), 400),
    # signatures (plaintext POST)
    "forged signature": Case(set_(signature="d" * 40), 403, "invalid_signature"),
    "empty signature": Case(set_(signature=""), 403, "invalid_signature"),
    "non-ASCII signature": Case(set_(signature="é" * 40), 403, "invalid_signature"),
    "10 kB signature": Case(set_(signature="a" * 10_000), 403, "invalid_signature"),
    "signature of another token": Case(other_token(), 403, "invalid_signature"),
    "signature reused with another nonce": Case(set_(nonce="123456"), 403, "invalid_signature"),
    "signature reused with the next second": Case(
        query_edit(lambda q: q | {"timestamp": str(int(q["timestamp"]) + 1)}),
        403,
        "invalid_signature",
    ),
    "invalid percent-encoding in the query": Case(
        lambda w, s: Request("signature=%ff%fe&timestamp=" + now() + "&nonce=1", message_xml()),
        403,
        "invalid_signature",
    ),
    "msg_signature alone in plaintext mode": Case(
        query_edit(
            lambda q: (
                {k: v for k, v in q.items() if k != "signature"} | {"msg_signature": q["signature"]}
            )
        ),
        400,
    ),
    "unknown encrypt_type": Case(set_(encrypt_type="rot13"), 400),
    # missing parameters (POST)
    "missing signature": Case(drop("signature"), 400),
    "missing timestamp": Case(drop("timestamp"), 400),
    "missing nonce": Case(drop("nonce"), 400),
    "empty nonce": Case(set_(nonce=""), 400),
    "aes missing msg_signature": Case(drop("msg_signature", mode="aes"), 400),
    "aes missing timestamp": Case(drop("timestamp", mode="aes"), 400),
    "aes missing nonce": Case(drop("nonce", mode="aes"), 400),
    # timestamps: signed correctly, so only the window and format checks can refuse them
    "timestamp 1 hour stale": Case(
        timestamp_signed_as(str(int(time.time()) - 3600)), 403, "stale_timestamp"
    ),
    "timestamp 1 hour ahead": Case(
        timestamp_signed_as(str(int(time.time()) + 3600)), 403, "stale_timestamp"
    ),
    "timestamp zero": Case(timestamp_signed_as("0"), 403, "stale_timestamp"),
    "timestamp with +": Case(lambda w, s: timestamp_signed_as("+" + now())(w, s), 400),
    "timestamp with -": Case(timestamp_signed_as("-1"), 400),
    "timestamp with a leading space": Case(
        lambda w, s: timestamp_signed_as(" " + now())(w, s), 400
    ),
    "timestamp with a trailing newline": Case(
        lambda w, s: timestamp_signed_as(now() + "\n")(w, s), 400
    ),
    "timestamp with 40 digits": Case(timestamp_signed_as("9" * 40), 400),
    "timestamp in milliseconds": Case(lambda w, s: timestamp_signed_as(now() + "123")(w, s), 400),
    "timestamp in Arabic-Indic digits": Case(
        lambda w, s: timestamp_signed_as(
            now().translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))
        )(w, s),
        400,
    ),
    "timestamp with underscores": Case(timestamp_signed_as("1_700_000_000"), 400),
    "timestamp as a float": Case(lambda w, s: timestamp_signed_as(now() + ".0")(w, s), 400),
    # bodies that are not WeChat XML
    "JSON body": Case(
        with_body(b'{"MsgType": "text", "Content": "' + MARKER.encode() + b'"}'), 400
    ),
    "HTML body": Case(with_body(b"<html><body>" + MARKER.encode() + b"</body></html>"), 400),
    "the word success": Case(with_body(b"success"), 400),
    "whitespace only": Case(with_body(b" \r\n\t "), 400),
    "truncated XML": Case(lambda w, s: Request(signed_query(), message_xml()[:-9]), 400),
    "unclosed CDATA": Case(with_body(b"<xml><Content><![CDATA[x</Content></xml>"), 400),
    "nested 9 levels (limit 8)": Case(with_body(deeply_nested(8)), 400),
    "nested 100 000 levels": Case(with_body(deeply_nested(100_000)), 400),
    "undeclared entity": Case(with_body(b"<xml><Content>&xxe;</Content></xml>"), 400),
    "NUL byte": Case(with_body(message_xml(Content="a\x00b")), 400),
    "character reference to NUL": Case(with_body(b"<xml><Content>&#0;</Content></xml>"), 400),
    "character reference to a control char": Case(
        with_body(b"<xml><Content>&#1;</Content></xml>"), 400
    ),
    # DTDs and entities
    "XXE local file": Case(
        with_body(
            b'<!DOCTYPE xml [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
            b"<xml><ToUserName>a</ToUserName><Content>&x;</Content></xml>"
        ),
        400,
        "forbidden_xml",
    ),
    "XXE network URL": Case(
        with_body(
            b'<!DOCTYPE xml [<!ENTITY x SYSTEM "http://127.0.0.1:9/' + MARKER.encode() + b'">]>'
            b"<xml><Content>&x;</Content></xml>"
        ),
        400,
        "forbidden_xml",
    ),
    "XXE parameter entity": Case(
        with_body(
            b'<!DOCTYPE xml [<!ENTITY % p SYSTEM "http://127.0.0.1:9/p.dtd"> %p;]>'
            b"<xml><Content>x</Content></xml>"
        ),
        400,
        "forbidden_xml",
    ),
    "external DTD": Case(
        with_body(b'<!DOCTYPE xml SYSTEM "http://127.0.0.1:9/x.dtd"><xml/>'), 400, "forbidden_xml"
    ),
    "billion laughs": Case(with_body(BILLION_LAUGHS), 400, "forbidden_xml"),
    "quadratic blowup": Case(with_body(QUADRATIC), 400, "forbidden_xml"),
    "DOCTYPE after a BOM": Case(
        with_body("\ufeff".encode() + b'<!DOCTYPE xml [<!ENTITY x "y">]><xml/>'),
        400,
        "forbidden_xml",
    ),
    "DOCTYPE after a comment": Case(
        with_body(b'<!-- hi --><!DOCTYPE xml [<!ENTITY x "y">]><xml/>'), 400, "forbidden_xml"
    ),
    "DOCTYPE after the declaration and blank lines": Case(
        with_body(b'<?xml version="1.0"?>\n\n  <!DOCTYPE xml [<!ENTITY x "y">]><xml/>'),
        400,
        "forbidden_xml",
    ),
    # encodings
    "overlong UTF-8": Case(
        with_body(message_xml(Content="PLACEHOLDER").replace(b"PLACEHOLDER", b"\xc0\xaf")), 400
    ),
    "UTF-8-encoded surrogate": Case(
        with_body(message_xml(Content="PLACEHOLDER").replace(b"PLACEHOLDER", b"\xed\xa0\x80")), 400
    ),
    "UTF-16 with BOM": Case(with_body(message_xml().decode().encode("utf-16")), 400),
    "UTF-16-BE without BOM": Case(with_body(message_xml().decode().encode("utf-16-be")), 400),
    "declared UTF-16 but UTF-8": Case(
        with_body(b'<?xml version="1.0" encoding="UTF-16"?>' + message_xml()), 400
    ),
    "Latin-1 declared and used": Case(
        with_body(
            b'<?xml version="1.0" encoding="ISO-8859-1"?>'
            + message_xml(Content="caf\u00e9").decode().encode("latin-1")
        ),
        400,
    ),
    # sizes
    "body of 10 MB": Case(with_body(b"<xml>" + b"a" * (10 * 1024 * 1024) + b"</xml>"), 413),
    "body one byte over the limit": Case(with_body(b"a" * (LIMIT + 1)), 413),
    # the message fields
    "missing MsgType": Case(with_xml(MsgType=None), 400),
    "empty MsgType": Case(with_xml(MsgType=""), 400),
    "MsgType twice": Case(
        with_body(message_xml().replace(b"</xml>", b"<MsgType>image</MsgType></xml>")), 400
    ),
    "MsgType with child elements": Case(
        with_body(
            message_xml(MsgType=None).replace(b"</xml>", b"<MsgType><a>t</a></MsgType></xml>")
        ),
        400,
    ),
    "missing FromUserName": Case(with_xml(FromUserName=None), 400),
    "missing ToUserName": Case(with_xml(ToUserName=None), 400),
    "CreateTime of 13 digits": Case(with_xml(CreateTime="1" * 13), 400),
    "CreateTime negative": Case(with_xml(CreateTime="-1"), 400),
    "CDATA in a tag name": Case(with_body(b"<xml><<![CDATA[Content]]>>x</Content></xml>"), 400),
    "CDATA inside CDATA": Case(
        with_body(message_xml(Content="<![CDATA[inner]]>")),
        400,  # the first ]]> closes it
    ),
    # accepted on purpose: stored, answered 200
    "unknown MsgType is stored": Case(
        with_xml(MsgType="hologram", Content=None), 200, check=lambda m: m.msg_type == "hologram"
    ),
    "upper-case MsgType is stored": Case(with_xml(MsgType="TEXT"), 200),
    "application/json with an XML body is read as XML": Case(
        with_xml("application/json", Content="json?"), 200, check=content_is("json?")
    ),
    "form content type with an XML body is read as XML": Case(
        with_xml("application/x-www-form-urlencoded", Content="form?"),
        200,
        check=content_is("form?"),
    ),
    "multipart content type with an XML body is read as XML": Case(
        with_xml("multipart/form-data; boundary=zz", Content="multi?"),
        200,
        check=content_is("multi?"),
    ),
    "no content type": Case(with_xml("", Content="none?"), 200, check=content_is("none?")),
    "]]> split over two CDATA sections": Case(
        with_body(
            message_xml(Content="PLACEHOLDER").replace(
                b"<![CDATA[PLACEHOLDER]]>", b"<![CDATA[a]]]]><![CDATA[>b]]>"
            )
        ),
        200,
        check=content_is("a]]>b"),
    ),
    "]]> escaped in plain text": Case(
        with_body(
            message_xml(Content="PLACEHOLDER").replace(
                b"<![CDATA[PLACEHOLDER]]>", b"x]]&gt;y&lt;z&amp;"
            )
        ),
        200,
        check=content_is("x]]>y<z&"),
    ),
    "a DOCTYPE quoted in CDATA is only text": Case(
        with_xml(Content='<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>&e;'),
        200,
        check=content_is('<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>&e;'),
    ),
    "a stylesheet processing instruction is ignored": Case(
        with_body(b'<?xml-stylesheet href="http://127.0.0.1:9/s.xsl"?>' + message_xml()), 200
    ),
    "enormous Content under the limit is stored whole": Case(
        with_xml(Content="长" * ((LIMIT - 400) // 3)),
        200,
        check=lambda m: len(m.content) == (LIMIT - 400) // 3 and set(m.content) == {"长"},
    ),
    "CreateTime of 12 digits (year 33658) is stored": Case(with_xml(CreateTime="9" * 12), 200),
    # encrypted envelopes
    "aes Encrypt not base64": Case(envelope(f"{MARKER}!!not base64"), 400, "invalid_base64"),
    "aes Encrypt with a newline inside": Case(
        envelope(sealed(FIXED_XML)[:40] + "\n" + sealed(FIXED_XML)[40:]), 400, "invalid_base64"
    ),
    "aes Encrypt with its padding cut": Case(
        envelope(sealed(FIXED_XML).rstrip("=")[:-1]), 400, "invalid_base64"
    ),
    "aes ciphertext not a block multiple": Case(
        envelope(base64.b64encode(b"z" * 40).decode()), 400, "invalid_length"
    ),
    "aes empty Encrypt": Case(envelope(""), 400),
    "aes pad byte 0": Case(
        envelope(raw_encrypt(frame(pad=lambda n: b"\x00" * n))), 400, "invalid_padding"
    ),
    "aes pad byte 33": Case(
        envelope(raw_encrypt(frame(pad=lambda n: b"\x01" * (n - 1) + b"\x21"))),
        400,
        "invalid_padding",
    ),
    "aes inconsistent padding": Case(
        envelope(raw_encrypt(frame(pad=lambda n: b"\x01" + bytes([n]) * (n - 1)))),
        400,
        "invalid_padding",
    ),
    "aes length field past the end": Case(
        envelope(raw_encrypt(frame(length=10**6))), 400, "invalid_length"
    ),
    "aes length field zero": Case(envelope(raw_encrypt(frame(length=0))), 403, "appid_mismatch"),
    "aes length field short of the XML": Case(
        envelope(raw_encrypt(frame(length=len(FIXED_XML) - 6))), 403, "appid_mismatch"
    ),
    "aes for another AppID": Case(
        envelope(sealed(FIXED_XML, app_id="wx0000000000000000")), 403, "appid_mismatch"
    ),
    "aes for a prefix of our AppID": Case(
        envelope(sealed(FIXED_XML, app_id=APP_ID[:-1])), 403, "appid_mismatch"
    ),
    "aes with the old key after the rotation ended": Case(
        envelope(sealed(FIXED_XML, key=OLD_AES_KEY)), 400, "invalid_padding"
    ),
    "aes msg_signature of another Encrypt": Case(
        envelope(sealed(FIXED_XML), msg_signature_over=sealed(FIXED_XML + b" ")),
        403,
        "invalid_msg_signature",
    ),
    "aes decrypted body is not XML": Case(envelope(sealed(b"not xml " + MARKER.encode())), 400),
    "aes decrypted body has a DOCTYPE": Case(
        envelope(sealed(b'<!DOCTYPE xml [<!ENTITY x SYSTEM "file:///etc/passwd">]><xml/>')),
        400,
        "forbidden_xml",
    ),
    "aes decrypted body is not UTF-8": Case(envelope(sealed(b"<xml>\xff\xfe</xml>")), 400),
    "aes envelope has a DOCTYPE": Case(
        envelope(sealed(FIXED_XML), outer=b'<!DOCTYPE xml [<!ENTITY x "y">]>'),
        400,
        "forbidden_xml",
    ),
    "aes without Encrypt": Case(
        lambda w, s: Request(w.signed(FIXED_XML, mode="aes")[0], message_xml()), 400
    ),
    "aes when no key is configured": Case(aes_unconfigured, 503, "not_configured"),
    # methods WeChat never uses
    "PUT": Case(method("PUT"), 405),
    "DELETE": Case(method("DELETE"), 405),
    "PATCH": Case(method("PATCH"), 405),
    "OPTIONS": Case(method("OPTIONS"), 405),
}

LEAKS = (
    TOKEN,
    AES_KEY,
    OLD_AES_KEY,
    django_settings.SECRET_KEY,
    MARKER,
    "Traceback",
    'File "',
    "site-packages",
    "/work/",
    "lxml",
    "etree",
    "psycopg",
    "django",
    "<html",
    "/etc/passwd",
)


@pytest.fixture
def wechat(endpoint_wechat):
    """WeChat's servers posting to each endpoint path in turn."""
    return endpoint_wechat


@pytest.fixture(autouse=True)
def unthrottled_security_log(monkeypatch):
    # The per-process throttle (60 events a minute) would drop events across this many cases.
    monkeypatch.setattr(security, "_throttle", security._Throttle(10_000))


def send(wechat, request: Request):
    query = request.query if isinstance(request.query, str) else urlencode(request.query)
    path = f"{wechat.path}?{query}"
    if request.method == "GET":
        return wechat.client.get(path)
    return wechat.client.generic(
        request.method, path, data=request.body, content_type=request.content_type
    )


def test_the_table_is_big_enough():
    refused = [case for case in CASES.values() if case.status >= 400]
    assert len(refused) >= 40 and len(CASES) >= 60


class CountingEtree:
    """Stands in for lxml.etree inside replies.protocol.messages, counting parser runs."""

    def __init__(self):
        self.parsed = 0

    def __getattr__(self, name):
        return getattr(etree, name)

    def fromstring(self, body, parser=None):
        self.parsed += 1
        return etree.fromstring(body, parser)


@pytest.fixture
def steps(monkeypatch):
    """Count parser runs and calls of the handling step (storage and rule matching)."""
    parser = CountingEtree()
    handled = []
    real_handle = views.handle_message

    def counting_handle(**kwargs):
        handled.append(kwargs["opened"].mode)
        return real_handle(**kwargs)

    monkeypatch.setattr(messages, "etree", parser)
    monkeypatch.setattr(views, "handle_message", counting_handle)
    return parser, handled


@pytest.mark.parametrize("name", list(CASES))
def test_hostile_request(wechat, settings, name, steps):
    case = CASES[name]
    request = case.build(wechat, settings)
    parser, handled = steps
    response = send(wechat, request)

    assert response.status_code == case.status, response.content[:300]
    # What stood for "answers in under a second": no case parses more than the envelope and
    # the message, and a refusal comes before the handling step, never after it.
    assert parser.parsed <= 2, parser.parsed
    if case.event == "forbidden_xml":
        # Only an encrypted request's envelope may have been parsed; the DOCTYPE never is.
        query = request.query if isinstance(request.query, str) else urlencode(request.query)
        envelope = 1 if "encrypt_type=aes" in query.lower() else 0
        assert parser.parsed <= envelope, "a DOCTYPE is refused before lxml sees it"
    if case.status == 200:
        assert len(handled) == (1 if request.method == "POST" else 0), handled
        assert SecurityEvent.objects.count() == 0
        if request.method == "POST":
            message = Message.objects.get()
            if case.check:
                assert case.check(message) is not False
        return

    assert handled == [], "a refused request never reaches handle_message"
    text = response.content.decode("utf-8", "replace")
    if case.status != 405:  # Django's own 405 is empty, with an Allow header
        assert 0 < len(text) <= 200, "a short reason, not a page"
        assert response["Content-Type"].startswith("text/plain")
    for secret in LEAKS:
        assert secret.lower() not in text.lower(), f"answer leaks {secret!r}: {text!r}"
    assert Message.objects.count() == 0, "a refused request leaves no message"
    codes = list(SecurityEvent.objects.values_list("code", flat=True))
    assert codes == ([case.event] if case.event else []), codes
    assert set(SecurityEvent.objects.values_list("account", flat=True)) <= {wechat.account_id}
    for event in SecurityEvent.objects.all():
        stored = " ".join(str(value) for value in vars(event).values())
        assert TOKEN not in stored and AES_KEY not in stored and OLD_AES_KEY not in stored


# --- replays and retries ------------------------------------------------------------------------


def test_captured_plaintext_query_with_another_body_is_refused_and_the_same_request_answered(
    wechat,
):
    """Plaintext mode signs no body: the signed query reused with another body inside the
    window is a forgery (403, recorded, nothing stored); the identical request again is
    WeChat's own retry and gets the stored reply, byte for byte."""
    from tests.factories import make_rule

    make_rule(keywords=["价格"], text="99 元")
    query, body = wechat.signed(wechat.xml("text", Content="价格"))
    first = wechat.post_raw(query, body)
    assert first.status_code == 200 and parse_xml(first.content)["Content"] == "99 元"

    for forged in (
        wechat.xml("text", Content="价格"),  # another message
        wechat.xml("event", Event="subscribe"),
    ):
        response = wechat.post_raw(query, forged)
        assert response.status_code == 403, response.content
    assert Message.objects.count() == 1
    assert set(SecurityEvent.objects.values_list("code", flat=True)) == {"replayed_request"}

    for _ in range(3):  # WeChat tries three times in all
        retry = wechat.post_raw(query, body)
        assert retry.status_code == 200 and retry.content == first.content
    assert Message.objects.count() == 1


def test_captured_plaintext_query_with_the_same_msgid_but_another_text_is_refused(wechat):
    """The forger keeps the MsgId, FromUserName and CreateTime of the captured message and
    changes only its text: the body differs from what was signed-and-stored, so it is a
    forgery like any other (403, recorded), not a retry."""
    query, body = wechat.signed(wechat.xml("text", Content="original"))
    assert wechat.post_raw(query, body).status_code == 200
    forged = body.replace(b"original", b"forged!!")
    response = wechat.post_raw(query, forged)
    assert response.status_code == 403, response.content
    assert list(SecurityEvent.objects.values_list("code", flat=True)) == ["replayed_request"]
    assert list(Message.objects.values_list("content", flat=True)) == ["original"]


def test_captured_safe_mode_query_cannot_carry_another_ciphertext(wechat):
    query, body = wechat.signed(wechat.xml("text", Content="sealed"), mode="aes")
    _, other = wechat.signed(wechat.xml("text", Content="forged"), mode="aes")
    assert wechat.post_raw(query, other).status_code == 403
    first = wechat.post_raw(query, body)
    retry = wechat.post_raw(query, body)
    assert first.status_code == retry.status_code == 200
    assert wechat.reply(first, mode="aes") == wechat.reply(retry, mode="aes")
    assert list(Message.objects.values_list("content", flat=True)) == ["sealed"]


def test_compatible_mode_trusts_only_the_encrypted_copy(wechat):
    """In compatible mode the clear fields beside Encrypt are unsigned: forged ones are ignored."""
    xml = wechat.xml("text", Content="the real text")
    query, body = wechat.signed(xml, mode="compat")
    forged = body.replace(b"the real text", b"forged text")
    assert forged != body
    assert wechat.post_raw(query, forged).status_code == 200
    stored = Message.objects.get()
    assert stored.content == "the real text" and stored.mode == "compat"


def test_xinclude_is_not_processed(wechat):
    body = message_xml(Content="x").replace(
        b"</xml>",
        b'<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="file:///etc/passwd"/></xml>',
    )
    response = wechat.post_raw(signed_query(), body)
    assert response.status_code == 200
    stored = Message.objects.get()
    assert "root:" not in stored.raw_xml and "root:" not in stored.content


def test_echostr_is_returned_as_inert_plain_text(wechat):
    query = signed_query() | {"echostr": "<script>alert(1)</script>"}
    del query["openid"]
    response = wechat.get(query)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    assert response["X-Content-Type-Options"] == "nosniff"


@pytest.mark.django_db(transaction=True)  # autocommit, as in production
def test_security_event_is_recorded_even_with_nul_in_the_query(wechat):
    """PostgreSQL text cannot hold NUL: a forged request with openid=%00 must not slip past
    the security log because the event row cannot be written."""
    query = signed_query() | {"signature": "e" * 40, "openid": "o\x00evil"}
    response = wechat.client.post(
        f"{wechat.path}?{urlencode(query)}",
        data=message_xml(),
        content_type="text/xml",
        HTTP_USER_AGENT="agent\x00x",
    )
    assert response.status_code == 403
    assert list(SecurityEvent.objects.values_list("code", flat=True)) == ["invalid_signature"]


# --- how much of a body the server reads --------------------------------------------------------


class CountingInput(io.RawIOBase):
    """A request body of `size` bytes that counts what the server reads of it."""

    def __init__(self, size: int):
        self.remaining = size
        self.consumed = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        n = min(len(buffer), self.remaining)
        buffer[:n] = b"a" * n
        self.remaining -= n
        self.consumed += n
        return n


def post_stream(query: dict, stream: CountingInput, content_length: str | None, *, path: str):
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": path,
        "QUERY_STRING": urlencode(query),
        "CONTENT_TYPE": "text/xml",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "80",
        "REMOTE_ADDR": "127.0.0.1",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.input": stream,
        "wsgi.url_scheme": "http",
        "wsgi.errors": io.StringIO(),
    }
    if content_length is not None:
        environ["CONTENT_LENGTH"] = content_length
    return ClientHandler(enforce_csrf_checks=False)(environ)


def test_a_10_mb_body_is_refused_413_before_a_byte_of_it_is_read(endpoint):
    stream = CountingInput(10 * 1024 * 1024)
    response = post_stream(signed_query(), stream, str(10 * 1024 * 1024), path=endpoint.path)
    assert response.status_code == 413
    assert stream.consumed == 0


@pytest.mark.parametrize(
    "declared, status, most",
    [
        (str(LIMIT), 400, LIMIT),  # allowed size, but what arrives is not XML
        (None, 400, 0),  # no Content-Length (chunked): Django reads nothing
        ("lots", 400, 0),  # malformed Content-Length
    ],
)
def test_a_huge_stream_is_read_no_further_than_the_limit(endpoint, declared, status, most):
    stream = CountingInput(10 * 1024 * 1024)
    response = post_stream(signed_query(), stream, declared, path=endpoint.path)
    assert response.status_code == status
    assert stream.consumed <= most
