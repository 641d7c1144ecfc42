"""Which official accounts a staff user may see: the one rule every admin page scopes by.

An active superuser sees every account; an active staff user sees the accounts they are a member
of and those open to all staff (the environment account starts so: one account, no memberships
to manage); anyone else sees none. Pages that show an account's data (rules, messages, the menu,
insights) filter by `accounts_for(request.user)`, so a member of one account cannot reach
another's data through any URL.
"""

from __future__ import annotations

from django.db.models import Q, QuerySet

from accounts.models import Account

__all__ = ["accounts_for"]


def accounts_for(user) -> QuerySet[Account]:
    """Return the accounts `user` may see (every account for an active superuser)."""
    if user is None or not user.is_authenticated or not user.is_active:
        return Account.objects.none()
    if user.is_superuser:
        return Account.objects.all()
    if not user.is_staff:
        return Account.objects.none()
    return Account.objects.filter(Q(members=user) | Q(all_staff=True)).distinct()
