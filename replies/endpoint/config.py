"""The WeChat credentials and limits of this deployment, read once from settings.

The endpoint needs them on every request; decoding the AES keys each time would be waste, so the
values are built once per process and rebuilt only when a test overrides a setting.
"""

from dataclasses import dataclass
from functools import lru_cache

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

from replies.protocol import Credentials, decode_aes_key


@dataclass(frozen=True)
class EndpointLimits:
    timestamp_window: int
    max_body_bytes: int
    require_encryption: bool


@lru_cache(maxsize=1)
def get_credentials() -> Credentials:
    """Return the token, AppID and AES keys (current first, then previous) from settings.

    Raises InvalidAESKey when a configured key is malformed; the system check replies.E002
    reports the same at start-up.
    """
    keys = tuple(
        decode_aes_key(value)
        for value in (settings.WECHAT_ENCODING_AES_KEY, settings.WECHAT_ENCODING_AES_KEY_PREVIOUS)
        if value
    )
    return Credentials(token=settings.WECHAT_TOKEN, app_id=settings.WECHAT_APP_ID, aes_keys=keys)


@lru_cache(maxsize=1)
def get_limits() -> EndpointLimits:
    """Return the endpoint's timestamp window, body size limit and encryption policy."""
    return EndpointLimits(
        timestamp_window=settings.WECHAT_TIMESTAMP_WINDOW,
        max_body_bytes=settings.WECHAT_MAX_BODY_BYTES,
        require_encryption=settings.WECHAT_REQUIRE_ENCRYPTION,
    )


@receiver(setting_changed)
def _forget_cached_config(*, setting, **kwargs):
    if setting.startswith("WECHAT_"):
        get_credentials.cache_clear()
        get_limits.cache_clear()
