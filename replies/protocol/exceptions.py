"""Errors raised by the WeChat protocol layer, one class per way a request can fail.

Every error is a ``WeChatError`` carrying a short stable ``code`` for logs and the admin,
WeChat's own ``errcode`` where its crypto library defines one, the HTTP ``status`` the
endpoint answers with, and a ``message`` in plain English that is safe to show to the caller:
messages never contain tokens, keys, ciphertext, parser internals or tracebacks. Code that
handles a request can therefore catch ``WeChatError`` alone and answer with
``error.status`` and ``error.message``.
"""

from __future__ import annotations

__all__ = [
    "AppIdMismatch",
    "BodyTooLarge",
    "DecryptError",
    "ForbiddenXML",
    "InvalidAESKey",
    "InvalidBase64",
    "InvalidEncoding",
    "InvalidField",
    "InvalidLength",
    "InvalidMsgSignature",
    "InvalidPadding",
    "InvalidParameter",
    "InvalidSignature",
    "InvalidTimestamp",
    "InvalidXML",
    "MissingField",
    "MissingParameter",
    "NotConfigured",
    "StaleTimestamp",
    "WeChatError",
]


class WeChatError(Exception):
    """Signal that a WeChat request or configuration cannot be processed."""

    code = "wechat_error"
    errcode = -40000
    status = 400
    default_message = "The WeChat request could not be processed."

    def __init__(self, message: str | None = None):
        self.message = message or self.default_message
        super().__init__(self.message)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"


class MissingParameter(WeChatError):
    code = "missing_parameter"
    default_message = "A required query parameter is missing."


class InvalidParameter(WeChatError):
    code = "invalid_parameter"
    default_message = "A query parameter has an invalid value."


class InvalidTimestamp(InvalidParameter):
    code = "invalid_timestamp"
    default_message = "The timestamp must be a plain integer of at most 12 digits."


class StaleTimestamp(WeChatError):
    code = "stale_timestamp"
    status = 403
    default_message = "The timestamp is outside the accepted time window."


class InvalidSignature(WeChatError):
    code = "invalid_signature"
    errcode = -40001
    status = 403
    default_message = "The signature does not match."


class InvalidMsgSignature(InvalidSignature):
    code = "invalid_msg_signature"
    default_message = "The msg_signature does not match."


class BodyTooLarge(WeChatError):
    code = "body_too_large"
    status = 413
    default_message = "The request body is too large."


class InvalidEncoding(WeChatError):
    code = "invalid_encoding"
    default_message = "The request body is not valid UTF-8."


class InvalidXML(WeChatError):
    code = "invalid_xml"
    errcode = -40002
    default_message = "The request body is not a well-formed WeChat XML message."


class ForbiddenXML(InvalidXML):
    code = "forbidden_xml"
    default_message = "The XML contains a DOCTYPE or an entity, which are not allowed."


class MissingField(WeChatError):
    code = "missing_field"
    default_message = "A required XML field is missing."


class InvalidField(WeChatError):
    code = "invalid_field"
    default_message = "An XML field has an invalid value."


class DecryptError(WeChatError):
    code = "decrypt_error"
    errcode = -40007
    default_message = "The encrypted message could not be decrypted."


class InvalidBase64(DecryptError):
    code = "invalid_base64"
    errcode = -40010
    default_message = "The encrypted message is not valid base64."


class InvalidPadding(DecryptError):
    code = "invalid_padding"
    errcode = -40007
    default_message = "The decrypted message has invalid padding."


class InvalidLength(DecryptError):
    code = "invalid_length"
    errcode = -40008
    default_message = "The encrypted message has an invalid length."


class AppIdMismatch(DecryptError):
    code = "appid_mismatch"
    errcode = -40005
    status = 403
    default_message = "The encrypted message was not addressed to this AppID."


class InvalidAESKey(WeChatError):
    code = "invalid_aes_key"
    errcode = -40004
    status = 503
    default_message = "The EncodingAESKey must be 43 characters from A-Z, a-z and 0-9."


class NotConfigured(WeChatError):
    code = "not_configured"
    status = 503
    default_message = "The WeChat endpoint is not configured for this request."
