"""Every bad request gets a clear 4xx before the costly steps, leaks nothing, stores nothing;
on each endpoint path (/wechat/ and a stored account's /wechat/<slug>/)."""

import base64
import time
from urllib.parse import urlencode

import pytest
from lxml import etree

from replies.endpoint import views
from replies.models import Message
from replies.protocol import compute_signature, decode_aes_key, encrypt_message, transport
from tests import accounts_helpers
from tests.conftest import AES_KEY, TOKEN

pytestmark = pytest.mark.django_db

# Fixtures: each endpoint path in turn (/wechat/ and a stored account's /wechat/<slug>/).
endpoint = accounts_helpers.endpoint
endpoint_wechat = accounts_helpers.endpoint_wechat


@pytest.fixture
def wechat(endpoint_wechat):
    """WeChat's servers posting to each endpoint path in turn."""
    return endpoint_wechat


def _plain(wechat, **fields):
    return wechat.signed(wechat.xml("text", Content="hello", **fields))


def _drop(name):
    def case(wechat):
        query, body = _plain(wechat)
        query.pop(name)
        return query, body

    return case


def _with_query(**overrides):
    def case(wechat):
        query, body = _plain(wechat)
        query.update(overrides)
        return query, body

    return case


def _timestamp(offset):
    def case(wechat):
        return wechat.signed(wechat.xml("text", Content="x"), timestamp=int(time.time()) + offset)

    return case


def _body(body: bytes):
    def case(wechat):
        query, _ = _plain(wechat)
        return query, body

    return case


def _aes_envelope(encrypt: str):
    """A correctly signed safe-mode request whose Encrypt value is `encrypt`."""

    def case(wechat):
        timestamp, nonce = str(int(time.time())), "5550001"
        query = {
            "signature": compute_signature(TOKEN, timestamp, nonce),
            "timestamp": timestamp,
            "nonce": nonce,
            "encrypt_type": "aes",
            "msg_signature": compute_signature(TOKEN, timestamp, nonce, encrypt),
        }
        root = etree.Element("xml")
        etree.SubElement(root, "ToUserName").text = etree.CDATA("gh_x")
        etree.SubElement(root, "Encrypt").text = etree.CDATA(encrypt)
        return query, etree.tostring(root)

    return case


def _raw_aes(plaintext: bytes) -> str:
    """Encrypt arbitrary bytes with our key, no WeChat framing: for broken-framing cases."""
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    key = decode_aes_key(AES_KEY)
    encryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    return base64.b64encode(encryptor.update(plaintext) + encryptor.finalize()).decode()


_XML = (
    b"<xml><ToUserName>a</ToUserName><FromUserName>b</FromUserName>"
    b"<CreateTime>1</CreateTime><MsgType>text</MsgType></xml>"
)

CASES = {
    "wrong signature": (_with_query(signature="f" * 40), 403),
    "signature of another token": (
        lambda w: (
            lambda q, b: (
                q | {"signature": compute_signature("other", q["timestamp"], q["nonce"])},
                b,
            )
        )(*_plain(w)),
        403,
    ),
    "missing signature": (_drop("signature"), 400),
    "missing timestamp": (_drop("timestamp"), 400),
    "missing nonce": (_drop("nonce"), 400),
    "empty nonce": (_with_query(nonce=""), 400),
    "timestamp not an integer": (_with_query(timestamp="1e9"), 400),
    "stale timestamp": (_timestamp(-301), 403),
    "future timestamp": (_timestamp(+301), 403),
    "empty body": (_body(b""), 400),
    "not xml": (_body(b'{"MsgType": "text"}'), 400),
    "truncated xml": (_body(_XML[:60]), 400),
    "root is not xml": (_body(b"<html><MsgType>text</MsgType></html>"), 400),
    "xxe local file": (
        _body(
            b'<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY x SYSTEM "file:///etc/passwd">]><xml><Content>&x;</Content></xml>'
        ),
        400,
    ),
    "xxe network": (
        _body(
            b'<!DOCTYPE xml [<!ENTITY x SYSTEM "http://127.0.0.1:9/x">]><xml><Content>&x;</Content></xml>'
        ),
        400,
    ),
    "billion laughs": (
        _body(
            b'<!DOCTYPE lolz [<!ENTITY lol "lol">'
            b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
            b'<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>'
            b"<xml><Content>&lol3;</Content></xml>"
        ),
        400,
    ),
    "invalid utf-8": (_body(_XML.replace(b">a<", b">\xff\xfe<")), 400),
    "utf-16 body": (_body("<xml><MsgType>text</MsgType></xml>".encode("utf-16")), 400),
    "missing MsgType": (_body(_XML.replace(b"<MsgType>text</MsgType>", b"")), 400),
    "CreateTime not a number": (_body(_XML.replace(b"<CreateTime>1<", b"<CreateTime>soon<")), 400),
    "body over the limit": (_body(b"<xml>" + b"a" * (1024 * 1024) + b"</xml>"), 413),
    "aes missing msg_signature": (
        lambda w: (lambda q, b: ({k: v for k, v in q.items() if k != "msg_signature"}, b))(
            *w.signed(w.xml("text", Content="x"), mode="aes")
        ),
        400,
    ),
    "aes signature in place of msg_signature": (
        lambda w: (lambda q, b: (q | {"msg_signature": q["signature"]}, b))(
            *w.signed(w.xml("text", Content="x"), mode="aes")
        ),
        403,
    ),
    "aes no Encrypt element": (lambda w: (w.signed(_XML, mode="aes")[0], _XML), 400),
    "aes corrupt base64": (_aes_envelope("not base64 at all!!"), 400),
    "aes length not a block multiple": (_aes_envelope(base64.b64encode(b"x" * 20).decode()), 400),
    "aes bad padding": (_aes_envelope(_raw_aes(b"\x00" * 64)), 400),
    "aes length field past the end": (
        _aes_envelope(_raw_aes(b"r" * 16 + (9999).to_bytes(4, "big") + b"<xml/>" + bytes([6]) * 6)),
        400,
    ),
    "aes for another AppID": (
        _aes_envelope(
            encrypt_message(xml=_XML, key=decode_aes_key(AES_KEY), app_id="wxSomeoneElse00001")
        ),
        403,
    ),
    "unknown encrypt_type": (_with_query(encrypt_type="des"), 400),
    # Over DATA_UPLOAD_MAX_NUMBER_FIELDS (1,000), as Django's QueryDict would refuse them.
    "too many query parameters": (_with_query(**{f"p{n}": "x" for n in range(1_001)}), 400),
}


