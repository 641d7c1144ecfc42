"""WeChat Official Account wire protocol: signatures, AES, message XML and passive replies.

This package knows nothing of Django or the database: bytes, strings and plain values go in,
bytes and frozen dataclasses come out, and the token and keys are passed as arguments. The
endpoint uses ``transport`` (``verify_url``, ``open_request``, ``seal_reply``) and
``replies`` (``render_reply``); the other modules are the steps those are built from. Every
failure is a ``WeChatError`` subclass carrying an HTTP status and a message safe to show.
"""

from . import exceptions
from .crypto import decode_aes_key, decrypt_with_keys, encrypt_message
from .exceptions import *  # noqa: F403  every WeChatError, as exceptions.__all__ lists them
from .messages import (
    MAX_BODY_BYTES,
    IncomingMessage,
    message_from_fields,
    parse_message,
    parse_xml,
    pretty_print_xml,
)
from .replies import (
    ARTICLE_FIELDS,
    Article,
    ImageReply,
    MusicReply,
    NewsReply,
    Reply,
    ReplyProblem,
    TextReply,
    TransferCustomerServiceReply,
    VideoReply,
    VoiceReply,
    check_article,
    check_reply,
    max_news_articles,
    render_encrypted_reply,
    render_reply,
    reply_field_names,
    reply_from_dict,
    reply_to_dict,
    summarize_reply,
)
from .signature import (
    check_msg_signature,
    check_signature,
    check_timestamp,
    compute_signature,
)
from .transport import (
    NO_REPLY,
    Credentials,
    OpenedRequest,
    open_request,
    seal_reply,
    verify_url,
)
from .vocabulary import MENU_EVENTS, QR_SCENE_PREFIX, Event, MsgType, qr_scene

__all__ = [
    *exceptions.__all__,
    "MAX_BODY_BYTES",
    "MENU_EVENTS",
    "QR_SCENE_PREFIX",
    "Event",
    "MsgType",
    "qr_scene",
    "NO_REPLY",
    "ARTICLE_FIELDS",
    "Article",
    "Credentials",
    "ImageReply",
    "IncomingMessage",
    "MusicReply",
    "NewsReply",
    "OpenedRequest",
    "Reply",
    "ReplyProblem",
    "TextReply",
    "TransferCustomerServiceReply",
    "VideoReply",
    "VoiceReply",
    "check_article",
    "check_msg_signature",
    "check_reply",
    "reply_field_names",
    "check_signature",
    "check_timestamp",
    "compute_signature",
    "decode_aes_key",
    "decrypt_with_keys",
    "encrypt_message",
    "max_news_articles",
    "message_from_fields",
    "open_request",
    "parse_message",
    "parse_xml",
    "pretty_print_xml",
    "render_encrypted_reply",
    "render_reply",
    "reply_from_dict",
    "reply_to_dict",
    "seal_reply",
    "summarize_reply",
    "verify_url",
]
