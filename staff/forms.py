"""The admin's login form (password, then a code when the user has a device) and enrolment."""

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.signals import user_login_failed
from django.utils.translation import gettext_lazy as _

from staff import two_factor


class AdminLoginForm(AdminAuthenticationForm):
    """Django's admin login with an authentication code for users who have a device.

    A wrong or missing code gets the same answer as a wrong password, so the form does not tell
    someone who guessed a password that it was right; the failure is reported like a wrong
    password (user_login_failed), so it counts towards the lockout too.
    """

    otp_token = forms.CharField(
        label=_("Authentication code"),
        required=False,
        max_length=32,
        strip=True,
        help_text=_(
            "The 6-digit code from your authenticator app, or one of your backup codes. "
            "Leave it empty if you have not set up two-factor authentication."
        ),
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "autocapitalize": "none", "spellcheck": "false"}
        ),
    )

    error_messages = {
        **AdminAuthenticationForm.error_messages,
        "invalid_second_factor": _(
            "Please enter the correct %(username)s, password and authentication code. "
            "Note that the fields may be case-sensitive."
        ),
    }

    def clean(self):
        cleaned_data = super().clean()
        user = self.get_user()
        if user is not None and two_factor.has_device(user):
            device = two_factor.verify_token(user, cleaned_data.get("otp_token") or "")
            if device is None:
                user_login_failed.send(
                    sender=__name__,
                    credentials={"username": cleaned_data.get("username")},
                    request=self.request,
                )
                raise forms.ValidationError(
                    self.error_messages["invalid_second_factor"],
                    code="invalid_second_factor",
                    params={"username": self.username_field.verbose_name},
                )
            # django_otp's user_logged_in receiver stores it in the session: verified.
            user.otp_device = device
        return cleaned_data


class ConfirmDeviceForm(forms.Form):
    """The first code from a newly scanned authenticator, proving the scan worked."""

    token = forms.RegexField(
        label=_("Code from the app"),
        regex=r"^\s*\d{3}\s?\d{3}\s*$",
        error_messages={"invalid": _("Enter the 6-digit code the app shows.")},
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "size": 8}
        ),
    )
