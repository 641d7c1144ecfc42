"""Encrypt the accounts' secrets at rest: the one module that holds the keys and calls Fernet.

A database backup, a replica or a read-only SQL console must not hand out what lets someone sign
messages as an official account (its Token), read them (its EncodingAESKeys) or call WeChat's API
in its name (its AppSecret). Each secret is stored as a Fernet token (AES-128-CBC and an
HMAC-SHA256, from `cryptography`) made with a key that lives only in the environment:
WECHAT_SECRETS_KEYS, comma-separated Fernet keys. The first key encrypts; every key decrypts
(MultiFernet), so a key rotates in three steps: put a new key first and restart,
`manage.py rotate_secrets_key` (re-encrypts every stored secret with it), then drop the old key.

The key is only needed once a secret is stored: a deployment serving the one account configured
in the environment (WECHAT_TOKEN …) stores none and needs no key. accounts.checks reports a
missing or malformed key (accounts.E001, E002) and secrets no key decrypts (E003).
"""

from __future__ import annotations

from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.dispatch import receiver

__all__ = [
    "SecretUnreadable",
    "SecretsKeyMissing",
    "configured_keys",
    "decrypt_secret",
    "encrypt_secret",
    "generate_key",
    "keys_problem",
    "needs_rotation",
    "rotate_secret",
]

SETTING = "WECHAT_SECRETS_KEYS"


class SecretsKeyMissing(ImproperlyConfigured):
    """WECHAT_SECRETS_KEYS is empty, or one of its keys is not a Fernet key."""

    code = "secrets_key_missing"


class SecretUnreadable(Exception):
    """A stored secret that none of WECHAT_SECRETS_KEYS decrypts: the key that encrypted it was
    removed (before `rotate_secrets_key` ran), or the column was edited by hand."""

    code = "secret_unreadable"


def configured_keys() -> tuple[str, ...]:
    """Return the keys of WECHAT_SECRETS_KEYS, first (the one that encrypts) first."""
    value = getattr(settings, SETTING, ())
    if isinstance(value, str):  # a test or a settings override may give the raw string
        value = value.split(",")
    return tuple(key.strip() for key in value if key and key.strip())


def keys_problem() -> str | None:
    """Return what is wrong with WECHAT_SECRETS_KEYS (never a key itself), or None."""
    keys = configured_keys()
    if not keys:
        return f"{SETTING} is not set."
    for position, key in enumerate(keys, start=1):
        try:
            Fernet(key)
        except (ValueError, TypeError):
            return (
                f"Key {position} of {SETTING} is not a Fernet key "
                "(32 bytes in URL-safe base64: 44 characters ending in '=')."
            )
    return None


@lru_cache(maxsize=1)
def _fernet() -> MultiFernet:
    problem = keys_problem()
    if problem:
        raise SecretsKeyMissing(problem)
    return MultiFernet([Fernet(key) for key in configured_keys()])


@lru_cache(maxsize=1)
def _first_fernet() -> Fernet:
    _fernet()  # the same error when the keys are unusable
    return Fernet(configured_keys()[0])


def encrypt_secret(value: str) -> str:
    """Return `value` encrypted with the first key, as text for a database column.

    Raises SecretsKeyMissing when WECHAT_SECRETS_KEYS cannot be used.
    """
    return _fernet().encrypt(value.encode("utf-8")).decode("ascii")


def decrypt_secret(stored: str) -> str:
    """Return the secret that `encrypt_secret` turned into `stored`, with whichever key made it.

    Raises SecretsKeyMissing (no usable key) or SecretUnreadable (no key decrypts it).
    """
    try:
        return _fernet().decrypt(stored.encode("ascii")).decode("utf-8")
    except (InvalidToken, UnicodeError) as error:
        raise SecretUnreadable("No key of WECHAT_SECRETS_KEYS decrypts this secret.") from error


def rotate_secret(stored: str) -> str:
    """Return `stored` re-encrypted with the first key (whichever key encrypted it).

    Raises SecretsKeyMissing or SecretUnreadable like decrypt_secret.
    """
    try:
        return _fernet().rotate(stored.encode("ascii")).decode("ascii")
    except (InvalidToken, UnicodeError) as error:
        raise SecretUnreadable("No key of WECHAT_SECRETS_KEYS decrypts this secret.") from error


def needs_rotation(stored: str) -> bool:
    """Return whether `stored` was encrypted with a key other than the first one."""
    try:
        _first_fernet().decrypt(stored.encode("ascii"))
    except (InvalidToken, UnicodeError):
        return True
    return False


def generate_key() -> str:
    """Return a new random Fernet key, as WECHAT_SECRETS_KEYS takes it."""
    return Fernet.generate_key().decode("ascii")


@receiver(setting_changed)
def _forget_keys(*, setting, **kwargs):
    if setting == SETTING:
        _fernet.cache_clear()
        _first_fernet.cache_clear()
