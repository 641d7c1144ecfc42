"""System checks for the WECHAT_* settings and the admin's path (ids replies.W001, replies.E00x).

A missing token is a warning in development (the site still starts, the endpoint refuses every
request) and an error under `check --deploy`; a malformed key is always an error, because the
endpoint could not decrypt a single message with it. An empty admin path is always an error: the
admin would answer at the site's root, where every scanner looks first.
"""

import re

from django.conf import settings
from django.core import checks

from replies.protocol import MAX_BODY_BYTES

_AES_KEY = re.compile(r"[A-Za-z0-9]{43}")

# A setting that is no use without another: (setting, the one it needs, message, hint, check id).
_NEEDS = (
    (
        "WECHAT_ENCODING_AES_KEY",
        "WECHAT_APP_ID",
        "WECHAT_ENCODING_AES_KEY is set but WECHAT_APP_ID is not.",
        "Safe mode checks the AppID inside every message: set WECHAT_APP_ID.",
        "replies.E003",
    ),
    (
        "WECHAT_ENCODING_AES_KEY_PREVIOUS",
        "WECHAT_ENCODING_AES_KEY",
        "WECHAT_ENCODING_AES_KEY_PREVIOUS is set without WECHAT_ENCODING_AES_KEY.",
        "The previous key is only for rotation; set the current key too.",
        "replies.E004",
    ),
)


@checks.register(checks.Tags.security)
def check_wechat_settings(app_configs=None, **kwargs):
    """Report malformed AES keys, an AES key without an AppID, and a missing token."""
    problems = []
    if not settings.WECHAT_TOKEN:
        problems.append(
            checks.Warning(
                "WECHAT_TOKEN is not set: /wechat/ refuses every request.",
                hint="Set WECHAT_TOKEN to the Token entered in the WeChat console.",
                id="replies.W001",
            )
        )
    for name in ("WECHAT_ENCODING_AES_KEY", "WECHAT_ENCODING_AES_KEY_PREVIOUS"):
        value = getattr(settings, name)
        if value and not _AES_KEY.fullmatch(value):
            problems.append(
                checks.Error(
                    f"{name} must be 43 letters and digits (it has {len(value)} characters).",
                    hint="Copy the EncodingAESKey from the WeChat console exactly.",
                    id="replies.E002",
                )
            )
    for name, needed, message, hint, check_id in _NEEDS:
        if getattr(settings, name) and not getattr(settings, needed):
            problems.append(checks.Error(message, hint=hint, id=check_id))
    if (
        settings.WECHAT_TIMESTAMP_WINDOW <= 0
        or not 0 < settings.WECHAT_MAX_BODY_BYTES <= MAX_BODY_BYTES
    ):
        problems.append(
            checks.Error(
                "WECHAT_TIMESTAMP_WINDOW must be positive and WECHAT_MAX_BODY_BYTES between 1 "
                f"and {MAX_BODY_BYTES}.",
                id="replies.E005",
            )
        )
    return problems


@checks.register(checks.Tags.security, deploy=True)
def check_wechat_token_for_deploy(app_configs=None, **kwargs):
    """In production a missing token is an error, not a warning."""
    if settings.WECHAT_TOKEN:
        return []
    return [
        checks.Error(
            "WECHAT_TOKEN is not set.",
            hint="Set WECHAT_TOKEN to the Token entered in the WeChat console.",
            id="replies.E001",
        )
    ]


# The paths the endpoint and the health check answer on (wxsite/urls.py): the admin must not
# share them, or it would shadow them (or they it) and lose the admin's security headers.
_RESERVED_PATHS = ("wechat", "healthz")


@checks.register(checks.Tags.security, checks.Tags.urls)
def check_admin_url(app_configs=None, **kwargs):
    """Report an empty DJANGO_ADMIN_URL and one that collides with the endpoint's path."""
    path = settings.ADMIN_URL.strip("/")
    if not path:
        return [
            checks.Error(
                "DJANGO_ADMIN_URL is empty: the admin would be the site's root page.",
                hint="Set DJANGO_ADMIN_URL to a path of its own, e.g. 'admin/' or a less "
                "guessable one such as 'staff-7f3k/'; leave it unset for 'admin/'.",
                id="replies.E006",
            )
        ]
    first = path.split("/", 1)[0]
    if first in _RESERVED_PATHS:
        return [
            checks.Error(
                f"DJANGO_ADMIN_URL {settings.ADMIN_URL!r} is inside /{first}, which the "
                "endpoint or the health check answers.",
                hint="Choose another path for the admin, e.g. 'admin/'.",
                id="replies.E007",
            )
        ]
    return []
