"""Give a staff user an authenticator app (TOTP) and backup codes, from the server's shell.

    manage.py add_totp_device NAME          # prints a QR code, the otpauth:// URL, backup codes

This is how a user whom DJANGO_ADMIN_REQUIRE_2FA refuses gets a device: someone with shell access
runs it and hands over the QR code (or the user runs it over SSH). Run it again for a lost phone:
--replace removes the user's other authenticator apps first.
"""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django_otp.plugins.otp_totp.models import TOTPDevice

from staff import two_factor


class Command(BaseCommand):
    help = "Create a TOTP device for a staff user; print its QR code, URL and backup codes."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument(
            "--name", default=two_factor.TOTP_DEVICE_NAME, help="Device name shown in the admin."
        )
        parser.add_argument(
            "--replace",
            action="store_true",
            help="Delete the user's other TOTP devices first (a lost or replaced phone).",
        )
        parser.add_argument(
            "--light-terminal",
            action="store_true",
            help="Draw the QR code for dark text on a light background.",
        )
        parser.add_argument(
            "--no-backup-codes",
            action="store_true",
            help="Keep the user's backup codes as they are.",
        )

    def handle(self, *args, username, name, replace, light_terminal, no_backup_codes, **options):
        User = get_user_model()
        try:
            user = User.objects.get_by_natural_key(username)
        except User.DoesNotExist:
            raise CommandError(f"No user named {username!r}.") from None
        if not user.is_staff:
            self.stderr.write(f"Note: {username} is not staff and cannot open the admin.")
        if replace:
            removed, _ = TOTPDevice.objects.filter(user=user).delete()
            if removed:
                self.stdout.write(f"Removed {removed} earlier TOTP device(s) of {username}.")
        device = two_factor.create_totp_device(user, confirmed=True, name=name)
        enrolment = two_factor.Enrolment.of(device)
        self.stdout.write(
            f"TOTP device {name!r} created for {username}. Scan this QR code with an "
            "authenticator app (Microsoft Authenticator, Google Authenticator, FreeOTP, 1Password):"
        )
        self.stdout.write(enrolment.terminal(dark_background=not light_terminal))
        self.stdout.write(f"or open this URL on the phone:\n  {enrolment.url}")
        self.stdout.write(f"or type this key (time-based, 6 digits, 30 s):\n  {enrolment.secret}")
        if not no_backup_codes:
            codes = two_factor.replace_backup_codes(user)
            self.stdout.write("Backup codes (each works once; earlier ones no longer work):")
            for code in codes:
                self.stdout.write(f"  {code}")
        self.stdout.write(
            "The QR code, URL and key are the secret itself: hand them over privately and clear "
            "this terminal. From now on the admin asks this user for a code at login."
        )
