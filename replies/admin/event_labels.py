"""What staff read for a security event's check: one translated label per error code.

The endpoint stores each refused request's `code` (e.g. ``invalid_signature``) and the protocol's
English `reason`; the admin shows the label below in the operators' language and keeps the
reason as a detail. The keys are the error classes' own `code` attributes, so a renamed code
cannot drift from its label; tests/test_admin_chinese_crawl.py checks that every WeChatError
subclass (the protocol's and the endpoint's) has one.
"""

from django.utils.translation import gettext_lazy as _

from replies.endpoint import errors as endpoint
from replies.endpoint.security_log import RECORDED
from replies.protocol import exceptions as protocol

LABELS = {
    protocol.WeChatError.code: _("request could not be processed"),
    protocol.MissingParameter.code: _("query parameter missing"),
    protocol.InvalidParameter.code: _("invalid query parameter"),
    protocol.InvalidTimestamp.code: _("invalid timestamp"),
    protocol.StaleTimestamp.code: _("timestamp outside the allowed window"),
    protocol.InvalidSignature.code: _("signature does not match"),
    protocol.InvalidMsgSignature.code: _("message signature (msg_signature) does not match"),
    protocol.BodyTooLarge.code: _("request body too large"),
    protocol.InvalidEncoding.code: _("request body is not UTF-8"),
    protocol.InvalidXML.code: _("malformed XML"),
    protocol.ForbiddenXML.code: _("forbidden XML (DOCTYPE or entity)"),
    protocol.MissingField.code: _("XML field missing"),
    protocol.InvalidField.code: _("invalid XML field"),
    protocol.DecryptError.code: _("decryption failed"),
    protocol.InvalidBase64.code: _("encrypted message is not valid base64"),
    protocol.InvalidPadding.code: _("invalid padding after decryption"),
    protocol.InvalidLength.code: _("encrypted message has an invalid length"),
    protocol.AppIdMismatch.code: _("message addressed to another AppID"),
    protocol.InvalidAESKey.code: _("invalid EncodingAESKey"),
    protocol.NotConfigured.code: _("endpoint not configured"),
    endpoint.PlaintextRefused.code: _("plaintext message refused (encryption required)"),
    endpoint.ReplayedRequest.code: _("replayed request"),
    endpoint.StorageUnavailable.code: _("message could not be stored"),
    endpoint.DatabaseMisconfigured.code: _("database not migrated"),
    endpoint.UnknownAccount.code: _("URL names no official account"),
    endpoint.AccountUnavailable.code: _("account's secrets cannot be read"),
}


def error_classes() -> list[type[protocol.WeChatError]]:
    """Return WeChatError and every subclass defined so far (the endpoint's are imported above)."""
    found, pending = [], [protocol.WeChatError]
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return found


def recorded_codes() -> list[str]:
    """Return the codes the security log records (its RECORDED classes and their subclasses)."""
    return [cls.code for cls in error_classes() if issubclass(cls, RECORDED)]


def label(code: str) -> str:
    """Return the translated label for `code`, or the code itself when it is not known."""
    text = LABELS.get(code)
    return str(text) if text is not None else code
