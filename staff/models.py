"""Two-factor devices as the admin shows them: django-otp's models under translated names.

django-otp's own models and admin have English names and labels that no catalogue can translate;
these proxies (no tables of their own) carry the names the admin shows, and staff/admin.py
registers them in place of django-otp's admin.
"""

from django.utils.translation import gettext_lazy as _
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice


class AuthenticatorApp(TOTPDevice):
    class Meta:
        proxy = True
        verbose_name = _("authenticator app")
        verbose_name_plural = _("authenticator apps")


class BackupCodes(StaticDevice):
    class Meta:
        proxy = True
        verbose_name = _("backup codes")
        verbose_name_plural = _("backup codes")
