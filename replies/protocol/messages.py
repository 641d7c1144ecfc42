"""Parse the XML WeChat posts into plain dicts and ``IncomingMessage`` values.

One hardened lxml parser reads every body: the body must be strict UTF-8, a DOCTYPE or entity
declaration is refused before lxml sees it (XXE, billion laughs) and the parser itself is
configured to load no DTD, resolve no entity and touch no network, so an undeclared entity
reference is a syntax error, never an expansion. The root must be ``<xml>`` and the tree at most
``MAX_DEPTH`` levels deep. Every failure is an ``InvalidXML`` (or ``ForbiddenXML``,
``InvalidEncoding``, ``BodyTooLarge``) with a short message; lxml's own messages, which can name
files, are not passed on. Unknown message types and events parse like known ones: WeChat adds
new ones over time, and a message we cannot name must still be stored.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from lxml import etree

from .exceptions import (
    BodyTooLarge,
    ForbiddenXML,
    InvalidEncoding,
    InvalidField,
    InvalidXML,
    MissingField,
    WeChatError,
)
from .vocabulary import MsgType

__all__ = [
    "MAX_BODY_BYTES",
    "MAX_DEPTH",
    "IncomingMessage",
    "message_from_fields",
    "parse_message",
    "parse_xml",
    "pretty_print_xml",
]

# An absolute ceiling for anything handed to the parser. The endpoint refuses bodies over its own,
# configurable and much lower limit (WECHAT_MAX_BODY_BYTES, default 1 MiB) before parsing;
# WeChat's largest pushes are a few kilobytes.
MAX_BODY_BYTES = 16 * 1024 * 1024
# <xml> is level 1; the deepest documented structure, SendPicsInfo/PicList/item/PicMd5Sum,
# reaches level 5.
MAX_DEPTH = 8

# Shared by all requests: lxml parsers keep a per-parser lock around their context, so one
# instance is safe across threads and saves building the configuration for every request.
_HARDENED = {
    "encoding": "utf-8",  # Ignore whatever encoding a declaration claims; we checked UTF-8.
    "resolve_entities": False,
    "no_network": True,
    "load_dtd": False,
    "dtd_validation": False,
    "huge_tree": False,
    "remove_comments": True,
    "remove_pis": True,
    "collect_ids": False,
}
_PARSER = etree.XMLParser(**_HARDENED)
# For display only: the same hardening, but CDATA kept and blank text dropped so that
# pretty_print can indent.
_DISPLAY_PARSER = etree.XMLParser(**_HARDENED, strip_cdata=False, remove_blank_text=True)

_SPACE = re.compile(r"[ \t\r\n]*")
_ENCODING = re.compile(r"""\sencoding\s*=\s*["']([^"']*)["']""")


def _check_prolog(text: str) -> None:
    # A DOCTYPE can only stand before the root element, so scanning the prolog finds every one
    # without refusing a follower's text that merely mentions "<!DOCTYPE" inside a CDATA section.
    pos = 1 if text.startswith("\ufeff") else 0
    while True:
        pos = _SPACE.match(text, pos).end()
        if text.startswith("<?", pos):
            end = text.find("?>", pos + 2)
            if end < 0:
                raise InvalidXML("The XML declaration is not closed.")
            if text.startswith("<?xml", pos):
                declared = _ENCODING.search(text, pos, end)
                if declared and declared.group(1).lower() not in ("utf-8", "utf8"):
                    raise InvalidEncoding("Only UTF-8 XML is accepted.")
            pos = end + 2
        elif text.startswith("<!--", pos):
            end = text.find("-->", pos + 4)
            if end < 0:
                raise InvalidXML("A comment is not closed.")
            pos = end + 3
        elif text.startswith("<!", pos):
            raise ForbiddenXML()
        else:
            return


def _children_to_dict(element: Any, depth: int) -> dict[str, Any]:
    if depth > MAX_DEPTH:
        raise InvalidXML(f"The XML is nested deeper than {MAX_DEPTH} levels.")
    result: dict[str, Any] = {}
    for child in element:
        tag = child.tag
        if not isinstance(tag, str):
            # Comments and PIs are removed by the parser; anything else here is an entity.
            raise ForbiddenXML()
        value = _children_to_dict(child, depth + 1) if len(child) else (child.text or "")
        previous = result.get(tag)
        if previous is None:
            result[tag] = value
        elif isinstance(previous, list):
            # A single element's value is never a list, so a list means "repeated tag".
            previous.append(value)
        else:
            result[tag] = [previous, value]
    return result


def _decode_and_parse(body: bytes) -> tuple[str, dict[str, Any]]:
    # The transport needs the decoded text as well; returning it saves decoding twice.
    if len(body) > MAX_BODY_BYTES:
        raise BodyTooLarge(f"The XML body is larger than {MAX_BODY_BYTES} bytes.")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidEncoding() from None
    if not text.strip():
        raise InvalidXML("The request body is empty.")
    _check_prolog(text)
    try:
        root = etree.fromstring(body, _PARSER)
    except etree.XMLSyntaxError as error:
        # Only the position is passed on: lxml's message can quote the body or name files.
        position = getattr(error, "position", None)
        if not position:
            raise InvalidXML() from None
        raise InvalidXML(
            f"The request body is not well-formed XML (line {position[0]}, column {position[1]})."
        ) from None
    except (etree.LxmlError, ValueError):
        raise InvalidXML() from None
    if root.getroottree().docinfo.internalDTD is not None:
        raise ForbiddenXML()  # Unreachable past _check_prolog; kept as a second lock.
    if root.tag != "xml":
        raise InvalidXML("The root element must be <xml>.")
    return text, _children_to_dict(root, 2)


def parse_xml(body: bytes) -> dict[str, Any]:
    """Return the children of the ``<xml>`` root of ``body`` as a dict.

    A leaf becomes its text ("" when empty; CDATA and plain text alike, whitespace kept), an
    element with children a nested dict, and a tag repeated among siblings a list of those
    values. A tag that occurs once stays a single value, so ``PicList/item`` is a dict for one
    picture and a list for several.
    """
    return _decode_and_parse(body)[1]


def pretty_print_xml(xml: str | bytes) -> str:
    """Return ``xml`` indented for display, or unchanged when it is not acceptable XML.

    Never raises: it is meant for stored bodies shown in the admin, and refuses what
    ``parse_xml`` refuses (DOCTYPEs, entities, other encodings) by returning the text as is.
    """
    text = xml.decode("utf-8", "replace") if isinstance(xml, bytes) else xml
    try:
        body = text.encode("utf-8")
        if len(body) > MAX_BODY_BYTES:
            return text
        _check_prolog(text)
        root = etree.fromstring(body, _DISPLAY_PARSER)
        if root.getroottree().docinfo.internalDTD is not None:
            return text
        return etree.tostring(root, encoding="unicode", pretty_print=True).rstrip("\n")
    except (WeChatError, etree.LxmlError, ValueError):
        return text


def _text(fields: Mapping[str, Any], name: str) -> str:
    # A nested element where text belongs (<Content><a/></Content>) only comes from a forged
    # or broken request; reading it as "" keeps the message storable instead of crashing.
    value = fields.get(name)
    return value if isinstance(value, str) else ""


def _required(fields: Mapping[str, Any], name: str) -> str:
    value = fields.get(name)
    if value is None:
        raise MissingField(f"The XML field {name} is missing.")
    if not isinstance(value, str):
        raise InvalidField(f"The XML field {name} must be text.")
    value = value.strip()
    if not value:
        raise MissingField(f"The XML field {name} is empty.")
    return value


@dataclass(frozen=True, slots=True)
class IncomingMessage:
    """Hold one message or event pushed by WeChat, with every field it carried."""

    to_user: str
    from_user: str
    create_time: int
    msg_type: str
    event: str
    event_key: str
    msg_id: str
    # Shallow read-only view of everything parse_xml returned; hash=False because a mapping
    # proxy is not hashable and the other fields already identify the message.
    fields: Mapping[str, Any] = field(hash=False)

    def __reduce__(self) -> tuple[Any, ...]:
        # mappingproxy cannot be pickled; rebuild it from a plain dict (for caches and queues).
        return (
            _rebuild_message,
            (
                self.to_user,
                self.from_user,
                self.create_time,
                self.msg_type,
                self.event,
                self.event_key,
                self.msg_id,
                dict(self.fields),
            ),
        )

    @property
    def is_event(self) -> bool:
        return self.msg_type == MsgType.EVENT

    @property
    def text(self) -> str:
        """Return what the follower said: Content of a text, Recognition of a voice message."""
        if self.msg_type == MsgType.TEXT:
            return self.content
        if self.msg_type == MsgType.VOICE:
            return self.recognition
        return ""

    @property
    def content(self) -> str:
        return _text(self.fields, "Content")

    @property
    def media_id(self) -> str:
        return _text(self.fields, "MediaId")

    @property
    def pic_url(self) -> str:
        return _text(self.fields, "PicUrl")

    @property
    def recognition(self) -> str:
        return _text(self.fields, "Recognition")

    @property
    def location_x(self) -> str:
        return _text(self.fields, "Location_X")

    @property
    def location_y(self) -> str:
        return _text(self.fields, "Location_Y")

    @property
    def label(self) -> str:
        return _text(self.fields, "Label")

    @property
    def title(self) -> str:
        return _text(self.fields, "Title")

    @property
    def url(self) -> str:
        return _text(self.fields, "Url")

    @property
    def latitude(self) -> str:
        return _text(self.fields, "Latitude")

    @property
    def longitude(self) -> str:
        return _text(self.fields, "Longitude")


def _rebuild_message(*args: Any) -> IncomingMessage:
    *values, fields = args
    return IncomingMessage(*values, MappingProxyType(fields))


def _message_from_dict(fields: dict[str, Any]) -> IncomingMessage:
    to_user = _required(fields, "ToUserName")
    from_user = _required(fields, "FromUserName")
    create_time = _required(fields, "CreateTime")
    if not (create_time.isascii() and create_time.isdigit() and len(create_time) <= 12):
        raise InvalidField("The XML field CreateTime must be a plain integer.")
    msg_type = _required(fields, "MsgType").lower()
    event = _text(fields, "Event").strip().lower() if msg_type == MsgType.EVENT else ""
    # Template and mass-send job events spell it MsgID.
    msg_id = _text(fields, "MsgId") or _text(fields, "MsgID")
    return IncomingMessage(
        to_user=to_user,
        from_user=from_user,
        create_time=int(create_time),
        msg_type=msg_type,
        event=event,
        event_key=_text(fields, "EventKey"),
        msg_id=msg_id.strip(),
        fields=MappingProxyType(fields),
    )


def message_from_fields(fields: Mapping[str, Any]) -> IncomingMessage:
    """Return the ``IncomingMessage`` for ``fields`` as returned by ``parse_xml``.

    Raise ``MissingField`` when ToUserName, FromUserName, CreateTime or MsgType is absent or
    empty, and ``InvalidField`` when one of them is not text or CreateTime is not an integer.
    """
    # Copy so that the caller mutating its dict later cannot change a frozen message.
    return _message_from_dict(dict(fields))


def parse_message(body: bytes) -> IncomingMessage:
    """Return the ``IncomingMessage`` in the XML ``body``."""
    return _message_from_dict(_decode_and_parse(body)[1])
