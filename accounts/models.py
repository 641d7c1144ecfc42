"""The official accounts one deployment serves.

Each account answers WeChat at /wechat/<slug>/ and keeps its Token, EncodingAESKeys and AppSecret
encrypted (accounts.secrets): the columns hold Fernet tokens, never the values. One row, created by
a migration with the slug "default", stands for the account configured in the environment
(WECHAT_TOKEN, WECHAT_APP_ID …): it answers at /wechat/ as before, and stores no secret at all.
Staff see the accounts they are members of (accounts.access); superusers see every one.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from accounts.credentials import ENVIRONMENT_SETTINGS, AccountCredentials, account_credentials
from accounts.environment import ENVIRONMENT_SLUG  # noqa: F401 - re-exported
from accounts.secrets import encrypt_secret
from accounts.validators import validate_app_id, validate_original_id, validate_slug

# The secrets an account has, in the order forms and pages list them. Each is stored encrypted
# in the column "<name>_encrypted".
SECRET_NAMES = ("token", "aes_key", "previous_aes_key", "app_secret")
# The environment account keeps the path WeChat's console already points at.
ENDPOINT_PREFIX = "/wechat/"


def _encrypted_field():
    # editable=False: no ModelForm ever offers the ciphertext; forms set secrets through
    # Account.set_secret.
    return models.TextField(blank=True, default="", editable=False)


class Account(models.Model):
    name = models.CharField(
        _("name"),
        max_length=100,
        help_text=_("What staff call the account, e.g. 服务号 or 测试号."),
    )
    slug = models.CharField(
        _("URL name"),
        max_length=40,
        unique=True,
        validators=[validate_slug],
        help_text=_(
            "The last part of the server URL to enter in WeChat's console: shop-cn answers "
            "at /wechat/shop-cn/."
        ),
    )
    original_id = models.CharField(
        _("original ID"),
        max_length=15,
        blank=True,
        validators=[validate_original_id],
        help_text=_(
            "原始ID in the console (设置与开发 → 基本配置), e.g. gh_0123456789ab: the ToUserName "
            "of every message to the account."
        ),
    )
    app_id = models.CharField(
        "AppID",
        max_length=18,
        blank=True,
        validators=[validate_app_id],
        help_text=_("开发者ID(AppID) in the console, e.g. wx2c2769f8efd9abc2."),
    )
    token_encrypted = _encrypted_field()
    aes_key_encrypted = _encrypted_field()
    previous_aes_key_encrypted = _encrypted_field()
    app_secret_encrypted = _encrypted_field()
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        blank=True,
        related_name="wechat_accounts",
        limit_choices_to={"is_staff": True},
        verbose_name=_("members"),
        help_text=_(
            "Staff who work on this account and see its data; superusers see every account."
        ),
    )
    all_staff = models.BooleanField(
        _("open to all staff"),
        default=False,
        help_text=_(
            "Every staff user may see this account, member or not. The environment account "
            "starts so, so that a deployment with one account needs no memberships; clear it "
            "once each person is a member of the accounts they work on."
        ),
    )
    from_environment = models.BooleanField(
        _("from the environment"),
        default=False,
        editable=False,
        help_text=_("The account whose secrets are the WECHAT_* settings; answers at /wechat/."),
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("official account")
        verbose_name_plural = _("official accounts")
        ordering = ["-from_environment", "name", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["from_environment"],
                condition=Q(from_environment=True),
                name="accounts_one_environment_account",
            ),
            models.UniqueConstraint(
                fields=["app_id"], condition=~Q(app_id=""), name="accounts_unique_app_id"
            ),
            models.UniqueConstraint(
                fields=["original_id"],
                condition=~Q(original_id=""),
                name="accounts_unique_original_id",
            ),
            # The environment account's secrets are the settings: none may be stored for it.
            models.CheckConstraint(
                condition=Q(from_environment=False)
                | Q(
                    app_id="",
                    token_encrypted="",
                    aes_key_encrypted="",
                    previous_aes_key_encrypted="",
                    app_secret_encrypted="",
                ),
                name="accounts_environment_account_stores_no_secret",
            ),
        ]

    def __str__(self):
        return self.name

    @property
    def endpoint_path(self) -> str:
        """Return the path WeChat's console must call for this account."""
        if self.from_environment:
            return ENDPOINT_PREFIX
        return f"{ENDPOINT_PREFIX}{self.slug}/"

    def stored_secrets(self) -> dict[str, str]:
        """Return each secret's stored (encrypted) value, "" when not set."""
        return {name: getattr(self, f"{name}_encrypted") for name in SECRET_NAMES}

    def has_secret(self, name: str) -> bool:
        """Return whether the secret `name` is set (in the settings for the environment account)."""
        if self.from_environment:
            return bool(getattr(settings, ENVIRONMENT_SETTINGS[name]))
        return bool(self.stored_secrets()[name])

    def set_secret(self, name: str, value: str) -> None:
        """Encrypt and keep `value` as the secret `name` ("" removes it); saved with the row.

        Raises accounts.secrets.SecretsKeyMissing when WECHAT_SECRETS_KEYS cannot be used.
        """
        if name not in SECRET_NAMES:
            raise ValueError(f"{name!r} is not a secret of an account.")
        if self.from_environment:
            raise ValueError("The environment account's secrets are settings, never stored.")
        setattr(self, f"{name}_encrypted", encrypt_secret(value) if value else "")

    def credentials(self) -> AccountCredentials:
        """Return the account's identifiers and secrets in clear (see account_credentials)."""
        return account_credentials(self)
