"""Check the signatures and timestamps WeChat puts in the query string of every request.

WeChat signs a request by sorting the token with other values, joining them without a
separator and taking the SHA-1 hex digest: ``signature`` covers the token, timestamp and nonce
(it says nothing about the body), ``msg_signature`` also covers the ``Encrypt`` ciphertext of
safe and compatible mode. Both are compared in constant time, and a signature is never accepted
when the token is empty, because anybody can compute a signature over an empty token.
"""

from __future__ import annotations

import hashlib
import hmac

from .exceptions import (
    InvalidMsgSignature,
    InvalidSignature,
    InvalidTimestamp,
    NotConfigured,
    StaleTimestamp,
)

__all__ = [
    "MAX_TIMESTAMP_DIGITS",
    "check_msg_signature",
    "check_signature",
    "check_timestamp",
    "compute_signature",
]

MAX_TIMESTAMP_DIGITS = 12


def compute_signature(*values: str) -> str:
    """Return WeChat's signature of ``values``: the SHA-1 hex digest of them sorted and joined."""
    # surrogatepass: a lone surrogate smuggled into the query must give a wrong signature,
    # not a UnicodeEncodeError.
    joined = "".join(sorted(values)).encode("utf-8", "surrogatepass")
    return hashlib.sha1(joined).hexdigest()


def _matches(expected: str, received: str) -> bool:
    # Bytes, because compare_digest refuses str holding non-ASCII characters with TypeError;
    # lower(), because hex digests are case-insensitive and some proxies upper-case them.
    return hmac.compare_digest(
        expected.encode("ascii"), received.lower().encode("utf-8", "surrogatepass")
    )


def _require_token(token: str) -> None:
    if not token:
        raise NotConfigured("No WeChat token is configured.")


def check_signature(*, token: str, signature: str, timestamp: str, nonce: str) -> None:
    """Raise ``InvalidSignature`` unless ``signature`` signs the token, timestamp and nonce."""
    _require_token(token)
    if not _matches(compute_signature(token, timestamp, nonce), signature):
        raise InvalidSignature()


def check_msg_signature(
    *, token: str, msg_signature: str, timestamp: str, nonce: str, encrypt: str
) -> None:
    """Raise ``InvalidMsgSignature`` unless ``msg_signature`` signs the ciphertext too."""
    _require_token(token)
    if not _matches(compute_signature(token, timestamp, nonce, encrypt), msg_signature):
        raise InvalidMsgSignature()


def check_timestamp(*, timestamp: str, now: float, window: int) -> int:
    """Return ``timestamp`` as an int after checking it is within ``window`` seconds of ``now``.

    The timestamp must be ASCII digits only (no sign, spaces, underscores or other Unicode
    digits, all of which ``int()`` would accept), because the signed values are joined without a
    separator and a loose format would let different queries share one signature. A timestamp in
    the future is refused like one in the past.
    """
    if not (
        0 < len(timestamp) <= MAX_TIMESTAMP_DIGITS and timestamp.isascii() and timestamp.isdigit()
    ):
        raise InvalidTimestamp()
    value = int(timestamp)
    if abs(value - now) > window:
        raise StaleTimestamp(
            f"The timestamp is more than {window} seconds away from the server's clock."
        )
    return value