# Refused on the query string (or the body's size) alone: the XML is never parsed.
REFUSED_BEFORE_PARSING = {
    "wrong signature",
    "signature of another token",
    "missing signature",
    "missing timestamp",
    "missing nonce",
    "empty nonce",
    "timestamp not an integer",
    "stale timestamp",
    "future timestamp",
    "body over the limit",
    "aes missing msg_signature",
    "unknown encrypt_type",
    "too many query parameters",
}


@pytest.fixture
def steps(monkeypatch):
    """Count the endpoint's costly steps: parsing a body, and handling (storing, matching)."""
    counts = {"parsed": 0, "handled": 0}
    real_parse = transport._decode_and_parse

    def counting_parse(body):
        counts["parsed"] += 1
        return real_parse(body)

    def handled(**_):
        counts["handled"] += 1
        raise AssertionError("a refused request reached handle_message")

    monkeypatch.setattr(transport, "_decode_and_parse", counting_parse)
    monkeypatch.setattr(views, "handle_message", handled)
    return counts


@pytest.mark.parametrize("name", list(CASES))
def test_bad_request_gets_a_clear_4xx_and_stores_nothing(wechat, name, caplog, steps):
    build, status = CASES[name]
    query, body = build(wechat)
    response = wechat.post_raw(query, body)
    assert response.status_code == status, response.content
    # Refused before the costly steps, not after them: no handling, and no parsing at all
    # when the query string or the size alone condemns the request.
    assert steps["handled"] == 0
    assert steps["parsed"] == (0 if name in REFUSED_BEFORE_PARSING else 1), steps
    text = response.content.decode()
    assert text.strip(), "the refusal says why"
    assert "Traceback" not in text and TOKEN not in text and AES_KEY not in text
    assert Message.objects.count() == 0
    assert any("refused" in record.getMessage() for record in caplog.records)


def test_every_case_is_realistic_enough_to_pass_when_fixed(wechat):
    """The happy twin of the cases above answers 200, so a 4xx there is the case's own fault."""
    query, body = _plain(wechat)
    assert wechat.post_raw(query, body).status_code == 200
    query, body = wechat.signed(wechat.xml("text", Content="x"), mode="aes")
    assert wechat.post_raw(query, body).status_code == 200


def test_declared_content_length_over_the_limit_is_refused_before_reading(wechat, settings):
    settings.WECHAT_MAX_BODY_BYTES = 100
    query, body = _plain(wechat)
    assert len(body) > 100
    assert wechat.post_raw(query, body).status_code == 413


def test_query_is_read_as_django_reads_it(wechat):
    """A repeated name counts its last value (as request.GET.get would), so a forged first
    signature before the real one changes nothing; bytes that are not UTF-8 are a clear 4xx."""
    query, body = _plain(wechat)
    path = wechat.path
    forged = urlencode([("signature", "f" * 40), *query.items()])
    response = wechat.client.post(f"{path}?{forged}", body, content_type="text/xml")
    assert response.status_code == 200
    assert Message.objects.count() == 1

    broken = urlencode(query).replace("nonce=", "nonce=%ff%fe")
    response = wechat.client.post(f"{path}?{broken}", body, content_type="text/xml")
    assert response.status_code == 403  # the nonce read with U+FFFD does not match the signature
    assert Message.objects.count() == 1
