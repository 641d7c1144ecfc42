"""System checks for the WeChat API settings (ids console.E001, console.W001).

A timeout that is not positive would make every call fail at once (an error). A WECHAT_API_BASE
that is not https:// is right for the fake API on a laptop and wrong anywhere else — the
AppSecret would travel in the clear — so it is a warning under ``check --deploy`` only.
"""

from django.conf import settings
from django.core import checks


@checks.register()
def check_api_timeout(app_configs=None, **kwargs):
    """Report a WECHAT_API_TIMEOUT that is zero or negative."""
    if settings.WECHAT_API_TIMEOUT > 0:
        return []
    return [
        checks.Error(
            f"WECHAT_API_TIMEOUT must be more than 0 seconds, not {settings.WECHAT_API_TIMEOUT}.",
            hint="Leave it unset for 5 seconds.",
            id="console.E001",
        )
    ]


@checks.register(checks.Tags.security, deploy=True)
def check_api_base(app_configs=None, **kwargs):
    """Report a WECHAT_API_BASE that is not https:// (the AppSecret would travel in clear)."""
    if settings.WECHAT_API_BASE.startswith("https://"):
        return []
    return [
        checks.Warning(
            f"WECHAT_API_BASE is {settings.WECHAT_API_BASE!r}, not an https:// address: the "
            "AppSecret and access tokens would travel unencrypted.",
            hint="Unset it in production (https://api.weixin.qq.com); http:// is for the fake API.",
            id="console.W001",
        )
    ]
