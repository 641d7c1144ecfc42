"""Staff accounts: login lockout, two-factor authentication for the admin, and their pages.

The admin site (wxsite.admin_site) asks this app whether a user may in; everything that decides
it — the lockout backend, the client address behind the proxy, the 2FA policy, device enrolment
and the `add_totp_device` command — lives here.
"""
