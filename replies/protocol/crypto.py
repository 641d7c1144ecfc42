"""Encrypt and decrypt the messages of WeChat's safe and compatible modes.

WeChat encrypts ``16 random bytes + 4-byte big-endian length + message XML + AppID`` with
AES-256-CBC, the IV being the first 16 bytes of the key and the padding PKCS#7 over 32-byte
blocks, and sends it in base64. Decryption checks every step (base64 alphabet, ciphertext
length, padding, length field, AppID) and turns each failure into one of our
``DecryptError`` subclasses, so no ``struct.error``, ``UnicodeDecodeError`` or
``binascii.Error`` ever reaches the caller. Keys are the 32-byte values of
``decode_aes_key``; during a key rotation ``decrypt_with_keys`` tries the current key, then the
previous one, and says which one worked so the reply can be encrypted with it.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import os
from collections.abc import Sequence
from functools import lru_cache

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from .exceptions import (
    AppIdMismatch,
    DecryptError,
    InvalidAESKey,
    InvalidBase64,
    InvalidLength,
    InvalidPadding,
    NotConfigured,
)
from .vocabulary import AES_KEY_PATTERN

__all__ = [
    "BLOCK_SIZE",
    "decode_aes_key",
    "decrypt_with_keys",
    "encrypt_message",
]

BLOCK_SIZE = 32  # WeChat pads to 32 bytes although AES blocks are 16.
_RANDOM_SIZE = 16
_LENGTH_SIZE = 4
_HEADER_SIZE = _RANDOM_SIZE + _LENGTH_SIZE
_KEY_SIZE = 32
# PKCS#7 padding for every possible pad length, built once instead of once per message.
_PADDING = tuple(bytes((n,)) * n for n in range(BLOCK_SIZE + 1))


def decode_aes_key(encoding_aes_key: str) -> bytes:
    """Return the 32-byte AES key of a 43-character EncodingAESKey from WeChat's console."""
    if not isinstance(encoding_aes_key, str) or not AES_KEY_PATTERN.fullmatch(encoding_aes_key):
        raise InvalidAESKey()
    # The 43rd character carries 2 spare bits that WeChat's own keys do not zero (its sample
    # key ends in "G"), so the lenient decoder is the right one here.
    return base64.b64decode(encoding_aes_key + "=")


@lru_cache(maxsize=16)
def _cipher(key: bytes) -> Cipher:
    # A Cipher holds no per-message state; caching it saves rebuilding the key schedule
    # objects for the handful of keys a site ever has.
    return Cipher(algorithms.AES(key), modes.CBC(key[:16]))


def _check_key(key: bytes) -> None:
    if not isinstance(key, bytes) or len(key) != _KEY_SIZE:
        raise InvalidAESKey("The AES key must be 32 bytes; decode it with decode_aes_key().")


def _check_app_id(app_id: str) -> bytes:
    # An empty AppID would make the AppID check vacuous (every plaintext "ends with" b"").
    if not app_id:
        raise NotConfigured("No WeChat AppID is configured for encrypted messages.")
    return app_id.encode("utf-8")


def encrypt_message(
    *, xml: bytes, key: bytes, app_id: str, random_prefix: bytes | None = None
) -> str:
    """Return ``xml`` encrypted for WeChat, base64-encoded.

    Pass ``random_prefix`` (16 bytes) only in tests, to get a deterministic result.
    """
    _check_key(key)
    app_id_bytes = _check_app_id(app_id)
    if random_prefix is None:
        random_prefix = os.urandom(_RANDOM_SIZE)
    elif len(random_prefix) != _RANDOM_SIZE:
        raise ValueError("random_prefix must be exactly 16 bytes.")
    size = _HEADER_SIZE + len(xml) + len(app_id_bytes)
    pad = BLOCK_SIZE - size % BLOCK_SIZE  # A whole block when already aligned.
    plaintext = b"".join(
        (
            random_prefix,
            len(xml).to_bytes(_LENGTH_SIZE, "big"),
            xml,
            app_id_bytes,
            _PADDING[pad],
        )
    )
    encryptor = _cipher(key).encryptor()
    ciphertext = encryptor.update(plaintext) + encryptor.finalize()
    return base64.b64encode(ciphertext).decode("ascii")


def _decode_ciphertext(encrypt: str) -> bytes:
    try:
        # strict_mode refuses whitespace, leading and excess padding, which b64decode lets
        # through; it still takes one "=" too many after a whole quantum, hence the length test.
        ciphertext = binascii.a2b_base64(encrypt, strict_mode=True)
        if len(encrypt) % 4:
            raise binascii.Error("base64 length is not a multiple of 4")
    except (binascii.Error, ValueError, TypeError):
        # ValueError: non-ASCII str; TypeError: not str/bytes at all.
        raise InvalidBase64() from None
    # The smallest valid plaintext (header + 1-byte AppID + padding) is one 32-byte block.
    if len(ciphertext) < BLOCK_SIZE or len(ciphertext) % 16:
        raise InvalidLength("The ciphertext length must be a non-zero multiple of 16 bytes.")
    return ciphertext


def _decrypt_ciphertext(ciphertext: bytes, key: bytes, app_id_bytes: bytes) -> bytes:
    decryptor = _cipher(key).decryptor()
    plaintext = decryptor.update(ciphertext) + decryptor.finalize()
    pad = plaintext[-1]
    if not 1 <= pad <= BLOCK_SIZE or not plaintext.endswith(_PADDING[pad]):
        raise InvalidPadding()
    end = len(plaintext) - pad
    if end < _HEADER_SIZE:
        raise InvalidLength("The decrypted message is shorter than its header.")
    xml_end = _HEADER_SIZE + int.from_bytes(plaintext[_RANDOM_SIZE:_HEADER_SIZE], "big")
    if xml_end > end:
        raise InvalidLength("The length field points past the end of the message.")
    if not hmac.compare_digest(plaintext[xml_end:end], app_id_bytes):
        raise AppIdMismatch()
    return plaintext[_HEADER_SIZE:xml_end]


def decrypt_with_keys(*, encrypt: str, keys: Sequence[bytes], app_id: str) -> tuple[bytes, bytes]:
    """Return ``(xml, key)`` for the first of ``keys`` that decrypts ``encrypt``.

    Pass the current key first and the previous one second. When no key works, raise the
    error of the first key: that is the one an operator expects to be in use.
    """
    if not keys:
        raise NotConfigured("No EncodingAESKey is configured for encrypted messages.")
    for key in keys:
        _check_key(key)
    app_id_bytes = _check_app_id(app_id)
    # Base64 and length do not depend on the key: check them once, not once per key.
    ciphertext = _decode_ciphertext(encrypt)
    errors: list[DecryptError] = []
    for key in keys:
        try:
            return _decrypt_ciphertext(ciphertext, key, app_id_bytes), key
        except DecryptError as error:
            errors.append(error)
    raise errors[0]
