"""WeChat's side of the conversation: build, sign and encrypt requests; open replies.

The endpoint never uses this. The simulator (`manage.py wxsend`), the tests and the benchmark do:
they play WeChat's servers against our endpoint, so they need exactly what those servers do —
the same signatures and the same envelope — built from the same primitives the endpoint checks.
"""

from collections.abc import Mapping
from typing import Any

from lxml import etree

from replies.protocol.crypto import decrypt_with_keys, encrypt_message
from replies.protocol.exceptions import InvalidMsgSignature, MissingField
from replies.protocol.messages import parse_xml
from replies.protocol.signature import compute_signature
from replies.protocol.transport import Credentials

MODES = ("plain", "compat", "aes")


def build_message_xml(
    *, msg_type: str, from_user: str, to_user: str, create_time: int, **fields: Any
) -> bytes:
    """Return a message as WeChat sends it: `<xml>` with CDATA strings, numbers plain.

    Field values may be str, int, a dict (nested element) or a list of dicts (repeated
    `<item>`), e.g. SendPicsInfo={"Count": 1, "PicList": [{"PicMd5Sum": "…"}]}.
    """
    root = etree.Element("xml")
    values = {"ToUserName": to_user, "FromUserName": from_user, "CreateTime": create_time}
    values["MsgType"] = msg_type
    values.update(fields)
    for name, value in values.items():
        _append(root, name, value)
    return etree.tostring(root, encoding="utf-8")


def _append(parent: etree._Element, name: str, value: Any) -> None:
    element = etree.SubElement(parent, name)
    if isinstance(value, Mapping):
        for child_name, child_value in value.items():
            _append(element, child_name, child_value)
    elif isinstance(value, list):
        for item in value:
            _append(element, "item", item)
    elif isinstance(value, int):
        element.text = str(value)
    else:
        element.text = etree.CDATA(str(value))


def sign_request(
    *,
    xml: bytes,
    credentials: Credentials,
    mode: str,
    timestamp: str,
    nonce: str,
    openid: str = "",
    random_prefix: bytes | None = None,
) -> tuple[dict[str, str], bytes]:
    """Return (query parameters, body) for POSTing `xml` in `mode` (plain, compat or aes).

    In compat and aes mode the body is the encrypted envelope (compat also carries the
    plaintext fields, as WeChat sends them); it is encrypted with the first of
    credentials.aes_keys.
    """
    query = {
        "signature": compute_signature(credentials.token, timestamp, nonce),
        "timestamp": timestamp,
        "nonce": nonce,
    }
    if openid:
        query["openid"] = openid
    if mode == "plain":
        return query, xml
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}")
    encrypt = encrypt_message(
        xml=xml, key=credentials.aes_keys[0], app_id=credentials.app_id, random_prefix=random_prefix
    )
    envelope = etree.fromstring(xml) if mode == "compat" else etree.Element("xml")
    if mode == "aes":
        to_user = etree.SubElement(envelope, "ToUserName")
        to_user.text = etree.CDATA(parse_xml(xml).get("ToUserName", ""))
    etree.SubElement(envelope, "Encrypt").text = etree.CDATA(encrypt)
    query["encrypt_type"] = "aes"
    query["msg_signature"] = compute_signature(credentials.token, timestamp, nonce, encrypt)
    return query, etree.tostring(envelope, encoding="utf-8")


def open_reply(*, body: bytes, credentials: Credentials, encrypted: bool) -> bytes:
    """Return the plaintext reply XML (or b"success") from the endpoint's answer.

    An encrypted answer is checked like WeChat checks it: MsgSignature over token, TimeStamp,
    Nonce and Encrypt, then decrypted with any of our keys. Raises WeChatError subclasses.
    """
    if not encrypted or body.strip() in (b"success", b""):
        return body
    envelope = parse_xml(body)
    for name in ("Encrypt", "MsgSignature", "TimeStamp", "Nonce"):
        if not envelope.get(name):
            raise MissingField(f"The encrypted reply has no {name}.")
    expected = compute_signature(
        credentials.token, envelope["TimeStamp"], envelope["Nonce"], envelope["Encrypt"]
    )
    if expected != envelope["MsgSignature"]:
        raise InvalidMsgSignature("The reply's MsgSignature does not verify.")
    xml, _key = decrypt_with_keys(
        encrypt=envelope["Encrypt"], keys=credentials.aes_keys, app_id=credentials.app_id
    )
    return xml
