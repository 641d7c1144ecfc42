"""Which official accounts an insight page counts: the `account` parameter, checked against what
the user may see.

A staff user picks one of `accounts_for(user)` (the first one when the URL names none); a
superuser, when there are several accounts, may also pick "all", every account together (their
default). An account the user may not see, or a value that names no account, is a 404: the page
never says whether another account exists, and never shows its numbers.
"""

from dataclasses import dataclass
from urllib.parse import urlencode

from django.http import Http404
from django.utils.translation import gettext

from accounts.access import accounts_for
from replies.admin.scoping import ACCOUNT_PARAMETER

ALL = "all"


@dataclass(frozen=True)
class AccountChoice:
    value: str  # as in the URL: an account's id, or "all"
    accounts: list[int] | None  # the ids to count; None: every account
    options: list[tuple[str, str]]  # (value, label) the user may pick, in order

    @property
    def shown(self) -> bool:
        """Return whether to offer the choice: only to users who see more than one account."""
        return len(self.options) > 1

    @property
    def query(self) -> str:
        """Return the choice as a query string ("" when there is nothing to choose)."""
        return urlencode({ACCOUNT_PARAMETER: self.value}) if self.shown else ""

    @property
    def rule_account_id(self) -> int | None:
        """Return the account a rule made from this page belongs to (None: every account)."""
        return None if self.accounts is None else self.accounts[0]

    def label(self) -> str:
        return dict(self.options).get(self.value, "")


def choose_accounts(user, value: str | None) -> AccountChoice:
    """Return the accounts the page counts for `user`, given the `account` parameter.

    Raises Http404 when `value` names an account the user may not see, or nothing at all.
    """
    visible = [(str(pk), name) for pk, name in accounts_for(user).values_list("pk", "name")]
    # "All" only where there is more than one: with one account it is that account.
    every = user.is_superuser and len(visible) > 1
    options = ([(ALL, gettext("all accounts"))] if every else []) + visible
    if not value:
        if not options:  # staff who see no account: nothing to count
            return AccountChoice(value="", accounts=[], options=[])
        value = options[0][0]
    if value not in dict(options):
        raise Http404(gettext("No such official account."))
    accounts = None if value == ALL else [int(value)]
    return AccountChoice(value=value, accounts=accounts, options=options)
