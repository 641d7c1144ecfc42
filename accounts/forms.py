"""The one validation of an official account: the admin's form, and `add_account`'s through it.

Secrets are write-only. A saved secret is never put back into the page: its input stays empty,
says "saved", and an empty input keeps the stored value; typing a value replaces it. Replacing the
EncodingAESKey keeps the replaced key as the previous one by default, because WeChat goes on
sending with the old key for a while after a change in its console.

The environment account (its secrets are the WECHAT_* settings) has a form of its own with only
what is stored for it: its name, original ID and members.
"""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from accounts.models import SECRET_NAMES, Account
from accounts.secrets import SecretsKeyMissing, SecretUnreadable, decrypt_secret, keys_problem
from accounts.validators import (
    validate_aes_key,
    validate_app_secret,
    validate_token,
)

__all__ = ["AccountForm", "EnvironmentAccountForm", "SECRET_LABELS"]

SECRET_LABELS = {
    "token": "Token",
    "aes_key": "EncodingAESKey",
    "previous_aes_key": _("previous EncodingAESKey"),
    "app_secret": "AppSecret",
}
_SECRET_VALIDATORS = {
    "token": validate_token,
    "aes_key": validate_aes_key,
    "previous_aes_key": validate_aes_key,
    "app_secret": validate_app_secret,
}
# What a new account cannot do without; the others are optional.
_REQUIRED_SECRETS = ("token", "aes_key")
# Optional secrets a form can remove, and the checkbox that does it.
_CLEARABLE = {"previous_aes_key": "clear_previous_aes_key", "app_secret": "clear_app_secret"}

_SECRET_HELP = {
    "token": _("令牌(Token) as entered in the console: 3 to 32 letters and digits."),
    "aes_key": _("消息加解密密钥(EncodingAESKey) from the console: 43 letters and digits."),
    "previous_aes_key": _(
        "The key before the last change in the console, which WeChat may still use for a while. "
        "Usually empty."
    ),
    "app_secret": _(
        "开发者密码(AppSecret), only for the menu and other calls to WeChat's API. Optional."
    ),
}
_SAVED_HELP = _(
    "Saved ••••, never shown again. Leave empty to keep it; type a new value to replace it."
)


class _SecretInput(forms.PasswordInput):
    """A password input that never renders a value and that browsers do not fill in with the
    staff member's own login password."""

    def __init__(self):
        super().__init__(render_value=False, attrs={"autocomplete": "new-password"})


def _staff_users():
    return get_user_model().objects.filter(is_staff=True).order_by("username")


class _MembersMixin:
    def _limit_members(self):
        self.fields["members"].queryset = _staff_users()


class AccountForm(_MembersMixin, forms.ModelForm):
    # The secrets' labels, help texts and validators are set in __init__ (SECRET_LABELS …).
    token = forms.CharField(required=False, widget=_SecretInput())
    aes_key = forms.CharField(required=False, widget=_SecretInput())
    keep_previous_aes_key = forms.BooleanField(
        label=_("keep the replaced EncodingAESKey as the previous one"),
        required=False,
        initial=True,
        help_text=_(
            "When a new EncodingAESKey replaces a saved one, messages WeChat still sends with "
            "the old key are decrypted too."
        ),
    )
    previous_aes_key = forms.CharField(required=False, widget=_SecretInput())
    clear_previous_aes_key = forms.BooleanField(
        label=_("remove the previous EncodingAESKey"), required=False
    )
    app_secret = forms.CharField(required=False, widget=_SecretInput())
    clear_app_secret = forms.BooleanField(label=_("remove the AppSecret"), required=False)

    class Meta:
        model = Account
        fields = ["name", "slug", "original_id", "app_id", "members", "all_staff"]
        widgets = {"members": forms.CheckboxSelectMultiple}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._limit_members()
        self.fields["app_id"].required = True
        for name in SECRET_NAMES:
            field = self.fields[name]
            field.label = SECRET_LABELS[name]
            saved = self.instance.has_secret(name)
            field.help_text = _SAVED_HELP if saved else _SECRET_HELP[name]
            field.validators = [_SECRET_VALIDATORS[name]]
            if saved:
                field.widget.attrs["placeholder"] = _("Saved ••••")
            elif name in _REQUIRED_SECRETS:
                field.required = True

    def clean_app_id(self):
        app_id = self.cleaned_data["app_id"]
        if app_id and app_id == settings.WECHAT_APP_ID:
            raise ValidationError(
                _(
                    "This is the AppID of the account configured in the environment "
                    "(WECHAT_APP_ID), which already answers at /wechat/."
                ),
                code="environment_app_id",
            )
        return app_id

    def clean(self):
        cleaned = super().clean()
        self.new_secrets = self._new_secrets(cleaned)
        if self.new_secrets and any(self.new_secrets.values()) and keys_problem():
            raise ValidationError(
                _(
                    "Secrets cannot be saved: WECHAT_SECRETS_KEYS, the key that encrypts them, is "
                    "not set or not a valid key. See README, “Several official accounts”."
                ),
                code="secrets_key_missing",
            )
        if {"aes_key", "previous_aes_key"} & self.new_secrets.keys():
            current, previous = (
                self.new_secrets[name] if name in self.new_secrets else self._stored(name)
                for name in ("aes_key", "previous_aes_key")
            )
            if current and current == previous:
                self.add_error(
                    "previous_aes_key",
                    ValidationError(
                        _("The previous EncodingAESKey must differ from the current one."),
                        code="same_aes_key",
                    ),
                )
        return cleaned

    def _new_secrets(self, cleaned) -> dict[str, str]:
        """Return the secrets this submission changes: name -> new value ("" removes it)."""
        changes = {}
        for name in SECRET_NAMES:
            value = cleaned.get(name) or ""
            if value:
                changes[name] = value
            elif cleaned.get(_CLEARABLE.get(name, "")):
                changes[name] = ""
        replacing_key = (
            changes.get("aes_key")
            and self.instance.pk
            and self.instance.has_secret("aes_key")
            and "previous_aes_key" not in changes
            and cleaned.get("keep_previous_aes_key")
        )
        if replacing_key:
            old = self._stored("aes_key")
            if old and old != changes["aes_key"]:
                changes["previous_aes_key"] = old
        return changes

    def _stored(self, name: str) -> str:
        """Return the saved value of the secret `name` ("" when it cannot be read)."""
        stored = self.instance.stored_secrets()[name]
        if not stored or not self.instance.pk:
            return ""
        try:
            return decrypt_secret(stored)
        except (SecretUnreadable, SecretsKeyMissing):
            return ""

    def save(self, commit=True):
        for name, value in getattr(self, "new_secrets", {}).items():
            self.instance.set_secret(name, value)
        return super().save(commit=commit)


class EnvironmentAccountForm(_MembersMixin, forms.ModelForm):
    """The environment account: its secrets are settings, so only what is stored is edited."""

    class Meta:
        model = Account
        fields = ["name", "original_id", "members", "all_staff"]
        widgets = {"members": forms.CheckboxSelectMultiple}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._limit_members()
