"""Take one WeChat request from query and body to a verified message, and seal the answer.

These are the endpoint's protocol steps without Django: ``verify_url`` answers the GET that
WeChat sends when the server URL is saved, ``open_request`` checks and opens a POST in plain,
compatible or safe mode, and ``seal_reply`` encrypts the reply XML when the request was
encrypted. Cheap checks come first (parameters, timestamp), then the signature, and only then
the work on the body, so an unsigned request costs almost nothing. Every failure is a
``WeChatError`` whose ``status`` and ``message`` the view can answer with as they are.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

from .crypto import decrypt_with_keys, encrypt_message
from .exceptions import InvalidParameter, MissingField, MissingParameter, NotConfigured
from .messages import IncomingMessage, _decode_and_parse, _message_from_dict, parse_message
from .replies import render_encrypted_reply
from .signature import (
    check_msg_signature,
    check_signature,
    check_timestamp,
    compute_signature,
)

__all__ = [
    "NO_REPLY",
    "Credentials",
    "OpenedRequest",
    "open_request",
    "seal_reply",
    "verify_url",
]

# WeChat's "nothing to say": no reply shown, no retry, no error.
NO_REPLY = b"success"


@dataclass(frozen=True)
class Credentials:
    """Hold the secrets of one official account: token, AppID and AES keys (current first)."""

    # repr=False: credentials end up in tracebacks and debug pages; the secrets must not.
    token: str = field(repr=False)
    app_id: str = ""
    aes_keys: tuple[bytes, ...] = field(default=(), repr=False)


@dataclass(frozen=True)
class OpenedRequest:
    """Hold a verified request: its mode, the body as received and the message inside."""

    mode: str  # "plain", "compat" or "aes"
    raw_text: str
    xml: bytes
    message: IncomingMessage
    aes_key: bytes | None = field(repr=False)
    timestamp: int
    nonce: str

    @property
    def decrypted_text(self) -> str:
        """Return the decrypted message XML as text, or "" when nothing was encrypted."""
        if self.mode == "plain":
            return ""
        # Cannot fail: parsing the message already checked it is UTF-8.
        return self.xml.decode("utf-8")


def _require(query: Mapping[str, str], name: str) -> str:
    value = query.get(name)
    if value is None:
        raise MissingParameter(f"The query parameter {name} is missing.")
    return value


def _require_nonce(query: Mapping[str, str]) -> str:
    nonce = _require(query, "nonce")
    # Signed values are joined without a separator: with an empty nonce, one captured
    # signature also matches the same digits split differently between timestamp and nonce.
    if not nonce:
        raise MissingParameter("The query parameter nonce is empty.")
    return nonce


def verify_url(
    *, query: Mapping[str, str], credentials: Credentials, now: float, window: int
) -> str:
    """Return the ``echostr`` to answer WeChat's URL verification GET with.

    The view must send it back as ``text/plain``: it is caller-chosen text.
    """
    signature = _require(query, "signature")
    timestamp = _require(query, "timestamp")
    nonce = _require_nonce(query)
    echostr = _require(query, "echostr")
    if not echostr:
        raise MissingParameter("The query parameter echostr is empty.")
    check_timestamp(timestamp=timestamp, now=now, window=window)
    check_signature(token=credentials.token, signature=signature, timestamp=timestamp, nonce=nonce)
    return echostr


def open_request(
    *,
    query: Mapping[str, str],
    body: bytes,
    credentials: Credentials,
    now: float,
    window: int,
) -> OpenedRequest:
    """Return the verified, decrypted and parsed message of a WeChat POST.

    ``encrypt_type`` absent or ``raw`` means plain mode, checked with ``signature``; ``aes``
    means compatible or safe mode, checked with ``msg_signature`` over the ciphertext. In
    compatible mode the outer body also carries the message in clear, unsigned: only the
    decrypted copy is used.
    """
    encrypt_type = query.get("encrypt_type")
    if encrypt_type is None or encrypt_type.lower() == "raw":
        signature_name, open_body = "signature", _open_plain
    elif encrypt_type.lower() == "aes":
        signature_name, open_body = "msg_signature", _open_encrypted
    else:
        raise InvalidParameter("The query parameter encrypt_type must be raw or aes.")
    # The cheap checks come first, before any work on the body.
    signed = _SignedQuery(
        signature=_require(query, signature_name),
        timestamp=_require(query, "timestamp"),
        nonce=_require_nonce(query),
    )
    checked_time = check_timestamp(timestamp=signed.timestamp, now=now, window=window)
    opened = open_body(body=body, credentials=credentials, signed=signed)
    return OpenedRequest(**opened._asdict(), timestamp=checked_time, nonce=signed.nonce)


class _SignedQuery(NamedTuple):
    signature: str  # signature in plain mode, msg_signature otherwise
    timestamp: str
    nonce: str


class _OpenedBody(NamedTuple):
    """What each mode makes of the body: the fields of OpenedRequest but the signed query's."""

    mode: str
    raw_text: str
    xml: bytes
    message: IncomingMessage
    aes_key: bytes | None


def _open_plain(*, body: bytes, credentials: Credentials, signed: _SignedQuery) -> _OpenedBody:
    check_signature(
        token=credentials.token,
        signature=signed.signature,
        timestamp=signed.timestamp,
        nonce=signed.nonce,
    )
    text, fields = _decode_and_parse(body)
    return _OpenedBody("plain", text, body, _message_from_dict(fields), None)


def _open_encrypted(*, body: bytes, credentials: Credentials, signed: _SignedQuery) -> _OpenedBody:
    if not credentials.token:
        raise NotConfigured("No WeChat token is configured.")
    if not credentials.aes_keys or not credentials.app_id:
        raise NotConfigured(
            "An encrypted message arrived but no EncodingAESKey and AppID are configured."
        )
    # msg_signature covers the ciphertext, so the outer body has to be read before checking it.
    text, outer = _decode_and_parse(body)
    encrypt = outer.get("Encrypt")
    if not isinstance(encrypt, str) or not encrypt:
        raise MissingField("The XML field Encrypt is missing.")
    check_msg_signature(
        token=credentials.token,
        msg_signature=signed.signature,
        timestamp=signed.timestamp,
        nonce=signed.nonce,
        encrypt=encrypt,
    )
    xml, key = decrypt_with_keys(
        encrypt=encrypt, keys=credentials.aes_keys, app_id=credentials.app_id
    )
    mode = "compat" if "MsgType" in outer else "aes"
    return _OpenedBody(mode, text, xml, parse_message(xml), key)


def seal_reply(
    *,
    reply_xml: bytes,
    opened: OpenedRequest,
    credentials: Credentials,
    timestamp: str,
    nonce: str,
) -> bytes:
    """Return the body to answer ``opened`` with: ``reply_xml`` itself or its encrypted envelope.

    ``success`` (and an empty body), WeChat's "no reply", is returned unchanged in every mode.
    An encrypted reply uses the key that decrypted the request, so a reply during a key
    rotation is readable by WeChat whichever key it used.
    """
    if opened.mode == "plain" or reply_xml == NO_REPLY or not reply_xml:
        return reply_xml
    if opened.aes_key is None:
        raise NotConfigured("The request was not decrypted, so the reply cannot be encrypted.")
    if not credentials.token:
        raise NotConfigured("No WeChat token is configured.")
    encrypt = encrypt_message(xml=reply_xml, key=opened.aes_key, app_id=credentials.app_id)
    return render_encrypted_reply(
        encrypt=encrypt,
        msg_signature=compute_signature(credentials.token, timestamp, nonce, encrypt),
        timestamp=timestamp,
        nonce=nonce,
    )
