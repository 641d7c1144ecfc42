"""WeChat's vocabulary and limits, declared once: every other module imports them from here.

Message types and events are ``StrEnum`` members whose value is the name as we store and compare
it: lower case, because WeChat spells events inconsistently (``SCAN`` and ``CLICK`` but
``scancode_push`` and ``subscribe``) and the parser normalises them. ``wire_event_name`` gives
WeChat's own spelling back, for tools that build messages the way WeChat sends them. Members
compare equal to plain strings, so a value read from the database or an XML body needs no
conversion; names WeChat adds later simply are not members, and are stored all the same.

The limits are WeChat's, as its documentation and console state them; the admin forms, the JSON
and console imports and the menu editor all read them from here, so a limit never exists twice.
"""

from __future__ import annotations

import re
from enum import StrEnum

__all__ = [
    "AES_KEY_LENGTH",
    "AES_KEY_PATTERN",
    "MAX_KEYWORD_CHARS",
    "MAX_NEWS_ARTICLES",
    "MAX_TEXT_REPLY_BYTES",
    "MENU_BUTTON_TYPES",
    "MENU_EVENTS",
    "CUSTOMER_SERVICE_WINDOW_SECONDS",
    "WINDOW_OPENING_EVENTS",
    "MENU_KEY_MAX_BYTES",
    "MENU_MAX_BUTTONS",
    "MENU_MAX_SUB_BUTTONS",
    "MENU_NAME_MAX_BYTES",
    "MENU_SUB_NAME_MAX_BYTES",
    "MENU_URL_MAX_BYTES",
    "NOT_XML_CHAR",
    "QR_SCENE_PREFIX",
    "SINGLE_ARTICLE_TYPES",
    "Event",
    "MsgType",
    "qr_scene",
    "wire_event_name",
]


class MsgType(StrEnum):
    """The MsgType of a message or event WeChat pushes, lower case."""

    TEXT = "text"
    IMAGE = "image"
    VOICE = "voice"
    VIDEO = "video"
    SHORTVIDEO = "shortvideo"
    LOCATION = "location"
    LINK = "link"
    MINIPROGRAMPAGE = "miniprogrampage"
    EVENT = "event"


class Event(StrEnum):
    """The Event of an ``event`` message, normalised to lower case."""

    SUBSCRIBE = "subscribe"
    UNSUBSCRIBE = "unsubscribe"
    SCAN = "scan"
    LOCATION = "location"
    CLICK = "click"
    VIEW = "view"
    SCANCODE_PUSH = "scancode_push"
    SCANCODE_WAITMSG = "scancode_waitmsg"
    PIC_SYSPHOTO = "pic_sysphoto"
    PIC_PHOTO_OR_ALBUM = "pic_photo_or_album"
    PIC_WEIXIN = "pic_weixin"
    LOCATION_SELECT = "location_select"
    VIEW_MINIPROGRAM = "view_miniprogram"
    TEMPLATESENDJOBFINISH = "templatesendjobfinish"
    MASSSENDJOBFINISH = "masssendjobfinish"
    PUBLISHJOBFINISH = "publishjobfinish"


# WeChat's own spelling, where it is not the lower-case value.
_WIRE_NAMES = {
    Event.SCAN: "SCAN",
    Event.LOCATION: "LOCATION",
    Event.CLICK: "CLICK",
    Event.VIEW: "VIEW",
    Event.TEMPLATESENDJOBFINISH: "TEMPLATESENDJOBFINISH",
    Event.MASSSENDJOBFINISH: "MASSSENDJOBFINISH",
    Event.PUBLISHJOBFINISH: "PUBLISHJOBFINISH",
}


def wire_event_name(event: str) -> str:
    """Return ``event`` as WeChat spells it (``scan`` -> ``SCAN``); unknown names as given."""
    lowered = event.lower()
    return _WIRE_NAMES.get(lowered, lowered) if lowered in Event._value2member_map_ else event


# Menu events whose EventKey is the key an operator gave the button: a "menu click" rule answers
# them. VIEW and view_miniprogram carry a URL or a page path instead, and WeChat shows no reply.
MENU_EVENTS = frozenset(
    {
        Event.CLICK,
        Event.SCANCODE_PUSH,
        Event.SCANCODE_WAITMSG,
        Event.PIC_SYSPHOTO,
        Event.PIC_PHOTO_OR_ALBUM,
        Event.PIC_WEIXIN,
        Event.LOCATION_SELECT,
    }
)

# WeChat lets an account send customer-service messages (客服消息) to a follower for 48 hours
# after the follower's last interaction: any message, or one of these events. Others (unfollow,
# opening a link, a location reported in the background, job results) open nothing.
CUSTOMER_SERVICE_WINDOW_SECONDS = 48 * 3600
WINDOW_OPENING_EVENTS = frozenset(
    {Event.SUBSCRIBE, Event.SCAN, Event.CLICK, Event.SCANCODE_PUSH, Event.SCANCODE_WAITMSG}
)

# A follow by scanning a parametric QR code carries EventKey "qrscene_<scene>"; SCAN (already a
# follower) carries the bare scene.
QR_SCENE_PREFIX = "qrscene_"


def qr_scene(event: str, event_key: str) -> str:
    """Return the QR scene of a subscribe or SCAN event, or "" for anything else."""
    if event == Event.SUBSCRIBE and event_key.startswith(QR_SCENE_PREFIX):
        return event_key[len(QR_SCENE_PREFIX) :]
    if event == Event.SCAN:
        return event_key
    return ""


# --- passive replies ----------------------------------------------------------------------------

MAX_NEWS_ARTICLES = 8
# Answering one of these messages, WeChat shows a single article of a news reply.
SINGLE_ARTICLE_TYPES = frozenset(
    {
        MsgType.TEXT,
        MsgType.IMAGE,
        MsgType.VOICE,
        MsgType.VIDEO,
        MsgType.SHORTVIDEO,
        MsgType.LINK,
        MsgType.LOCATION,
    }
)
# WeChat cuts a text message over 2048 bytes of UTF-8 (a Chinese character is 3 bytes).
MAX_TEXT_REPLY_BYTES = 2048
# Characters XML 1.0 cannot carry at all: C0 controls but tab/newline/CR, surrogates, U+FFFE/F.
NOT_XML_CHAR = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")

# --- keywords ---------------------------------------------------------------------------------

MAX_KEYWORD_CHARS = 30

# --- safe mode ----------------------------------------------------------------------------------

AES_KEY_LENGTH = 43
AES_KEY_PATTERN = re.compile(rf"[A-Za-z0-9]{{{AES_KEY_LENGTH}}}")

# --- the custom menu (menu/create) --------------------------------------------------------------

MENU_MAX_BUTTONS = 3
MENU_MAX_SUB_BUTTONS = 5
MENU_NAME_MAX_BYTES = 16
MENU_SUB_NAME_MAX_BYTES = 60
MENU_KEY_MAX_BYTES = 128
MENU_URL_MAX_BYTES = 1024
MENU_BUTTON_TYPES = (
    "click",
    "view",
    "miniprogram",
    "scancode_push",
    "scancode_waitmsg",
    "pic_sysphoto",
    "pic_photo_or_album",
    "pic_weixin",
    "location_select",
    "article_id",
    "article_view_limited",
)
