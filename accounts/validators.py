"""What an official account's identifiers and secrets look like, as WeChat's console issues them.

One validator per value, used by the model's fields, the admin form and `add_account` (which goes
through the same form), so a rule is written once. Error messages never repeat the value: a
refused secret must not end up in a page, a log or a terminal's scrollback. The EncodingAESKey's
shape is the protocol's (``AES_KEY_PATTERN``), not repeated here.
"""

import re

from django.core.validators import RegexValidator
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from replies.protocol.vocabulary import AES_KEY_LENGTH, AES_KEY_PATTERN

__all__ = [
    "APP_ID_PATTERN",
    "APP_SECRET_PATTERN",
    "ORIGINAL_ID_PATTERN",
    "SLUG_PATTERN",
    "TOKEN_PATTERN",
    "validate_aes_key",
    "validate_app_id",
    "validate_app_secret",
    "validate_original_id",
    "validate_slug",
    "validate_token",
]

# The part of /wechat/<slug>/ that names the account: lower case, so a URL typed in the console
# with a capital letter cannot miss; no leading hyphen.
SLUG_PATTERN = re.compile(r"[a-z0-9][a-z0-9-]{0,39}")
# 开发者ID(AppID): "wx" and 16 hexadecimal digits.
APP_ID_PATTERN = re.compile(r"wx[0-9a-f]{16}")
# 令牌(Token): WeChat's console accepts 3 to 32 letters and digits.
TOKEN_PATTERN = re.compile(r"[A-Za-z0-9]{3,32}")
# 开发者密码(AppSecret): 32 letters and digits (hexadecimal in practice).
APP_SECRET_PATTERN = re.compile(r"[A-Za-z0-9]{32}")
# 原始ID: "gh_" and 12 hexadecimal digits; it is the ToUserName of every message to the account.
ORIGINAL_ID_PATTERN = re.compile(r"gh_[0-9a-f]{12}")


def _validator(pattern: re.Pattern, message, code: str) -> RegexValidator:
    # \Z rather than $: "$" also matches before a trailing newline.
    return RegexValidator(rf"\A(?:{pattern.pattern})\Z", message=message, code=code)


validate_slug = _validator(
    SLUG_PATTERN,
    _("Use 1 to 40 lower-case letters, digits and hyphens, starting with a letter or digit."),
    "invalid_slug",
)
validate_app_id = _validator(
    APP_ID_PATTERN, _("An AppID is wx followed by 16 hexadecimal digits."), "invalid_app_id"
)
validate_token = _validator(
    TOKEN_PATTERN, _("A Token is 3 to 32 letters and digits."), "invalid_token"
)
validate_aes_key = _validator(
    AES_KEY_PATTERN,
    format_lazy(_("An EncodingAESKey is {length} letters and digits."), length=AES_KEY_LENGTH),
    "invalid_aes_key",
)
validate_app_secret = _validator(
    APP_SECRET_PATTERN, _("An AppSecret is 32 letters and digits."), "invalid_app_secret"
)
validate_original_id = _validator(
    ORIGINAL_ID_PATTERN,
    _("An original ID is gh_ followed by 12 hexadecimal digits."),
    "invalid_original_id",
)
