"""Two-factor authentication for the admin: the policy, token checks, devices and QR codes.

A staff user with a confirmed device (a TOTP authenticator app, or backup codes) always needs a
code at login, whatever the policy. settings.ADMIN_REQUIRE_2FA (env DJANGO_ADMIN_REQUIRE_2FA)
decides who must have one: "off" (nobody), "superusers" or "staff" (every staff user). A user who
must have a device and has none is refused the admin and told how to get one; the device is then
made by someone with shell access (`manage.py add_totp_device NAME`), never from a session that
only knew the password — otherwise the password alone would be enough after all.

Devices are django-otp's (otp_totp, otp_static); the session remembers the verifying device
(django_otp.middleware.OTPMiddleware), so `user.is_verified()` tells a session that gave a code.
"""

import io
from base64 import b32encode
from dataclasses import dataclass

import qrcode
import qrcode.image.svg
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Exists, OuterRef
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

TOTP_DEVICE_NAME = "authenticator"
BACKUP_DEVICE_NAME = "backup codes"
BACKUP_CODE_COUNT = 10


def is_required(user) -> bool:
    """Return whether the policy requires `user` to have a device."""
    policy = settings.ADMIN_REQUIRE_2FA
    if policy == "staff":
        return bool(user.is_staff)
    if policy == "superusers":
        return bool(user.is_superuser)
    return False


def has_device(user) -> bool:
    """Return whether `user` has a confirmed device, with one query, remembered on the user."""
    if not getattr(user, "pk", None):
        return False
    cached = getattr(user, "_staff_has_device", None)
    if cached is None:
        confirmed = {"user": OuterRef("pk"), "confirmed": True}
        cached = (
            get_user_model()
            .objects.filter(pk=user.pk)
            .filter(
                Exists(TOTPDevice.objects.filter(**confirmed))
                | Exists(StaticDevice.objects.filter(**confirmed))
            )
            .exists()
        )
        user._staff_has_device = cached
    return cached


def forget_device_state(user) -> None:
    """Drop the remembered answer of has_device (after a device was added or removed)."""
    try:
        del user._staff_has_device
    except AttributeError:
        pass


def is_verified(user) -> bool:
    """Return whether this session of `user` gave a valid code (OTPMiddleware sets it)."""
    check = getattr(user, "is_verified", None)
    return bool(check and check())


def must_enroll(user) -> bool:
    """Return whether `user` is refused the admin for want of a device."""
    return is_required(user) and not has_device(user)


def may_use_admin(user) -> bool:
    """Return whether the second factor lets `user` (already a staff user) into the admin."""
    if is_verified(user):
        return True
    if has_device(user):
        return False  # log in again, with a code
    return not is_required(user)


def verify_token(user, token: str):
    """Return the device of `user` that accepts `token` (and consumes it), or None.

    Six digits are checked against the authenticator apps, anything else against the backup
    codes: a code is never tried on a device it cannot belong to, so a typo does not throttle
    the backup codes (django-otp slows each device down after every failure).
    """
    token = "".join(token.split()).replace("-", "").lower()
    if not token:
        return None
    model = TOTPDevice if token.isdigit() and len(token) == 6 else StaticDevice
    with transaction.atomic():
        devices = model.objects.devices_for_user(user, confirmed=True).select_for_update()
        for device in devices:
            if device.verify_token(token):
                return device
    return None


def create_totp_device(user, *, confirmed: bool, name: str = TOTP_DEVICE_NAME) -> TOTPDevice:
    """Create a TOTP device with a fresh random key for `user`."""
    device = TOTPDevice.objects.create(user=user, name=name, confirmed=confirmed)
    forget_device_state(user)
    return device


def pending_totp_device(user) -> TOTPDevice:
    """Return the unconfirmed TOTP device being enrolled for `user`, creating it if needed.

    The same key is shown until it is confirmed, so reloading the page keeps the QR code that
    the phone may already have scanned.
    """
    device = TOTPDevice.objects.devices_for_user(user, confirmed=False).order_by("pk").first()
    return device or create_totp_device(user, confirmed=False)


def confirm_totp_device(device: TOTPDevice, token: str) -> bool:
    """Confirm an enrolling device when `token` is its current code."""
    with transaction.atomic():
        device = TOTPDevice.objects.select_for_update().get(pk=device.pk)
        if not device.verify_token("".join(token.split())):
            return False
        device.confirmed = True
        device.save(update_fields=["confirmed"])
    return True


def replace_backup_codes(user, count: int = BACKUP_CODE_COUNT) -> list[str]:
    """Give `user` a fresh set of single-use backup codes (the old ones stop working)."""
    with transaction.atomic():
        device, _ = StaticDevice.objects.get_or_create(
            user=user, name=BACKUP_DEVICE_NAME, defaults={"confirmed": True}
        )
        device.token_set.all().delete()
        codes = [StaticToken.random_token() for _ in range(count)]
        StaticToken.objects.bulk_create(StaticToken(device=device, token=code) for code in codes)
    forget_device_state(user)
    return [f"{code[:4]}-{code[4:]}" for code in codes]


@dataclass(frozen=True)
class Enrolment:
    """What a user needs to add a TOTP device to an authenticator app."""

    url: str
    secret: str

    @classmethod
    def of(cls, device: TOTPDevice) -> "Enrolment":
        secret = b32encode(device.bin_key).decode()
        grouped = " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))
        return cls(url=device.config_url, secret=grouped)

    def svg(self) -> str:
        """Return the otpauth:// URL as an inline SVG QR code (no style attributes, no script)."""
        image = qrcode.make(self.url, image_factory=qrcode.image.svg.SvgPathImage, box_size=10)
        return image.to_string(encoding="unicode")

    def terminal(self, *, dark_background: bool = True) -> str:
        """Return the otpauth:// URL as a QR code drawn with block characters."""
        code = qrcode.QRCode(border=2)
        code.add_data(self.url)
        out = io.StringIO()
        # On a dark terminal the blocks are light: draw the light modules so the code scans.
        code.print_ascii(out=out, invert=dark_background)
        return out.getvalue()
