"""The lockout check in front of Django's password backend.

axes refuses an authentication attempt it cannot attribute to a client (no request). The admin's
login form always passes the request, so every login over HTTP is counted and can be locked out;
a call without one comes from our own code — `Client.login()` in tests, a shell — where there is
no client to lock out, and is left to the next backend instead of raising.
"""

from axes.backends import AxesStandaloneBackend


class LockoutBackend(AxesStandaloneBackend):
    """Refuse a locked-out client before its password is checked (django-axes)."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)
