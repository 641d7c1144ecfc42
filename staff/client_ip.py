"""The client's address behind our own reverse proxies, for the login lockout.

Anyone can send an X-Forwarded-For header, so its left-most entries prove nothing. Each proxy of
ours appends the address it received the request from, so with N proxies in front of Django
(settings.TRUSTED_PROXY_COUNT, env DJANGO_TRUSTED_PROXY_COUNT) the client is the N-th entry from
the right; whatever stands left of it came from the client and is ignored. With N = 0 (the
default, no proxy) the header is ignored and REMOTE_ADDR is the client.

This replaces django-ipware's resolution (axes' AXES_CLIENT_IP_CALLABLE): ipware's strict chain
check returns no address at all for an ordinary one-proxy request, and a lockout keyed on "no
address" would put every client in one bucket.
"""

import ipaddress

from django.conf import settings
from django.http import HttpRequest


def _valid(address: str) -> str | None:
    try:
        return str(ipaddress.ip_address(address.strip()))
    except ValueError:
        return None


def get_client_ip(request: HttpRequest) -> str | None:
    """Return the client's IP address as our trusted proxies saw it."""
    remote = request.META.get("REMOTE_ADDR", "")
    count = settings.TRUSTED_PROXY_COUNT
    if count > 0:
        forwarded = [
            entry.strip()
            for entry in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
            if entry.strip()
        ]
        # Fewer entries than proxies: the request did not come through all of them (a health
        # check on the host itself, a misconfiguration); the peer is all we can trust.
        if len(forwarded) >= count:
            address = _valid(forwarded[-count])
            if address:
                return address
    return _valid(remote) or remote or None
