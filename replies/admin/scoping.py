"""Which official accounts' data an admin page shows: only the accounts the staff user may see.

One home for issue 16's rule "staff see only their accounts" in the admin. `account_scope()`
reads `accounts.access.accounts_for(request.user)` once per request; `AccountScopedAdmin` is the
ModelAdmin mixin every admin of account data uses (messages, outbox, rules, security events,
spool conflicts), and the custom views (conversation, reply form, rule tester) filter through
the same scope. What it does:

- the admin's queryset holds only rows of the user's accounts, so the list, the CSV export,
  actions, and every object URL (change, history, delete) go through it; an object outside it
  is a 404, the same answer as an id that never existed (not 403: that would say it exists);
- rows with no account are either shared (a rule for every account: every staff user sees it,
  only a user who sees every account may change it) or unknown (a security event for a URL
  that named no account we have: only a user who sees every account sees it);
- the "official account" column and filter appear only for a user who sees more than one
  account, and the filter offers only those accounts (any other value is Django's "wacky
  parameters", never a result).

A superuser sees every account and the rows with none; the queryset is then left unfiltered,
so the single-account deployment's pages cost what they did.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.db.models import Q, QuerySet
from django.http import Http404
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from accounts.access import accounts_for
from accounts.models import Account

__all__ = [
    "SHARED",
    "UNKNOWN",
    "AccountFilter",
    "AccountScope",
    "AccountScopedAdmin",
    "account_scope",
]

# What a row with no account is (AccountScopedAdmin.unowned_rows).
SHARED = "shared"  # it applies to every account (a rule answering on every account)
UNKNOWN = "unknown"  # its account is not known (a URL naming no account we have)

ACCOUNT = _("official account")
EVERY_ACCOUNT = _("every account")
NO_ACCOUNT = _("no account")
# A page about one account says which in its URL: ?account=<id> (the menu editor, the rule form
# started from it, the insight pages, which also take "all").
ACCOUNT_PARAMETER = "account"


@dataclass(frozen=True)
class AccountScope:
    """The accounts one request's user may see, read once: ids and names, in the accounts' order.

    `every` is True for a user who sees every account (an active superuser), who also sees rows
    with no account.
    """

    every: bool
    accounts: tuple[tuple[int, str], ...]

    @property
    def ids(self) -> list[int]:
        return [pk for pk, _name in self.accounts]

    @property
    def several(self) -> bool:
        """Whether the user sees more than one account (pages then show which row is whose)."""
        return len(self.accounts) > 1

    def includes(self, account_id: int | None, *, shared: bool = False) -> bool:
        """Return whether a row of account `account_id` is visible (`shared`: a row with no
        account applies to every account and so is visible to everyone)."""
        if self.every:
            return True
        if account_id is None:
            return shared
        return account_id in self.ids

    def named(self, value: str | None) -> int | None:
        """Return the id a page's ``?account=`` value names when the user sees that account,
        else None (no value, not an id, or an account the user may not see)."""
        if not (value and len(value) <= 18 and value.isascii() and value.isdigit()):
            return None  # 18 digits: any id, and never int() of a 5,000-digit string
        return int(value) if self.includes(int(value)) else None

    def account_choices(self) -> QuerySet[Account]:
        """Return the visible accounts as a queryset, in the accounts' order (a form's choices)."""
        if self.every:
            return Account.objects.all()
        return Account.objects.filter(pk__in=self.ids)

    def filter(self, queryset: QuerySet, *, field: str = "account", shared: bool = False):
        """Return `queryset` narrowed to the rows of the visible accounts (`field` names the
        foreign key; `shared`: rows with no account are kept, they apply to every account)."""
        if self.every:
            return queryset
        visible = Q(**{f"{field}__in": self.ids})
        if shared:
            visible |= Q(**{f"{field}__isnull": True})
        return queryset.filter(visible)


def account_scope(request) -> AccountScope:
    """Return the scope of `request`'s user, read from the database once per request."""
    scope = getattr(request, "_account_scope", None)
    if scope is None:
        user = request.user
        scope = AccountScope(
            every=bool(user.is_active and user.is_superuser),
            accounts=tuple(accounts_for(user).values_list("pk", "name")),
        )
        request._account_scope = scope
    return scope


class AccountFilter(admin.SimpleListFilter):
    """The list's "official account" filter: the user's accounts only (and, for shared rows,
    "every account"; for a superuser, "no account" where a row's account is unknown)."""

    title = ACCOUNT
    parameter_name = ACCOUNT_PARAMETER
    EVERY = "every"
    NONE = "none"

    def __init__(self, request, params, model, model_admin):
        self.model_admin = model_admin
        super().__init__(request, params, model, model_admin)

    def lookups(self, request, model_admin):
        scope = account_scope(request)
        choices = [(str(pk), name) for pk, name in scope.accounts]
        unowned = getattr(model_admin, "unowned_rows", None)
        if unowned == SHARED:
            choices.append((self.EVERY, EVERY_ACCOUNT))
        elif unowned == UNKNOWN and scope.every:
            choices.append((self.NONE, NO_ACCOUNT))
        return choices

    def queryset(self, request, queryset):
        value = self.value()
        if value is None:
            return queryset
        if value not in {choice for choice, _label in self.lookup_choices}:
            # Another account's id, or no id: not a filter this user is offered.
            raise IncorrectLookupParameters(f"No account {value!r} to filter by.")
        field = self.model_admin.account_field
        if value in (self.EVERY, self.NONE):
            return queryset.filter(**{f"{field}__isnull": True})
        return queryset.filter(**{f"{field}_id": int(value)})


class AccountScopedAdmin:
    """A ModelAdmin mixin: the rows of the user's accounts only, the account column and filter
    for users who see several, and a 404 for any object outside them.

    `account_field` names the foreign key to Account; `unowned_rows` says what a row with no
    account is (None: there is none; SHARED; UNKNOWN); `account_column_at` is where the column
    goes in list_display (after the first, which links to the row).
    """

    account_field = "account"
    unowned_rows: str | None = None
    account_column_at = 1

    def get_queryset(self, request):
        return account_scope(request).filter(
            super().get_queryset(request),
            field=self.account_field,
            shared=self.unowned_rows == SHARED,
        )

    def may_see_every_account(self, request) -> bool:
        return account_scope(request).every

    def get_list_display(self, request):
        columns = list(super().get_list_display(request))
        if account_scope(request).several:
            columns.insert(self.account_column_at, "account_column")
        return columns

    def get_list_filter(self, request):
        filters = list(super().get_list_filter(request))
        if account_scope(request).several:
            filters.insert(0, AccountFilter)
        return filters

    def get_list_select_related(self, request):
        related = super().get_list_select_related(request)
        if not account_scope(request).several or related is True:
            return related
        return [*(related or ()), self.account_field]

    @admin.display(description=ACCOUNT, ordering="account__name")
    def account_column(self, obj):
        account = getattr(obj, self.account_field)
        if account is not None:
            return account.name
        return gettext("every account") if self.unowned_rows == SHARED else "—"

    def _get_obj_does_not_exist_redirect(self, request, opts, object_id):
        # Django's admin redirects to the index saying the object does not exist; an object of
        # another account must look exactly like one that never existed, and a 404 says so to
        # whatever follows the URL (change, history and delete all come here).
        raise Http404(gettext("No such object."))
