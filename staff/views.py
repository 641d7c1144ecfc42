"""Staff pages in the admin: two-factor enrolment, the "2FA required" refusal, the lockout page.

Each renders inside the admin's layout (the site's each_context), in the operator's language.
"""

import django_otp
from django.conf import settings
from django.contrib import admin
from django.template.response import TemplateResponse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from staff import two_factor
from staff.forms import ConfirmDeviceForm


def _context(site, request, **extra):
    return {**site.each_context(request), **extra}


def _show_backup_codes(request, site, title):
    codes = two_factor.replace_backup_codes(request.user)
    return TemplateResponse(
        request, "staff/backup_codes.html", _context(site, request, title=title, codes=codes)
    )


@never_cache
@sensitive_post_parameters("token")
def two_factor_view(request, site):
    """Show the user's devices; enrol an authenticator app by QR code and one code."""
    user = request.user
    confirmed = list(TOTPDevice.objects.devices_for_user(user, confirmed=True))
    backup = StaticDevice.objects.devices_for_user(user, confirmed=True).first()
    if request.method == "POST" and "new_backup_codes" in request.POST and confirmed:
        return _show_backup_codes(request, site, _("New backup codes"))
    pending = two_factor.pending_totp_device(user)
    form = ConfirmDeviceForm(request.POST if request.method == "POST" else None)
    if form.is_bound and form.is_valid():
        if two_factor.confirm_totp_device(pending, form.cleaned_data["token"]):
            # This session gave a valid code: it keeps the admin now that the user has a device.
            pending.refresh_from_db()
            django_otp.login(request, pending)
            return _show_backup_codes(request, site, _("Two-factor authentication is on"))
        form.add_error(
            "token", _("That is not the current code. Check that the phone's clock is right.")
        )
    enrolment = two_factor.Enrolment.of(pending)
    return TemplateResponse(
        request,
        "staff/two_factor.html",
        _context(
            site,
            request,
            title=_("Two-factor authentication"),
            devices=confirmed,
            backup_left=backup.token_set.count() if backup else None,
            enrolment=enrolment,
            form=form,
            required=two_factor.is_required(user),
        ),
    )


@never_cache
def two_factor_required_view(request, site):
    """Tell a user who must have a device, and has none, how to get one (403)."""
    return TemplateResponse(
        request,
        "staff/two_factor_required.html",
        _context(
            site,
            request,
            title=_("Two-factor authentication required"),
            username=request.user.get_username(),
            policy=settings.ADMIN_REQUIRE_2FA,
        ),
        status=403,
    )


def lockout_response(request, original_response=None, credentials=None):
    """The page axes shows once a login is locked out (AXES_LOCKOUT_CALLABLE), status 429."""
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    response = TemplateResponse(
        request,
        "staff/lockout.html",
        _context(
            admin.site,
            request,
            title=_("Too many failed login attempts"),
            cooloff_minutes=minutes,
            failure_limit=settings.AXES_FAILURE_LIMIT,
        ),
        status=429,
    )
    response["Retry-After"] = str(int(settings.AXES_COOLOFF_TIME.total_seconds()))
    return response.render()
